"""The lifecycle machine itself (conformance/lifecycle.py): it runs and holds on
the reference, every rule is exercised, each lifecycle mutant of the reference
fails the clause meant to catch it in the sequences the machine draws (not only
in the scripted ones), a failure is attributed to one clause, the report
carries the shrunk rule sequence readably, and the public factory works as a
framework's CI would use it."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

import pytest
from hypothesis import Phase, seed, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from conformance import lifecycle
from conformance.frameworks.reference.adapter import ReferenceAdapter
from conformance.lifecycle import (
    CLAUSES,
    LifecycleMachine,
    LifecycleViolation,
    checked_together,
    lifecycle_machine,
    lifecycle_settings,
    run_lifecycle,
    run_scripts,
)
from conformance.proof.mutants import MUTANTS
from conformance.spec import catalogue
from conformance.verdicts import Phase as Outcome
from conformance.verdicts import Raised, counterexample

#: the lifecycle mutants of conformance/proof/mutants.py, one per clause
LIFECYCLE_MUTANTS = {mid: m for mid, m in MUTANTS.items() if m.area == "lifecycle"}


#: What every machine here runs under, whatever profile another test of the
#: session registered (a derandomized one would ignore ``seed``).
_PARENT = settings(database=None, deadline=None, derandomize=False, print_blob=False,
                   phases=tuple(p for p in Phase if p is not Phase.explain))


def _settings(examples: int = 20):
    return lifecycle_settings(max_examples=examples * lifecycle.EXAMPLES_DIVISOR, parent=_PARENT)


def test_clauses_are_the_catalogues_lifecycle_area():
    assert set(CLAUSES) == {c.id for c in catalogue() if c.area == "lifecycle"}
    assert {m.clauses[0] for m in LIFECYCLE_MUTANTS.values()} == set(CLAUSES), "a clause without its mutant"


def test_machine_holds_on_the_reference_for_every_clause():
    adapter = ReferenceAdapter()
    for clause in (None, *CLAUSES):
        run_lifecycle(adapter, clause=clause, settings=_settings(5), seed=7)


def test_every_rule_is_exercised():
    """Every rule performs its operation in the sequences the machine draws
    (scripts aside), within a few seeded runs."""
    machine = lifecycle_machine(ReferenceAdapter)
    rules = {r.function.__name__ for r in machine.setup_state().rules} | {"start"}
    performed: collections.Counter[str] = collections.Counter()
    for s in range(6):
        m = lifecycle_machine(ReferenceAdapter)
        m.performed = collections.Counter()
        run_state_machine_as_test(seed(s)(m), settings=_settings(40))
        performed += m.performed
        if rules <= set(performed):
            break
    assert rules - set(performed) == set(), f"rules never performed: {sorted(rules - set(performed))}"
    assert performed["train"] > 0 and performed["load_weights"] > 0


@pytest.mark.parametrize("mid", sorted(LIFECYCLE_MUTANTS))
def test_the_drawn_sequences_find_each_lifecycle_mutant(mid):
    """Without the scripted sequences, the machine made for the mutant's clause
    finds it (in this process: the patch is undone when the block exits)."""
    mutant = LIFECYCLE_MUTANTS[mid]
    finding = settings(_settings(40), phases=[Phase.generate])  # found, not shrunk: that is the table's
    with mutant.applied(), pytest.raises(LifecycleViolation) as found:
        run_lifecycle(ReferenceAdapter(), clause=mutant.clauses[0], settings=finding, seed=3, scripts=False)
    assert found.value.clause == mutant.clauses[0]
    notes = getattr(found.value, "__notes__", [])
    assert any("<state machine>" in n for n in notes) and "state.teardown()" in notes, notes


@pytest.mark.parametrize("mid", sorted(LIFECYCLE_MUTANTS))
def test_each_lifecycle_mutant_breaks_one_clause(mid):
    """Attribution: the mutant's clause fails, and every other lifecycle clause
    holds: where the bug leaves its states, a clause that presupposes the
    broken one derails instead of failing (one bug, one verdict)."""
    mutant = LIFECYCLE_MUTANTS[mid]
    intended = mutant.clauses[0]
    adapter = ReferenceAdapter()
    with mutant.applied():
        with pytest.raises(LifecycleViolation) as found:
            run_lifecycle(adapter, clause=intended, settings=_settings(5), seed=1)
        assert found.value.clause == intended
        for other in CLAUSES:
            if other != intended:
                run_lifecycle(adapter, clause=other, settings=_settings(5), seed=1)


def test_a_scripted_failure_carries_its_program():
    machine = lifecycle_machine(ReferenceAdapter(), clause="lifecycle.values-match")
    with MUTANTS["step-after-load-stale"].applied(), pytest.raises(LifecycleViolation) as found:
        run_scripts(machine)
    notes = getattr(found.value, "__notes__", [])
    assert notes[0].startswith("Falsifying explicit example: <state machine> (")
    assert notes[1] == f"state = {machine.__name__}()" and notes[-1] == "state.teardown()"
    assert any(n.startswith("weight_files_0 = state.save_weights(") for n in notes)
    assert str(found.value).startswith("lifecycle.values-match: after ")


def test_counterexample_of_a_state_machine_is_its_rule_sequence():
    notes = ("Failing test case: <state machine>", "state = ReferenceLifecycle()",
             "models_0 = state.start(arch=Arch(Sequential((Dense(2),)), input_dim=1), seed=0, values=None)",
             "state.check()", "state.zero_grad(model=models_0)", "state.teardown()",
             "Explanation:", "    These lines were always and only run by failing test cases:")
    phase = Outcome("failed", raised=Raised("LifecycleViolation", "lifecycle.x: ...", True, notes))
    assert counterexample(phase) == "\n".join(notes[:6])
    plain = Outcome("failed", raised=Raised("AssertionError", "x", True, ("Falsifying example: test(a=1)",)))
    assert counterexample(plain) == "Falsifying example: test(a=1)"


# -- clauses checked together ----------------------------------------------------------------


def test_clauses_checked_together_are_those_whose_machines_presuppose_every_other():
    everything = frozenset(CLAUSES)
    assert checked_together(CLAUSES) == everything and checked_together([]) == frozenset()
    ties, listings = "lifecycle.ties-kept", "lifecycle.listings-agree"
    # torch lists lifecycle.ties-kept: every other clause's machine checks it first
    assert checked_together(everything - {ties}) == everything - {ties}
    # ties-kept's own machine checks no listing, so it cannot go with a listing left out
    assert checked_together(everything - {listings}) == everything - {listings, ties}
    assert checked_together(everything - {"lifecycle.values-match"}) == {"lifecycle.operations-succeed"}
    with pytest.raises(ValueError, match="not both"):
        lifecycle_machine(ReferenceAdapter, clause=ties, together=[ties])
    with pytest.raises(ValueError, match="unknown lifecycle clause"):
        lifecycle_machine(ReferenceAdapter, together=["lifecycle.nope"])


class _Order(collections.Counter):
    """A ``performed`` counter that also keeps the order the rules ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def __setitem__(self, key, value) -> None:
        self.order.append(key)
        super().__setitem__(key, value)


