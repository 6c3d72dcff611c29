"""Properties of specs/lifecycle.md: the model lifecycle machine, one test per clause.

Each test runs :class:`conformance.lifecycle.LifecycleMachine` made for its
clause: first the scripted sequences (the documents' own cases, so a
deviation they show is found in every run), then the sequences Hypothesis
draws. The clauses it presupposes (:data:`conformance.lifecycle.PRECONDITIONS`)
are checked first: a sequence that breaks one of them derails instead of
failing this clause, so each verdict, and its shrunk rule sequence, is about
its own clause. The run's seed fixes the drawn sequences
(``conformance_seed``), so the reproduce command reruns them.

Checked together, once a run: the machines made for the clauses expected to
hold draw the same sequences under the run's seed, so the first of these
tests runs one machine checking every clause that
:func:`conformance.lifecycle.checked_together` allows (those expected to
hold, as far as their preconditions let them go together), without
shrinking, and where it passes each of those clauses holds: its own machine
would have drawn the same sequences and passed them. Where it fails, each
test runs its clause's own machine, as above, and that machine's verdict and
shrunk sequence are the test's. A run that selects one lifecycle test
(``-k``, the reproduce command) runs that clause's own machine.
"""

from __future__ import annotations

import pytest

from conformance.lifecycle import checked_together, lifecycle_settings, run_lifecycle


@pytest.fixture(scope="session")
def _together_outcomes() -> dict[object, bool]:
    """(adapter, seed, clauses) -> whether the machine checking them together passed."""
    return {}


def _run(adapter, clause: str, seed, expected: frozenset[str], outcomes: dict[object, bool]) -> None:
    together = checked_together(expected)
    if seed is not None and clause in together and len(together) > 1:
        key = (id(adapter), seed, together)
        if key not in outcomes:
            try:
                quick = lifecycle_settings(shrink=False)
                run_lifecycle(adapter, together=together, seed=seed, settings=quick)
            except Exception:
                outcomes[key] = False  # each clause's own machine finds out which failed, and shrinks it
            else:
                outcomes[key] = True
        if outcomes[key]:
            return
    run_lifecycle(adapter, clause=clause, settings=lifecycle_settings(), seed=seed)


@pytest.fixture
def check_lifecycle(adapter, conformance_seed, clauses_expected_to_hold, _together_outcomes):
    """``check_lifecycle(clause)``: the clause's verdict, as above."""
    expected, outcomes = clauses_expected_to_hold, _together_outcomes
    return lambda clause: _run(adapter, clause, conformance_seed, expected, outcomes)


@pytest.mark.clause("lifecycle.operations-succeed")
def test_lifecycle_operations_succeed(check_lifecycle):
    """lifecycle.operations-succeed: every documented operation MUST apply at
    every point of a model's lifecycle (a documented refusal is not a failure)."""
    check_lifecycle("lifecycle.operations-succeed")


@pytest.mark.clause("lifecycle.ties-kept")
def test_lifecycle_ties_kept(check_lifecycle):
    """lifecycle.ties-kept: after every operation each shared parameter MUST be
    one object at all its positions, distinct parameters distinct objects,
    and no two models share a parameter object."""
    check_lifecycle("lifecycle.ties-kept")


@pytest.mark.clause("lifecycle.listings-agree")
def test_lifecycle_listings_agree(check_lifecycle):
    """lifecycle.listings-agree: after every operation the listing MUST hold
    each parameter once with the names and order it had when the model was
    made, and the state dict its keys, each with its parameter's value."""
    check_lifecycle("lifecycle.listings-agree")


@pytest.mark.clause("lifecycle.untouched-unchanged")
def test_lifecycle_untouched_unchanged(check_lifecycle):
    """lifecycle.untouched-unchanged: an operation MUST leave every parameter
    value and gradient it does not touch, in every model, bit for bit as it was."""
    check_lifecycle("lifecycle.untouched-unchanged")


@pytest.mark.clause("lifecycle.values-match")
def test_lifecycle_values_match(check_lifecycle):
    """lifecycle.values-match: what an operation touches MUST hold what the
    mirror computes, and every forward output MUST match the mirror's."""
    check_lifecycle("lifecycle.values-match")


@pytest.mark.clause("lifecycle.gradients-match")
def test_lifecycle_gradients_match(check_lifecycle):
    """lifecycle.gradients-match: after a backward pass every gradient MUST be
    the mirror's, a shared parameter's the sum over its uses; after zero_grad
    every gradient MUST be empty or zero."""
    check_lifecycle("lifecycle.gradients-match")
