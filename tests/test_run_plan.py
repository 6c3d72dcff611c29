"""A run's plan, without pytester: the tests' markers as data, the catalogue,
a profile and the framework's identity in; skip reasons, expected deviations,
planned checks, the budget's split and reproduce commands out."""

from __future__ import annotations

import pytest

from conformance import planning
from conformance.options import Values
from conformance.planning import TestMarks
from conformance.profile import Profile
from conformance.reporting import Framework
from conformance.spec import Catalogue, Clause, Source, SpecError
from conformance.strategies import STAT_EXAMPLES

SRC = (Source("001_x.txt", "1", "q"),)


def clause(cid: str, **kw: object) -> Clause:
    return Clause(cid, "t", "It MUST.", SRC, "area.md", **kw)  # type: ignore[arg-type]


CAT = Catalogue(
    "t",
    (
        clause("a.plain"),
        clause("a.needs", requires=("grad_slot",)),
        clause("a.broken"),
        clause("s.one", statistical=True),
        clause("s.two", statistical=True),
    ),
)
ZEROS = {"family": "zeros"}
PROFILE_TOML = """
[framework]
name = "demo"
distribution = "demo"
module = "json"
[facts]
weight_layout = "out_in"
default_weight = {family = "zeros"}
default_bias = {family = "zeros"}
[[deviations]]
clause = "a.broken"
versions = ">=1.0"
reason = "upstream bug"
link = "https://example.org/1"
[[deviations]]
clause = "a.gone"
versions = "*"
reason = "removed"
link = "https://example.org/2"
"""
FW = Framework("demo", "1.2", "cpu", True)


@pytest.fixture
def profile() -> Profile:
    from conformance.profile import parse_profile

    return parse_profile(PROFILE_TOML, "demo.toml")


def marks(
    name: str,
    *clauses: str,
    statistical: tuple[object, object] | None = None,
    requires: tuple[str, ...] | None = None,
) -> TestMarks:
    return TestMarks(
        f"props/test_x.py::{name}",
        name,
        "props/test_x.py",
        (clauses,),
        statistical,
        (requires,) if requires is not None else (),
    )


TESTS = [
    marks("test_plain", "a.plain"),
    marks("test_needs", "a.needs"),
    marks("test_broken", "a.broken"),
    marks("test_one", "s.one", statistical=(2, 1)),
    marks("test_two", "s.two", "a.needs", statistical=(1, 0)),
]


def plan(
    profile: Profile, fw: Framework = FW, values: Values | None = None, seed: int | str = 7
) -> planning.RunPlan:
    return planning.plan_run(
        CAT,
        profile,
        profile.facts,
        fw,
        values or Values(framework="demo"),
        TESTS,
        seed=seed,
        timestamp="2026-01-01T00:00:00Z",
    )


def test_each_test_is_planned(profile: Profile) -> None:
    p = plan(profile)
    items = {k.split("::")[1]: v for k, v in p.items.items()}
    assert items["test_plain"].skip is None and items["test_plain"].xfail is None
    assert (items["test_needs"].skip or "").startswith("a.needs: demo has no grad slot (")
    assert (
        items["test_broken"].xfail == "known deviation a.broken (>=1.0): upstream bug <https://example.org/1>"
    )
    assert items["test_two"].skip is not None  # a.needs does not apply
    assert items["test_one"].planned == 2 * (STAT_EXAMPLES + 1) and items["test_two"].planned == STAT_EXAMPLES
    assert p.stat_examples == STAT_EXAMPLES
    assert set(p.matched) == {"a.broken"}
    assert [s["clause"] for s in p.stale] == ["a.gone"]


def test_budget_is_split_over_the_statistical_tests_that_run(profile: Profile) -> None:
    p = plan(profile, values=Values(framework="demo", budget=0.001))
    assert (p.budget.total, p.budget.tests, p.budget.per_test) == (0.001, 1, 0.001)
    assert planning.split_budget(1e-6, [planning.ItemPlan(("s",), "t", "f", True)] * 4).per_test == 2.5e-7


def test_not_installed_skips_everything_and_expects_no_deviation(profile: Profile) -> None:
    p = plan(profile, fw=Framework("demo", None, None, False))
    assert {i.skip for i in p.items.values()} == {"demo is not installed"}
    assert p.matched == {} and p.budget.tests == 0


def test_reproduce_commands(profile: Profile) -> None:
    p = plan(profile, values=Values(framework="demo", max_examples=20, budget=1e-6))
    broken = next(i for i in p.items.values() if i.name == "test_broken")
    assert broken.reproduce == (
        "pytest props/test_x.py --framework demo --seed 7 --max-examples 20 "
        "--false-alarm-budget 1e-06 -k test_broken"
    )
    cmd = planning.reproduce_command(Values(), "torch", 7, "test_t", "--pyargs conformance.properties")
    assert cmd == (
        "pytest --pyargs conformance.properties --framework torch --seed 7 -k test_t\n"
        "conformance run --framework torch --seed 7 -k test_t"
    )
    assert planning.reproduce_command(Values(), "torch", "abc", "t", "f.py") == (
        "pytest f.py --framework torch --hypothesis-seed=abc -k t"
    )


def test_run_record(profile: Profile) -> None:
    rec = plan(profile).record()
    assert rec["framework"] == {
        "name": "demo",
        "version": "1.2",
        "backend": "cpu",
        "installed": True,
        "backend_version": None,
    }
    assert rec["info"] == {
        "seed": 7,
        "max_examples": 100,
        "stat_examples": STAT_EXAMPLES,
        "derandomize": False,
        "budget_total": 1e-6,
        "statistical_tests": 1,
        "per_test": 1e-6,
        "timestamp": "2026-01-01T00:00:00Z",
    }
    assert set(rec["deviations"]) == {"a.broken"}
    assert len(rec["items"]) == len(TESTS)


def test_no_statistical_test_no_stat_examples(profile: Profile) -> None:
    p = planning.plan_run(CAT, profile, profile.facts, FW, Values(), TESTS[:3], seed=1, timestamp="")
    assert p.stat_examples is None and p.budget.tests == 0


def test_marker_problems() -> None:
    assert planning.marker_problems(marks("t", "a.plain"), CAT) == []
    bad = TestMarks("f::t", "t", "f", (("a.nope",), (3,)), (0, -1), (("no_such_cap",),))
    problems = planning.marker_problems(bad, CAT)
    assert problems[0] == "f::t: @pytest.mark.clause needs one or more clause ids (strings)"
    assert problems[1] == "f::t: unknown clause id 'a.nope' (not in the catalogue)"
    assert problems[2] == "f::t: @pytest.mark.statistical needs checks=k >= 1 and explicit=e >= 0"
    assert problems[3].startswith("f::t: @pytest.mark.requires: unknown capabilities ['no_such_cap']")
    err = SpecError("broken", None, None, "not found")
    assert planning.marker_problems(marks("t", "a.plain"), err) == [f"spec catalogue: {err}"]
    assert marks("t", "a.plain", "a.plain").clauses == ("a.plain",)
