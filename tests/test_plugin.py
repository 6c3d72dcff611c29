"""The plugin end to end, on synthetic property tests and a synthetic catalogue."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from conftest import Runner
from fakes import fake_profile_text

from conformance.strategies import STAT_EXAMPLES

SYNTHETIC = """
import pytest
from hypothesis import given, strategies as st
from conformance.strategies import property_settings
from conformance.adapters.base import NotApplicable


@pytest.mark.clause("alpha.holds")
@property_settings
@given(x=st.integers(0, 10))
def test_holds(x, adapter, clause):
    assert adapter.name == "fake"
    assert clause.id == "alpha.holds"
    assert 0 <= x <= 10


@pytest.mark.clause("alpha.broken")
@property_settings
@given(st.integers())
def test_broken(x):
    assert x < 7, "x must be small"


@pytest.mark.clause("alpha.errs")
def test_errs():
    raise KeyError("no such parameter")


@pytest.mark.clause("alpha.old")
def test_old():
    raise AssertionError("must not run: the clause does not apply to fake 1.2.3")


@pytest.mark.clause("alpha.other-only")
def test_other_only():
    raise AssertionError("must not run")


@pytest.mark.clause("alpha.needs-cap")
@pytest.mark.requires("whole_model_save")
def test_needs_cap():
    raise AssertionError("must not run")


@pytest.mark.clause("alpha.runtime-na")
@property_settings
@given(x=st.integers())
def test_runtime_na(x, adapter):
    adapter.require("pattern_selection")


@pytest.mark.clause("alpha.listed")
def test_listed():
    assert 1 == 2, "documented upstream bug"


@pytest.mark.clause("alpha.stale-listed")
def test_stale_listed():
    assert True


@pytest.mark.clause("alpha.unused")
def test_unused_by_k():
    assert True
