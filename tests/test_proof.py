"""The suite's evidence about itself: the soak and the speed benchmark.

The committed tables (reports/proof/) are generated; these tests check that
they say what their data says, and that the data is about the catalogue as
it is now (so a table cannot silently go stale). A cheap soak runs here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import planning
from conformance.frameworks import builtin_profiles
from conformance.proof import bench, soak
from conformance.spec import catalogue

PROOF = Path(__file__).resolve().parent.parent / "reports" / "proof"


def _statistical_clauses(framework: str) -> set[str]:
    profile = builtin_profiles()[framework]
    return {
        c.id
        for c in catalogue().clauses
        if c.statistical and not planning.not_applicable(c, profile, profile.facts)
    }


# -- the soak ----------------------------------------------------------------------
def _lifecycle_clauses(framework: str) -> set[str]:
    profile = builtin_profiles()[framework]
    return {
        c.id
        for c in catalogue().clauses
        if c.area == "lifecycle" and not planning.not_applicable(c, profile, profile.facts)
    }


def _of_kind(kind: str) -> list[dict]:
    return [r for r in soak.load(PROOF) if r.get("kind", "statistical") == kind]


def test_committed_soak_saw_no_false_alarm_in_enough_seed_runs():
    results = _of_kind("statistical")
    assert sum(r["seed_runs"] for r in results) >= soak.MIN_SEED_RUNS
    assert {r["framework"] for r in results} >= {"reference", "torch"}
    for r in results:
        assert r["false_alarms"] == [] and r["misses"] == [], r["identity"]
        assert r["seed_runs"] == len(set(r["seeds"])), f"{r['identity']}: repeated seeds"
        assert r["catalogue_version"] == catalogue().version
        # every statistical clause that applies was soaked, and nothing else
        assert set(r["clauses"]) == _statistical_clauses(r["framework"]), r["identity"]
        assert r["min_p_over_alpha"] is not None and r["min_p_over_alpha"] >= 1


def test_committed_lifecycle_soak_saw_no_false_alarm_in_enough_seed_runs():
    """The machine under many seeds: every lifecycle clause as expected in
    every seed-run, each listed deviation found in every one."""
    results = _of_kind("lifecycle")
    assert {r["framework"] for r in results} >= {"reference", "torch"}
    assert sum(r["seed_runs"] for r in results) >= soak.MIN_SEED_RUNS
    for r in results:
        assert r["false_alarms"] == [] and r["misses"] == [], r["identity"]
        assert r["seed_runs"] == len(set(r["seeds"])), f"{r['identity']}: repeated seeds"
        assert r["catalogue_version"] == catalogue().version
        assert set(r["clauses"]) == _lifecycle_clauses(r["framework"]), r["identity"]
        deviations = builtin_profiles()[r["framework"]].deviations
        listed = {d.clause for d in deviations if d.clause.startswith("lifecycle.")}
        assert set(r["known_deviations"]) == listed, r["identity"]


def test_committed_soak_table_is_generated_from_its_data():
    assert (PROOF / "soak.md").read_text(encoding="utf-8") == soak.table(soak.load(PROOF))


def test_soak_counts_an_unexpected_statistical_verdict_as_a_false_alarm():
    def run(seed, verdict, expected, deviation=False):
        return {"seed": seed, "identity": "x 1", "budget": {"total": 1e-6, "statistical_tests": 1},
                "catalogue_version": "1", "clauses": [{
                    "clause": "a.b", "verdict": verdict, "expected": expected, "known_deviation": deviation,
                    "checks": 2, "min_p_over_alpha": 3.0, "failed_checks": []}]}

    clean = soak.summarise("x", [run(1, "holds", True), run(2, "holds", True)], 1.0)
    assert clean["false_alarms"] == [] and clean["seed_runs"] == 2 and clean["checks"] == 4
    alarm = soak.summarise("x", [run(1, "holds", True), run(2, "violated", False)], 1.0)
    assert [a["seed"] for a in alarm["false_alarms"]] == [2]
    miss = soak.summarise("x", [run(1, "violated", True, True), run(2, "holds", False, True)], 1.0)
    assert miss["false_alarms"] == [] and [m["seed"] for m in miss["misses"]] == [2]
    assert "1 false alarms" not in soak.table([clean]) and "0 false alarms" in soak.table([clean])


@pytest.mark.slow
def test_a_short_soak_of_the_lifecycle_machine_raises_no_false_alarm():
    """Two seed-runs of every lifecycle clause against the reference."""
    result = soak.soak("reference", range(2000, 2002), jobs=2, kind="lifecycle")
    assert result["seed_runs"] == 2 and result["kind"] == "lifecycle"
    assert set(result["clauses"]) == _lifecycle_clauses("reference")
    assert result["false_alarms"] == [] and result["misses"] == []


@pytest.mark.slow
def test_a_short_soak_of_the_reference_raises_no_false_alarm():
    """Four seed-runs of every statistical clause against the reference, in CI:
    each may raise a false alarm with probability at most the budget, 1e-6."""
    result = soak.soak("reference", range(1000, 1004), jobs=2)
    assert result["seed_runs"] == 4
    assert set(result["clauses"]) == _statistical_clauses("reference")
    assert result["false_alarms"] == [] and result["misses"] == []


# -- the speed benchmark -----------------------------------------------------------
def test_committed_speed_table_is_generated_from_its_data():
    results = bench.load(PROOF / "speed")
    assert (PROOF / "speed.md").read_text(encoding="utf-8") == bench.render(PROOF / "speed")
    for r in results:
        assert r["max_examples"] == 100, f"{r['identity']}: benchmarked at a non-default example count"
        # the ratio is of the unrounded times; the stored times are rounded
        assert r["ratio"] == pytest.approx(r["catalogue_wall"] / r["import"], rel=0.07)
        assert r["tests"] == sorted(r["tests"], key=lambda t: -t["seconds"])
    assert {r["framework"] for r in results} >= {"reference", "torch"}


def test_speed_results_are_about_this_catalogue():
    clauses = {c.id for c in catalogue().clauses}
    for r in bench.load(PROOF / "speed"):
        assert {t["clause"] for t in r["tests"]} <= clauses, r["identity"]
        assert json.dumps(r)  # plain data


def test_speed_targets_compare_with_the_import_measured_in_the_same_run():
    def result(framework: str, wall: float, imp: float, baseline: float | None) -> dict:
        return {"framework": framework, "identity": f"{framework} 1", "import": imp, "suite_import": 0.5,
                "catalogue_wall": wall, "catalogue_cpu": wall, "ratio": wall / imp, "max_examples": 100,
                "baseline": None if baseline is None else {"module": "torch", "import": baseline},
                "tests": [{"test": "test_x", "clause": "access.index-order", "seconds": wall - 1.0}]}

    assert bench._target(result("reference", 5.9, 0.2, 2.0)) == ("<= 3 x import torch = 6.0 s, <= 60 s", True)
    assert bench._target(result("reference", 6.1, 0.2, 2.0))[1] is False
    assert bench._target(result("reference", 1.0, 0.2, None)) == (
        "<= 3 x import torch (not measured in this run)", False)
    assert bench._target(result("torch", 11.9, 2.0, None)) == ("<= 6 x import torch = 12.0 s, <= 60 s", True)
    assert bench._target(result("flax", 61.0, 1.0, None)) == ("<= 60 s", False)
    before = [result("flax", 120.0, 1.0, None)]
    text = bench.table([result("flax", 61.0, 1.0, None)], before, "## Notes\n\nwhy")
    row = next(line for line in text.splitlines() if line.startswith("| flax 1 "))
    assert "| 61.0 | 120.0 (no lifecycle) |" in row and "**no**" in row and "| 1.0 | access 60.0 |" in row
    assert text.endswith("## Notes\n\nwhy\n")