def _sequence(at: int, **made) -> list[str]:
    machine = lifecycle_machine(ReferenceAdapter(), settings=_settings(5), **made)
    machine.performed = _Order()
    run_state_machine_as_test(seed(at)(machine), settings=_settings(5))
    return machine.performed.order


def test_together_the_machine_performs_what_each_clauses_machine_performs():
    """Same seed, same settings: the machine checking every clause performs
    the same rules in the same order as each clause's own machine (at the
    first seed whose sequences train and load weights: which seed that is
    depends on what the session drew before, not on this property)."""
    for at in range(5, 25):
        together = _sequence(at, together=CLAUSES)
        if len(together) > 50 and "train" in together and "load_weights" in together:
            break
    else:
        pytest.fail("no seed in 5..24 gave a sequence that trains and loads weights")
    for clause in CLAUSES:
        assert _sequence(at, clause=clause) == together, clause


@pytest.mark.parametrize("mid", sorted(LIFECYCLE_MUTANTS))
def test_together_the_clauses_hold_where_each_holds_alone(mid):
    """Under each lifecycle mutant (its clause fails, every other holds, as
    test_each_lifecycle_mutant_breaks_one_clause shows with these settings and
    seed), the machine checking every clause fails, and the one checking the
    clauses that can go together without the mutant's holds."""
    mutant = LIFECYCLE_MUTANTS[mid]
    rest = checked_together(set(CLAUSES) - {mutant.clauses[0]})
    adapter = ReferenceAdapter()
    with mutant.applied():
        with pytest.raises(LifecycleViolation):
            run_lifecycle(adapter, together=CLAUSES, settings=_settings(5), seed=1)
        run_lifecycle(adapter, together=rest, settings=_settings(5), seed=1)


# -- the public API ---------------------------------------------------------------------------


def test_factory_takes_a_class_or_an_instance():
    from_class = lifecycle_machine(ReferenceAdapter)
    assert issubclass(from_class, LifecycleMachine) and from_class.clause is None
    assert from_class.__name__ == "ReferenceLifecycle"
    instance = ReferenceAdapter()
    bound = lifecycle_machine(instance, clause="lifecycle.ties-kept")
    assert bound.get_adapter() is instance and bound.clause == "lifecycle.ties-kept"
    with pytest.raises(ValueError, match="unknown lifecycle clause"):
        lifecycle_machine(ReferenceAdapter, clause="lifecycle.nope")
    with pytest.raises(TypeError):
        lifecycle_machine(object)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lifecycle_machine"):
        LifecycleMachine()


