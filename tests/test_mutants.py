"""The mutants of the reference (conformance/proof/mutants.py): the catalogue's
shape, that each patch changes the reference and restores it, that each mutant
is killed by the clause meant to catch it while the unmutated reference holds
there, and that the committed table says what the catalogue is.

The kill runs happen in fresh interpreters, two at a time, with the table's
seed and example count, so this test checks exactly the table's claims."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import planning
from conformance.frameworks.reference.adapter import ReferenceAdapter
from conformance.proof import mutants
from conformance.proof.mutants import MUTANTS, SEED, Mutant
from conformance.properties._support import build
from conformance.reference import init as rinit
from conformance.reference import nn
from conformance.spec import catalogue
from conformance.strategies import CHAPTER_MLP, CHAPTER_TIED

REFERENCE = ReferenceAdapter.default_profile()

TABLE = Path(__file__).resolve().parent.parent / "reports" / "proof" / "mutation.json"
INTENDED = sorted({c for m in MUTANTS.values() for c in m.clauses})


def test_catalogue_has_thirty_mutants_covering_every_area() -> None:
    cat = catalogue()
    assert len(MUTANTS) >= 30, f"only {len(MUTANTS)} mutants"
    areas = {c.area for c in cat}
    covered = {m.area for m in MUTANTS.values()}
    assert covered == areas, f"areas without a mutant: {sorted(areas - covered)}"
    for m in MUTANTS.values():
        assert m.bug and m.clauses, m.id
        for cid in m.clauses:
            assert cid in cat, f"{m.id}: unknown clause {cid!r}"
            why = planning.not_applicable(cat[cid], REFERENCE, REFERENCE.facts)
            assert why is None, f"{m.id}: {cid} does not apply to the reference: {why}"


def test_each_intended_clause_selects_its_own_tests_only() -> None:
    """-k matches substrings: the selection must not catch another clause's test."""
    tests = mutants.clause_tests()
    for cid in INTENDED:
        assert mutants.selection([cid]).split(" or ") == sorted(tests[cid])


def _snapshot() -> dict[tuple[str, str], Any]:
    """Every attribute of the reference's modules (its framework and its
    adapter, which holds the user-defined layers) and of the classes defined
    there, by identity: what a patch may replace."""
    from conformance.frameworks.reference import adapter as radapter

    out: dict[tuple[str, str], Any] = {}
    for module in (nn, rinit, radapter):
        for name, value in vars(module).items():
            out[(module.__name__, name)] = value
            if isinstance(value, type) and value.__module__ == module.__name__:
                for attr, v in vars(value).items():
                    out[(f"{module.__name__}.{name}", attr)] = v
    return out


def _changed(a: dict[tuple[str, str], Any], b: dict[tuple[str, str], Any]) -> list[tuple[str, str]]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k, a) is not b.get(k, b))


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=list(MUTANTS))
def test_patch_replaces_part_of_the_reference_and_restores_it(mutant: Mutant) -> None:
    before = _snapshot()
    with mutant.applied():
        assert _changed(before, _snapshot()), f"{mutant.id} changes nothing in the reference"
    assert not _changed(before, _snapshot()), f"{mutant.id} left {_changed(before, _snapshot())} patched"


def test_a_mutant_changes_behaviour_only_while_applied() -> None:
    adapter = ReferenceAdapter()

    def values(seed: int) -> np.ndarray:
        return adapter.read_params(build(adapter, CHAPTER_MLP, seed), CHAPTER_MLP)[((0,), "weight")]

    def shared_grad() -> np.ndarray:
        model = build(adapter, CHAPTER_TIED, 0)
        adapter.backward(model, np.ones((2, 4), np.float32), np.ones((2, 1), np.float32))
        g = adapter.grad(adapter.param_at(model, (2,), "weight"))
        assert g is not None
        return g

    plain_values, plain_grad = values(7), shared_grad()
    with MUTANTS["seed-not-global"].applied():
        assert not np.array_equal(values(7), values(7)), "seeding still reproduces values"
    with MUTANTS["tied-grad-overwritten"].applied():
        assert not np.allclose(shared_grad(), plain_grad), "the shared layer's gradient is still summed"
    np.testing.assert_array_equal(values(7), plain_values)
    np.testing.assert_array_equal(shared_grad(), plain_grad)


# -- the kills -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kills() -> dict[str | None, dict[str, Any]]:
    """The baseline (key None) and every mutant against its intended clauses,
    each in its own interpreter, two at a time."""
    jobs: list[dict[str, Any]] = [{"mutant_id": None, "seed": SEED, "clauses": INTENDED}]
    jobs += [{"mutant_id": m, "seed": SEED} for m in MUTANTS]
    return {r["mutant"]: r for r in mutants.run_all(jobs, workers=2)}


def test_unmutated_reference_holds_on_every_intended_clause(kills: dict[str | None, dict[str, Any]]) -> None:
    verdicts = kills[None]["verdicts"]
    assert set(verdicts) == set(INTENDED)
    assert all(v == "holds" for v in verdicts.values()), {c: v for c, v in verdicts.items() if v != "holds"}


@pytest.mark.parametrize("mid", list(MUTANTS))
def test_mutant_is_killed_by_its_intended_clause(kills: dict[str | None, dict[str, Any]], mid: str) -> None:
    result = kills[mid]
    assert set(result["verdicts"]) == set(MUTANTS[mid].clauses), f"not restricted to the clauses: {result}"
    assert result["killed"], f"{mid} survives: {result['verdicts']} (seed {SEED})"


# -- the committed table ----------------------------------------------------------------------


def test_committed_table_lists_the_catalogue_and_claims_every_kill() -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    rows = table["mutants"]
    assert [r["id"] for r in rows] == list(MUTANTS), "the table's mutants are not the catalogue's"
    assert table["score"] == {"killed": len(MUTANTS), "total": len(MUTANTS),
                              "line": f"mutation score: {len(MUTANTS)}/{len(MUTANTS)} = 100 %"}
    assert table["seed"] == SEED and table["baseline"]["holds"]
    cat = catalogue()
    for r in rows:
        assert r["killed"], r
        assert r["clauses"] == list(MUTANTS[r["id"]].clauses), r["id"]
        assert all(c in cat for c in r["clauses"]), r
    markdown = TABLE.with_suffix(".md").read_text(encoding="utf-8")
    assert table["score"]["line"] in markdown
    assert all(f"`{r['id']}`" in markdown for r in rows)
