"""Framework profiles: the TOML format (good and bad files), version and
backend variants, deviation matching, and the shipped profiles' consistency
with the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import planning
from conformance.deviations import Deviation
from conformance.frameworks import BUILTIN, builtin_profiles
from conformance.profile import CAPABILITIES, ProfileError, load_profile, parse_profile
from conformance.spec import catalogue

GOOD = """\
# a comment
[framework]
name = "demo"
distribution = "demo-dist"
module = "json"

[facts]
weight_layout = "in_out"
load_modes = ["default", "h5"]
capabilities = ["grad_slot", "block_names"]
initial_grad = "none"
default_weight = {family = "uniform", fan = "fan_avg", scale = 3.0}
default_bias = {family = "zeros"}

[docs]
weight_layout = "https://docs.example/dense"

[[variants]]
versions = "<2"
facts = {load_modes = ["old"]}

[[variants]]
backend = "jax"
facts = {rtol = 0.001}

[unsupported]
"tied.state-dict-every-key" = "demo has no state dict (https://docs.example/state)"

[attributed]
"default-init.range-from-in-and-out" = "002 Khởi tạo tham số"

[[deviations]]
clause = "naming.unique-names"
versions = ">=2.0,<2.5"
reason = "names collide"
link = "https://github.com/o/r/issues/1#L10"

[[deviations]]
clause = "builtin-init.constant"
versions = "*"
backend = "jax"
reason = "subnormals flushed"
link = "https://docs.example/constant"
"""


def test_good_profile_parses(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(GOOD, encoding="utf-8")
    p = load_profile(path)
    assert (p.name, p.distribution, p.module) == ("demo", "demo-dist", "json")
    assert p.facts.weight_layout == "in_out" and p.facts.load_modes == ("default", "h5")
    assert p.facts.capabilities == frozenset({"grad_slot", "block_names"})
    assert p.facts.law("weight") == {"family": "uniform", "fan": "fan_avg", "scale": 3.0}
    assert p.facts.docs["weight_layout"] == "https://docs.example/dense"
    assert p.unsupported["tied.state-dict-every-key"].startswith("demo has no state dict")
    first, second = p.deviations
    assert first == Deviation("naming.unique-names", ">=2.0,<2.5", "names collide",
                              "https://github.com/o/r/issues/1#L10", str(path), 1)
    assert (second.backend, second.line) == ("jax", 2)


def test_variants_replace_the_facts_they_name() -> None:
    p = parse_profile(GOOD, "demo.toml")
    assert p.facts_for("1.5", None).load_modes == ("old",)
    assert p.facts_for("2.13.0+cpu", None).load_modes == ("default", "h5")
    assert p.facts_for("2.1", "jax").rtol == 0.001 and p.facts_for("2.1", "tensorflow").rtol == 1e-4
    both = p.facts_for("1.0", "jax")
    assert (both.load_modes, both.rtol) == (("old",), 0.001)
    assert p.facts_for(None, None) == p.facts  # an unknown version is in no bounded range


@pytest.mark.parametrize(
    ("versions", "installed", "expected"),
    [
        (">=2.0,<2.5", "2.1.0", True),
        (">=2.0,<2.5", "2.13.0+cpu", False),
        (">=2.13", "2.13.0+cpu", True),  # local build tag: compared as 2.13.0
        ("==2.13.0", "2.13.0+cu121", True),
        ("<2.14", "2.13.0rc1", True),  # pre-releases are versions too
        ("*", "anything-at-all", True),
        ("*", None, True),
        (">=1", None, False),
        (">=1", "not a version", False),
    ],
)
def test_deviations_match_version_ranges(versions: str, installed: str | None, expected: bool) -> None:
    d = Deviation("area.name", versions, "r", "l")
    assert d.matches("area.name", installed) is expected
    assert d.matches("area.other", installed) is False


def test_a_backend_narrows_a_deviation_to_that_backend() -> None:
    d = parse_profile(GOOD, "demo.toml").deviations[1]
    assert d.matches("builtin-init.constant", "3.0", "jax")
    assert not d.matches("builtin-init.constant", "3.0", "tensorflow")
    assert not d.matches("builtin-init.constant", "3.0", None)
    assert d.as_dict()["versions"] == "* on jax"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (('name = "demo"\n', ""), "framework"),
        (('weight_layout = "in_out"', 'weight_layout = "sideways"'), "facts.weight_layout"),
        (('capabilities = ["grad_slot", "block_names"]', 'capabilities = ["telepathy"]'),
         "facts.capabilities"),
        (('initial_grad = "none"\n', ""), "facts"),  # a grad_slot needs its initial state
        (('default_bias = {family = "zeros"}\n', ""), "facts"),
        (('{family = "zeros"}', '{family = "cauchy"}'), "facts.default_bias"),
        (('fan = "fan_avg", ', ""), "facts.default_weight"),
        (("load_modes = [\"default\", \"h5\"]", "load_modes = []"), "facts.load_modes"),
        (("[docs]", "[docs]\ncolour = \"red\""), "docs"),
        (('versions = "<2"', 'versions = "banana"'), "variants #1"),
        (('facts = {rtol = 0.001}', 'facts = {rtol = -1}'), "variants #2.facts.rtol"),
        (('"tied.state-dict-every-key" = "demo', '"Tied" = "demo'), "unsupported"),
        (('"002 Khởi tạo tham số"', '""'), "attributed.default-init.range-from-in-and-out"),
        (('reason = "names collide"\n', ""), "deviations #1"),
        (('versions = ">=2.0,<2.5"', 'versions = "2.0 to 2.5"'), "deviations #1"),
        (('link = "https://docs.example/constant"', 'link = "https://docs.example/constant"\ncolour = 1'),
         "deviations #2"),
        (("[framework]", "[colour]\nx = 1\n[framework]"), None),
    ],
)
def test_bad_profile_names_file_table_and_problem(change: tuple[str, str], where: str | None) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "demo.toml")
    assert err.value.file == "demo.toml" and err.value.where == where, str(err.value)
    assert str(err.value).startswith("demo.toml")


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="invalid TOML"):
        parse_profile("[framework\n", "x.toml")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "nope.toml")


# -- the shipped profiles --------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN)
def test_shipped_profiles_name_clauses_that_exist_and_can_apply(name: str) -> None:
    p = builtin_profiles()[name]
    cat = catalogue()
    assert p.name == name and p.facts.capabilities <= CAPABILITIES
    assert planning.profile_problems(cat, p) == []
    plan = planning.plan_deviations(cat, p, p.facts, None, None)
    assert plan.stale == [], plan.stale
    for d in p.deviations:
        assert d.link.startswith("https://"), (
            f"{p.file} deviation #{d.line}: the link must be the documentation's address"
        )
    for cid, why in p.unsupported.items():
        assert "http" in why or ".txt" in why, f"{p.file} [unsupported] {cid}: cite the documentation"


def test_every_builtin_profile_is_in_the_package() -> None:
    here = Path(__file__).resolve().parents[1] / "conformance" / "frameworks"
    assert sorted(d.parent.name for d in here.glob("*/profile.toml")) == sorted(BUILTIN)