"""

DEVIATIONS = [
    ("alpha.listed", ">=1.0", "documented upstream bug", "https://example.org/issues/1"),
    ("alpha.stale-listed", "*", "fixed long ago", "https://example.org/issues/2"),
    ("alpha.holds", "<1.0", "only old versions", "https://example.org/issues/3"),
    ("alpha.gone", "*", "clause was removed", "https://example.org/issues/4"),
    ("alpha.other-only", "*", "never applies to fake", "https://example.org/issues/5"),
]


@pytest.fixture
def synthetic(runner: Runner) -> Runner:
    runner.pytester.makepyfile(test_synthetic=SYNTHETIC)
    (runner.pytester.path / "profile.toml").write_text(fake_profile_text(DEVIATIONS), encoding="utf-8")
    return runner


def run_synthetic(r: Runner, *args: str, framework: str = "fake") -> pytest.RunResult:
    profile = ["--profile", str(r.pytester.path / "profile.toml")] if framework == "fake" else []
    return r.run(
        *profile,
        "--max-examples",
        "20",
        "-k",
        "not unused",
        *args,
        framework=framework,
    )


def test_verdicts(synthetic: Runner) -> None:
    result = run_synthetic(synthetic)
    result.assert_outcomes(passed=1, failed=3, skipped=4, xfailed=1, deselected=1)
    res = synthetic.results()
    verdicts = {k: (v["verdict"], v["expected"]) for k, v in res.items()}
    assert verdicts == {
        "alpha.holds": ("holds", True),
        "alpha.broken": ("violated", False),
        "alpha.errs": ("error", False),
        "alpha.old": ("not-applicable", True),
        "alpha.other-only": ("not-applicable", True),
        "alpha.needs-cap": ("not-applicable", True),
        "alpha.runtime-na": ("not-applicable", True),
        "alpha.listed": ("violated", True),
        "alpha.stale-listed": ("holds", False),
    }
    # Deselected by -k: applicable but untested, so omitted.
    assert "alpha.unused" not in res
    report = synthetic.report()
    assert report["summary"] == {"holds": 2, "violated": 2, "not-applicable": 4, "error": 1, "unexpected": 3}


def test_reasons_and_evidence(synthetic: Runner) -> None:
    run_synthetic(synthetic)
    res = synthetic.results()
    assert res["alpha.old"]["reason"].endswith("none attributes it to fake")
    assert res["alpha.other-only"]["reason"] == (
        "alpha.other-only: fake does not support alpha.other-only: "
        "fake documents no such behaviour (tests/fakes.py)"
    )
    assert res["alpha.needs-cap"]["reason"] == "fake has no whole model save"
    assert res["alpha.runtime-na"]["reason"] == "fake has no pattern selection"

    broken = res["alpha.broken"]["evidence"]
    assert "x must be small" in broken["message"]
    # Hypothesis shrinks to the boundary: the minimal counterexample.
    assert "test_broken(" in broken["counterexample"] and "x=7" in broken["counterexample"]
    assert broken["reproduce"].startswith("pytest ")
    assert "--framework fake --seed 12345" in broken["reproduce"]
    assert "-k test_broken" in broken["reproduce"]

    errs = res["alpha.errs"]["evidence"]
    assert errs["message"] == "KeyError: 'no such parameter'"

    listed = res["alpha.listed"]
    assert listed["known_deviation"] == {
        "versions": ">=1.0",
        "reason": "documented upstream bug",
        "link": "https://example.org/issues/1",
    }
    assert "documented upstream bug" in listed["evidence"]["message"]
    assert listed["tests"][0]["outcome"] == "xfailed"

    stale = res["alpha.stale-listed"]
    assert stale["reason"] == "listed as a known deviation but holds: remove the entry"
    assert stale["tests"][0]["outcome"] == "xpassed"
    # An entry whose range excludes the installed version is not applied.
    assert res["alpha.holds"]["known_deviation"] is None


def test_stale_deviation_entries(synthetic: Runner) -> None:
    run_synthetic(synthetic)
    stale = {s["clause"]: s for s in synthetic.report()["stale_deviations"]}
    assert stale["alpha.gone"]["problem"] == "unknown clause"
    assert stale["alpha.gone"]["line"] == 4  # the entry's number in [[deviations]]
    assert stale["alpha.other-only"]["problem"].startswith("clause does not apply: fake does not support")
    assert set(stale) == {"alpha.gone", "alpha.other-only"}


def test_known_deviation_that_errors_is_an_error(runner: Runner) -> None:
    # xfail(raises=AssertionError): only an assertion is the expected violation.
    runner.pytester.makepyfile(
        test_x="""
        import pytest
        @pytest.mark.clause("alpha.listed")
        def test_listed():
            raise TypeError("not an assertion")
    """
    )
    dev = runner.pytester.path / "profile.toml"
    entry = ("alpha.listed", "*", "bug", "https://example.org/1")
    dev.write_text(fake_profile_text([entry]), encoding="utf-8")
    runner.run("--profile", str(dev)).assert_outcomes(failed=1)
    r = runner.results()["alpha.listed"]
    assert (r["verdict"], r["expected"]) == ("error", False)
    assert r["evidence"]["message"] == "TypeError: not an assertion"


def test_report_file_name_and_header(synthetic: Runner) -> None:
    result = run_synthetic(synthetic)
    names = sorted(p.name for p in synthetic.report_dir.iterdir())
    assert names == ["conformance-fake-1.2.3+cpu-cpu.json", "conformance-fake-1.2.3+cpu-cpu.md"]
    result.stdout.fnmatch_lines(
        [
            ("conformance: framework fake 1.2.3+cpu (backend cpu), catalogue test-1, seed 12345, "
             "false-alarm budget 1e-06"),
            ("conformance: 9 tests, 2 not applicable at collection, 2 known deviations; "
             "0 statistical tests share*"),
        ]
    )
    report = synthetic.report()
    assert report["framework"] == {
        "name": "fake",
        "version": "1.2.3+cpu",
        "backend": "cpu",
        "installed": True,
    }
    assert report["catalogue_version"] == "test-1"
    assert report["seed"] == 12345
    assert report["settings"]["max_examples"] == 20
    md = (synthetic.report_dir / "conformance-fake-1.2.3+cpu-cpu.md").read_text(encoding="utf-8")
    assert "# Conformance: fake 1.2.3+cpu (cpu)" in md
    assert "`alpha.broken`" in md and "Counterexample:" in md and "-k test_broken" in md
    assert "| 001_aaaa.txt | `alpha.holds` | `alpha.broken` | - | - |" in md


def test_report_written_atomically(synthetic: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = os.replace

    def spy(src: str, dst: str) -> None:
        calls.append((str(src), str(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    run_synthetic(synthetic)
    assert len(calls) == 2
    for src, dst in calls:
        assert Path(src).parent == Path(dst).parent == synthetic.report_dir
        assert Path(src).name.startswith(".") and src.endswith(".tmp")
    assert not list(synthetic.report_dir.glob(".*.tmp"))


def test_no_report_dir_writes_nothing(synthetic: Runner) -> None:
    synthetic.run("-k", "holds", report=False).assert_outcomes(passed=1, deselected=9)
    assert not synthetic.report_dir.exists()


def test_seed_makes_runs_reproducible(runner: Runner) -> None:
    runner.pytester.makepyfile(
        test_seeded="""
        import pytest
        from hypothesis import given, strategies as st
        from conformance.strategies import property_settings
        SEEN = []
        @pytest.mark.clause("alpha.holds")
        @property_settings
        @given(st.integers(0, 10**9))
        def test_draws(x):
            SEEN.append(x)
        def test_dump():
            import json, pathlib
            pathlib.Path("seen.json").write_text(json.dumps(SEEN))
    """
    )

    def draws(seed: str) -> list[int]:
        runner.pytester.runpytest_inprocess(
            "-p",
            "no:cacheprovider",
            "--framework",
            "fake",
            "--catalogue",
            str(runner.catalogue_dir),
            "--seed",
            seed,
            "--max-examples",
            "5",
        )
        return json.loads((runner.pytester.path / "seen.json").read_text())

    first, again, other = draws("1"), draws("1"), draws("2")
    assert len(first) == 5
    assert first == again != other


def test_unknown_clause_is_a_collection_error(runner: Runner) -> None:
    runner.pytester.makepyfile(
        test_bad="""
        import pytest
        @pytest.mark.clause("alpha.holds", "alpha.no-such-clause")
        def test_x():
            pass
    """
    )
    result = runner.run(report=False)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*unknown clause id 'alpha.no-such-clause'*"])


def test_unknown_framework_is_a_usage_error(synthetic: Runner) -> None:
    result = synthetic.run(framework="nope", report=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown framework 'nope'; known frameworks: *fake*ghost*"])


def test_not_installed_skips_everything(synthetic: Runner) -> None:
    result = run_synthetic(synthetic, framework="ghost")
    result.assert_outcomes(skipped=9, deselected=1)
    report = synthetic.report()
    assert report["framework"] == {"name": "ghost", "version": None, "backend": None, "installed": False}
    assert {r["verdict"] for r in report["results"]} == {"not-applicable"}
    assert {r["reason"] for r in report["results"]} == {"ghost is not installed"}
    assert report["summary"]["unexpected"] == 0
    assert (synthetic.report_dir / "conformance-ghost-not-installed.json").is_file()


STATISTICAL = """
import pytest
from hypothesis import given, example, strategies as st
from conformance.strategies import statistical_settings

