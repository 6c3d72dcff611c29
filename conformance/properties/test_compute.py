"""Properties of specs/compute.md: the differential oracle."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given

from conformance.properties._support import (
    assert_close,
    build_with,
    forward_tolerance,
    grad_tolerance,
    relu_margin_ok,
)
from conformance.reference import functional
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_RGNET,
    CHAPTER_TIED,
    KERAS_TIED,
    cases,
    chapter_case,
    property_settings,
    seeds,
)


@pytest.mark.clause("compute.forward-matches-reference")
@property_settings
@given(case=cases(), seed=seeds())
@example(case=chapter_case(CHAPTER_MLP), seed=0)
@example(case=chapter_case(CHAPTER_RGNET), seed=0)
@example(case=chapter_case(CHAPTER_TIED), seed=0)
@example(case=chapter_case(KERAS_TIED), seed=0)
def test_forward_matches_the_reference(adapter, case, seed):
    """compute.forward-matches-reference: for any architecture, values and input,
    the forward output MUST match the reference within float32 tolerance."""
    model = build_with(adapter, case.arch, seed, case.values)
    assert_close(
        adapter.forward(model, case.x),
        functional.forward(case.arch, case.values, case.x),
        forward_tolerance(adapter, case.arch, case.values, case.x),
        "forward output vs the reference",
    )


@pytest.mark.clause("compute.gradients-match-reference")
@property_settings
@given(case=cases(), seed=seeds())
@example(case=chapter_case(CHAPTER_MLP), seed=0)
@example(case=chapter_case(CHAPTER_TIED), seed=0)
def test_gradients_match_the_reference(adapter, case, seed):
    """compute.gradients-match-reference: the gradients of sum(forward(x) * u)
    MUST match the reference's (summed over the uses of a shared layer)."""
    assume(relu_margin_ok(adapter, case.arch, case.values, case.x))
    model = build_with(adapter, case.arch, seed, case.values)
    adapter.zero_grad(model)
    adapter.backward(model, case.x, case.upstream)
    want = functional.grads(case.arch, case.values, case.x, case.upstream)
    tol = grad_tolerance(adapter, case.arch, case.values, case.x, case.upstream)
    for key, g in adapter.read_grads(model, case.arch).items():
        assert g is not None, f"no gradient for {key[1]} at {key[0]} after backward"
        assert_close(g, want[key], tol[key], f"gradient of {key[1]} at {key[0]} vs the reference")