def test_test_case_runs_in_one_line_and_can_be_subclassed():
    """What a framework's CI writes: the TestCase runs under unittest; a
    subclass adds an invariant of its own and it runs after every step."""
    seen: list[int] = []

    class Mine(lifecycle_machine(ReferenceAdapter, settings=_settings(2))):  # type: ignore[misc]
        @invariant()
        def models_are_counted(self) -> None:
            seen.append(len(self._live_models()))

    for case in (lifecycle_machine(ReferenceAdapter, settings=_settings(2)).TestCase, Mine.TestCase):
        case.settings = _settings(2)
        result = unittest.TextTestRunner(stream=open("/dev/null", "w")).run(
            unittest.defaultTestLoader.loadTestsFromTestCase(case))
        assert result.wasSuccessful(), result.failures + result.errors
    assert seen and max(seen) >= 1


def test_a_framework_not_installed_skips():
    from fakes import GhostAdapter

    case = lifecycle_machine(GhostAdapter).TestCase
    result = unittest.TextTestRunner(stream=open("/dev/null", "w")).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(case))
    assert len(result.skipped) == 1 and result.wasSuccessful()


# -- through the plugin: the report's evidence ------------------------------------------------


def test_report_of_a_lifecycle_violation_shows_the_rule_sequence_and_how_to_reproduce(tmp_path: Path):
    """A mutant run through the catalogue (in a fresh interpreter, as the
    mutation table runs it): the clause is violated, and the report's evidence
    holds the failing program and the command that reruns exactly that test."""
    script = textwrap.dedent(f"""
        import pytest, sys
        from conformance.proof.mutants import MUTANTS
        from conformance.proof._run import pytest_args
        with MUTANTS["zero-grad-keeps-shared-buffer"].applied():
            pytest.main(pytest_args("reference", 11, __import__("pathlib").Path({str(tmp_path)!r}),
                                    "-k", "test_lifecycle_gradients_match", "--max-examples", "10"))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, cwd=tmp_path)
    [report] = [json.loads(p.read_text(encoding="utf-8")) for p in tmp_path.glob("conformance-*.json")]
    [result] = [r for r in report["results"] if r["spec"] == "lifecycle.gradients-match"]
    assert result["verdict"] == "violated" and not result["expected"]
    ev = result["evidence"]
    program = ev["counterexample"].splitlines()
    assert "<state machine>" in program[0] and program[-1] == "state.teardown()", ev["counterexample"]
    assert any(line.startswith("state.zero_grad(model=models_0)") for line in program)
    assert "-k test_lifecycle_gradients_match" in ev["reproduce"] and "--seed 11" in ev["reproduce"]
    assert ev["message"].startswith("lifecycle.gradients-match: after zero_grad of models_0")
    markdown = next(tmp_path.glob("conformance-*.md")).read_text(encoding="utf-8")
    assert "state.teardown()" in markdown


@pytest.mark.parametrize("listed", [False, True], ids=["unexpected", "listed"])
def test_through_the_catalogue_a_lifecycle_mutant_fails_its_clause_only(tmp_path: Path, listed: bool):
    """The catalogue's lifecycle tests check the clauses expected to hold
    together once and fall back to each clause's own machine where that
    fails: with a mutant breaking lifecycle.ties-kept, ties-kept is violated
    and every other lifecycle clause holds, whether the run fell back (the
    clause not listed) or checked the other five together (listed, as torch
    lists it)."""
    extra: list[str] = []
    if listed:
        profile = tmp_path / "profile.toml"
        profile.write_text(
            (Path(lifecycle.__file__).parent / "frameworks" / "reference" / "profile.toml").read_text("utf-8")
            + '\n[[deviations]]\nclause = "lifecycle.ties-kept"\nversions = "*"\n'
            'reason = "a mutant of the test: loading unties a trained model"\nlink = "https://example.org/mutant"\n',
            encoding="utf-8")
        extra = ["--profile", str(profile)]
    script = textwrap.dedent(f"""
        import pathlib, pytest
        from conformance.proof.mutants import MUTANTS
        from conformance.proof._run import pytest_args
        with MUTANTS["load-unties-trained-model"].applied():
            pytest.main(pytest_args("reference", 11, pathlib.Path({str(tmp_path)!r}),
                                    "-k", "lifecycle", "--max-examples", "25", *{extra!r}))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, cwd=tmp_path)
    [report] = [json.loads(p.read_text(encoding="utf-8")) for p in tmp_path.glob("conformance-*.json")]
    verdicts = {r["spec"]: (r["verdict"], r["expected"]) for r in report["results"] if r["spec"] in CLAUSES}
    assert verdicts.pop("lifecycle.ties-kept") == ("violated", listed)
    assert {v for v, _ in verdicts.values()} == {"holds"} and len(verdicts) == len(CLAUSES) - 1, verdicts
