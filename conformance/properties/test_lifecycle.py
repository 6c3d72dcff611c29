"""Properties of specs/lifecycle.md: the model lifecycle machine, one test per clause.

Each test runs :class:`conformance.lifecycle.LifecycleMachine` made for its
clause: first the scripted sequences (the documents' own cases, so a
deviation they show is found in every run), then the sequences Hypothesis
draws. The clauses it presupposes (:data:`conformance.lifecycle.PRECONDITIONS`)
are checked first: a sequence that breaks one of them derails instead of
failing this clause, so each verdict, and its shrunk rule sequence, is about
its own clause. The run's seed fixes the drawn sequences
(``conformance_seed``), so the reproduce command reruns them.
"""

from __future__ import annotations

import pytest

from conformance.lifecycle import lifecycle_settings, run_lifecycle


def _run(adapter, clause: str, seed) -> None:
    run_lifecycle(adapter, clause=clause, settings=lifecycle_settings(), seed=seed)


@pytest.mark.clause("lifecycle.operations-succeed")
def test_lifecycle_operations_succeed(adapter, conformance_seed):
    """lifecycle.operations-succeed: every documented operation MUST apply at
    every point of a model's lifecycle (a documented refusal is not a failure)."""
    _run(adapter, "lifecycle.operations-succeed", conformance_seed)


@pytest.mark.clause("lifecycle.ties-kept")
def test_lifecycle_ties_kept(adapter, conformance_seed):
    """lifecycle.ties-kept: after every operation each shared parameter MUST be
    one object at all its positions, distinct parameters distinct objects,
    and no two models share a parameter object."""
    _run(adapter, "lifecycle.ties-kept", conformance_seed)


@pytest.mark.clause("lifecycle.listings-agree")
def test_lifecycle_listings_agree(adapter, conformance_seed):
    """lifecycle.listings-agree: after every operation the listing MUST hold
    each parameter once with the names and order it had when the model was
    made, and the state dict its keys, each with its parameter's value."""
    _run(adapter, "lifecycle.listings-agree", conformance_seed)


@pytest.mark.clause("lifecycle.untouched-unchanged")
def test_lifecycle_untouched_unchanged(adapter, conformance_seed):
    """lifecycle.untouched-unchanged: an operation MUST leave every parameter
    value and gradient it does not touch, in every model, bit for bit as it was."""
    _run(adapter, "lifecycle.untouched-unchanged", conformance_seed)


@pytest.mark.clause("lifecycle.values-match")
def test_lifecycle_values_match(adapter, conformance_seed):
    """lifecycle.values-match: what an operation touches MUST hold what the
    mirror computes, and every forward output MUST match the mirror's."""
    _run(adapter, "lifecycle.values-match", conformance_seed)


@pytest.mark.clause("lifecycle.gradients-match")
def test_lifecycle_gradients_match(adapter, conformance_seed):
    """lifecycle.gradients-match: after a backward pass every gradient MUST be
    the mirror's, a shared parameter's the sum over its uses; after zero_grad
    every gradient MUST be empty or zero."""
    _run(adapter, "lifecycle.gradients-match", conformance_seed)