@pytest.mark.clause("beta.stat-a")
@pytest.mark.statistical(checks=2, explicit=1)
@statistical_settings
@given(x=st.integers(0, 3))
@example(x=0)
def test_stat_a(x, stat):
    stat.binomial(5, 10, 0.5, label=f"coin {x}")
    stat.binomial(4, 10, 0.5, label=f"coin again {x}")

@pytest.mark.clause("beta.stat-b")
@pytest.mark.statistical(checks=1)
def test_stat_b(stat):
    stat.binomial(0, 100, 0.5, label="always heads")

@pytest.mark.clause("beta.stat-c", "alpha.old")
@pytest.mark.statistical(checks=1)
def test_stat_not_applicable(stat):
    raise AssertionError("must not run")

@pytest.mark.clause("alpha.holds")
def test_stat_without_marker(stat):
    pass
"""


def test_budget_split_and_statistics(runner: Runner) -> None:
    runner.pytester.makepyfile(test_stats=STATISTICAL)
    result = runner.run("--false-alarm-budget", "0.001")
    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1)
    report = runner.report()
    # Two statistical tests run (the third does not apply): each gets half.
    assert report["error_budget"] == {
        "total": 0.001,
        "correction": "bonferroni",
        "statistical_tests": 2,
        "per_test": 0.0005,
    }
    assert report["settings"]["stat_examples"] == STAT_EXAMPLES
    res = {r["spec"]: r for r in report["results"]}
    a = res["beta.stat-a"]
    assert a["verdict"] == "holds"
    stats = a["evidence"]["statistics"]
    # The explicit example plus up to STAT_EXAMPLES generated ones (integers(0, 3)
    # is exhausted early), two checks each, all recorded although the test passed.
    assert len(stats) % 2 == 0 and 2 <= len(stats) <= 2 * (STAT_EXAMPLES + 1)
    planned = 2 * (STAT_EXAMPLES + 1)
    assert all(s["alpha"] == pytest.approx(0.0005 / planned) for s in stats)
    assert all(s["passed"] for s in stats)
    b = res["beta.stat-b"]
    assert (b["verdict"], b["expected"]) == ("violated", False)
    [rec] = b["evidence"]["statistics"]
    assert rec["label"] == "always heads" and rec["test"] == "binomial" and not rec["passed"]
    assert rec["alpha"] == pytest.approx(0.0005 / STAT_EXAMPLES)
    assert "always heads" in b["evidence"]["message"]
    assert res["beta.stat-c"]["verdict"] == "not-applicable"
    holds = res["alpha.holds"]
    assert holds["verdict"] == "error" and "statistical" in holds["evidence"]["message"]


def test_clause_with_several_tests_takes_the_worst(runner: Runner) -> None:
    runner.pytester.makepyfile(
        test_two="""
        import pytest
        @pytest.mark.clause("alpha.holds")
        def test_a():
            pass
        @pytest.mark.clause("alpha.holds", "alpha.broken")
        def test_b():
            assert False, "broken"
    """
    )
    runner.run().assert_outcomes(passed=1, failed=1)
    res = runner.results()
    assert res["alpha.holds"]["verdict"] == res["alpha.broken"]["verdict"] == "violated"
    assert [t["outcome"] for t in res["alpha.holds"]["tests"]] == ["passed", "failed"]


def test_unrelated_suites_are_not_disturbed(pytester: pytest.Pytester) -> None:
    """A session without conformance tests keeps Hypothesis's profile as it was
    (whatever it is: Hypothesis picks a 'ci' profile when CI is set) and prints
    nothing of ours."""
    from hypothesis import settings

    assert settings.default is not None
    profile, deadline = settings.get_current_profile_name(), settings.default.deadline
    pytester.makepyfile(
        test_plain=f"""
        from datetime import timedelta
        from hypothesis import given, settings, strategies as st
        def test_plain():
            assert True
        @given(st.integers())
        def test_hyp(x):
            assert settings.get_current_profile_name() == {profile!r}
            assert settings.default.deadline == {deadline!r}
    """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2)
    assert "conformance:" not in result.stdout.str()
    assert "== conformance ==" not in result.stdout.str()


def test_markers_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.clause(*ids)*", "@pytest.mark.statistical(*", "@pytest.mark.requires(*"]
    )


def test_property_settings_follow_the_run_options(runner: Runner) -> None:
    """`property_settings` gives a property the run's --max-examples; the
    global Hypothesis profile is left alone."""
    from hypothesis import settings

    before = settings.get_current_profile_name()
    runner.pytester.makepyfile(
        test_p="""
        import pytest
        from hypothesis import given, settings, strategies as st
        from conformance.strategies import property_settings
        CALLS = []
        @pytest.mark.clause("alpha.holds")
        @property_settings
        @given(st.integers())
        def test_p(x):
            CALLS.append(x)
        @pytest.mark.clause("alpha.holds")
        def test_count():
            assert len(CALLS) == 7, CALLS
    """
    )
    runner.run("--max-examples", "7").assert_outcomes(passed=2)
    assert settings.get_current_profile_name() == before


def test_not_applicable_from_a_fixture(runner: Runner) -> None:
    runner.pytester.makeconftest("""
        import pytest
        from conformance.adapters.base import NotApplicable
        @pytest.fixture
        def lazy_model(adapter):
            raise NotApplicable(f"{adapter.name} has no lazy layers")
    """)
    runner.pytester.makepyfile(
        test_f="""
        import pytest
        @pytest.mark.clause("alpha.holds")
        def test_lazy(lazy_model):
            pass
    """
    )
    runner.run().assert_outcomes(skipped=1)
    r = runner.results()["alpha.holds"]
    assert (r["verdict"], r["reason"], r["expected"]) == ("not-applicable", "fake has no lazy layers", True)


def test_plain_tests_raising_not_applicable_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        from conformance.adapters.base import NotApplicable
        def test_plain():
            raise NotApplicable("not a conformance test")
    """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "--framework", "nope").assert_outcomes(failed=1)


