"""Planning, without pytest: which clauses apply to a framework and why not,
and which known deviations cover which clause."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from conformance import planning
from conformance.deviations import Deviation
from conformance.frameworks import builtin_profiles
from conformance.profile import Facts, Profile
from conformance.spec import Catalogue, Clause, Source, catalogue

SRC = (Source("001_x.txt", "1", "q"),)


def clause(cid: str, **kw: Any) -> Clause:
    return Clause(cid, "t", "It MUST.", SRC, "area.md", **kw)


CAT = Catalogue("t", (
    clause("area.plain"),
    clause("area.needs", requires=("grad_slot",)),
    clause("area.claim", attributed=True),
    clause("area.skipped"),
))
ZEROS = {"family": "zeros"}
PROFILE = Profile(
    "demo", "demo", "json", "demo.toml",
    Facts("out_in", default_weight=ZEROS, default_bias=ZEROS),
    unsupported={"area.skipped": "demo documents no such thing (https://docs.example/x)"},
    attributed={},
)


def test_a_plain_clause_applies_to_every_framework() -> None:
    assert planning.not_applicable(CAT["area.plain"], PROFILE, PROFILE.facts) is None


def test_a_missing_capability_says_what_it_is() -> None:
    why = planning.not_applicable(CAT["area.needs"], PROFILE, PROFILE.facts)
    assert why == (
        "demo has no grad slot "
        "(parameters that hold their gradient (p.grad, p.grad()), filled by a backward pass)"
    )
    with_slot = dataclasses.replace(PROFILE.facts, capabilities=frozenset({"grad_slot"}), initial_grad="none")
    assert planning.not_applicable(CAT["area.needs"], PROFILE, with_slot) is None


def test_an_attributed_clause_applies_only_where_the_profile_attributes_it() -> None:
    assert "none attributes it to demo" in str(
        planning.not_applicable(CAT["area.claim"], PROFILE, PROFILE.facts)
    )
    claimed = dataclasses.replace(PROFILE, attributed={"area.claim": "001 5.2"})
    assert planning.not_applicable(CAT["area.claim"], claimed, claimed.facts) is None


def test_unsupported_gives_the_documented_reason() -> None:
    why = planning.not_applicable(CAT["area.skipped"], PROFILE, PROFILE.facts)
    assert why == "demo does not support area.skipped: demo documents no such thing (https://docs.example/x)"


def test_deviations_match_version_and_backend_and_stale_ones_are_named() -> None:
    devs = (
        Deviation("area.plain", ">=2", "r", "https://x/1", "demo.toml", 1),
        Deviation("area.plain", "*", "later entry", "https://x/2", "demo.toml", 2),
        Deviation("area.gone", "*", "r", "https://x/3", "demo.toml", 3),
        Deviation("area.skipped", "*", "r", "https://x/4", "demo.toml", 4),
        Deviation("area.needs", "*", "r", "https://x/5", "demo.toml", 5, backend="jax"),
    )
    p = dataclasses.replace(PROFILE, deviations=devs, unsupported={**PROFILE.unsupported, "area.nope": "x"})
    plan = planning.plan_deviations(CAT, p, p.facts, "2.1", None)
    assert plan.matched == {"area.plain": devs[0]}  # the first matching entry
    assert [(s["clause"], s["problem"].split(":")[0]) for s in plan.stale] == [
        ("area.gone", "unknown clause"),
        ("area.skipped", "clause does not apply"),
        ("area.needs", "clause does not apply"),
    ]
    assert planning.plan_deviations(CAT, p, p.facts, "1.0", None).matched == {"area.plain": devs[1]}
    assert [s["clause"] for s in planning.profile_problems(CAT, p)] == ["area.nope"]


@pytest.mark.parametrize("name", list(builtin_profiles()))
def test_applicability_of_the_shipped_catalogue_is_decided_for_every_clause(name: str) -> None:
    p = builtin_profiles()[name]
    reasons = [planning.not_applicable(c, p, p.facts) for c in catalogue()]
    assert any(r is None for r in reasons)
    assert all(r is None or r.startswith(name) or "none attributes it" in r for r in reasons)