def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester) -> None:
    for args in (
        ["--max-examples", "0"],
        ["--false-alarm-budget", "1.5"],
        ["--seed", "1", "--hypothesis-seed", "2"],
    ):
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, args


def test_a_conftest_beside_the_tests_does_not_break_the_run(runner: Runner) -> None:
    """pytest hashes plugin objects when a conftest.py elsewhere in the tree is
    left out for a test's directory: the plugin's own objects must be
    hashable (a dataclass with eq is not) or every test is an internal error."""
    other = runner.pytester.mkpydir("other")
    other.joinpath("conftest.py").write_text("X = 1\n", encoding="utf-8")
    other.joinpath("test_plain.py").write_text("def test_plain():\n    pass\n", encoding="utf-8")
    sub = runner.pytester.mkpydir("suite")
    sub.joinpath("test_synthetic.py").write_text(textwrap.dedent(SYNTHETIC), encoding="utf-8")
    result = runner.run("suite", "other")
    assert result.ret != pytest.ExitCode.INTERNAL_ERROR, result.stdout.str()[-2000:]
    assert runner.results()["alpha.holds"]["verdict"] == "holds"


def test_statistical_properties_keep_their_example_count(runner: Runner) -> None:
    """--max-examples sets the ordinary properties' count (the 'conformance'
    Hypothesis profile); a statistical property runs STAT_EXAMPLES whatever it
    says, as the false-alarm budget was planned."""
    runner.pytester.makepyfile(
        test_counts="""
        import pytest
        from hypothesis import given, strategies as st
        from conformance.strategies import property_settings, statistical_settings
        CALLS = {"plain": 0, "stat": 0}
        @pytest.mark.clause("alpha.holds")
        @property_settings
        @given(st.integers(0, 10**9))
        def test_plain(x):
            CALLS["plain"] += 1
        @pytest.mark.clause("beta.stat-a")
        @pytest.mark.statistical(checks=1)
        @statistical_settings
        @given(x=st.integers(0, 10**9))
        def test_stat(x, stat):
            CALLS["stat"] += 1
        @pytest.mark.clause("alpha.unused")
        def test_count():
            assert CALLS == {"plain": 13, "stat": STAT}, CALLS
    """.replace("STAT", str(STAT_EXAMPLES))
    )
    runner.run("--max-examples", "13").assert_outcomes(passed=3)
    assert runner.report()["settings"]["max_examples"] == 13


def test_strategies_draw_what_the_framework_can_build(runner: Runner) -> None:
    """`fake` lacks `repeated_child`: while its tests run, a shared layer is
    never drawn twice into one container; outside them the strategies draw it."""
    runner.pytester.makepyfile(
        test_ties="""
        import pytest
        from hypothesis import given
        from conformance.strategies import architectures, property_settings
        SEEN = []
        @pytest.mark.clause("alpha.holds")
        @property_settings
        @given(arch=architectures(require_tie=True))
        def test_ties(arch):
            SEEN.append(arch.repeats_in_container())
        @pytest.mark.clause("alpha.unused")
        def test_seen():
            assert len(SEEN) == 60 and not any(SEEN)
    """
    )
    runner.run("--max-examples", "60").assert_outcomes(passed=2)
    from conformance.strategies import _can_repeat_in_container

    assert _can_repeat_in_container()


def test_an_unrelated_session_does_not_import_hypothesis(pytester: pytest.Pytester) -> None:
    """The plugin registers its Hypothesis profile without importing
    Hypothesis where nothing else does and the options are the defaults."""
    pytester.makepyfile(
        test_plain="""
        import sys
        def test_plain():
            assert "hypothesis" not in sys.modules, "imported for nothing"
    """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
