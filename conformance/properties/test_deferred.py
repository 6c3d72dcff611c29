"""Properties of specs/deferred.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given

from conformance.adapters.base import Init, Uninitialized
from conformance.properties._support import assert_forward_is_function_of_params, build
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_TIED,
    SMALLEST_SUBNORMAL,
    architectures,
    cases,
    chapter_case,
    constants,
    property_settings,
    seeds,
)

pytestmark = pytest.mark.requires("deferred_init")


@pytest.mark.clause("deferred.shape-unknown-before-forward")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
def test_shape_unknown_before_the_first_forward(adapter, arch, seed):
    """deferred.shape-unknown-before-forward: before the first forward pass a
    deferred weight MUST report its input dimension as unknown, and reading its
    value MUST fail."""
    model = build(adapter, arch.with_lazy(), seed)
    for use in arch.dense_layers():
        w = adapter.param_at(model, use.path, "weight")
        shape = adapter.shape(w)
        if shape is not None:
            want = adapter.native_shape("weight", -1, use.node.units)
            known = [d for d, v in zip(shape, want) if v == -1]
            assert known == [None], f"weight at {use.path} reports shape {shape} before any input was seen"
        try:
            value = adapter.read(w)
        except Uninitialized:
            continue
        raise AssertionError(f"reading the weight at {use.path} before the first forward gave {value!r}")


@pytest.mark.clause("deferred.shape-inferred")
@property_settings
@given(case=cases(), seed=seeds())
@example(case=chapter_case(CHAPTER_MLP), seed=0)
def test_first_forward_infers_every_shape(adapter, case, seed):
    """deferred.shape-inferred: after the first forward pass every deferred layer
    MUST have its full shape and readable values, and the output MUST be their
    function."""
    arch = case.arch
    model = build(adapter, arch.with_lazy(), seed)
    out = adapter.forward(model, case.x)
    for use in arch.dense_uses():
        for kind in ("weight", "bias"):
            got = adapter.shape(adapter.param_at(model, use.path, kind))
            want = adapter.native_shape(kind, use.in_features, use.node.units)
            assert got == want, (
                f"{kind} at {use.path} has shape {got} after the first forward, expected {want}"
            )
    assert_forward_is_function_of_params(
        adapter, model, arch, case.x,
        "first forward output vs the reference computed from the inferred values", out=out,
    )


@pytest.mark.clause("deferred.initializer-applied-on-inference")
@property_settings
@given(arch=architectures(), c=constants(), seed=seeds())
@example(arch=CHAPTER_MLP, c=1.0, seed=0)
@example(arch=CHAPTER_MLP, c=SMALLEST_SUBNORMAL, seed=0)
def test_initialiser_chosen_before_inference_is_applied(adapter, arch, c, seed):
    """deferred.initializer-applied-on-inference: an initialiser requested before
    the shape is known MUST produce the values once it is inferred."""
    model = build(adapter, arch.with_lazy(), seed)
    adapter.initialize(model, weight=Init("constant", value=c), bias=Init("zeros"))
    with np.errstate(over="ignore", invalid="ignore"):  # c may be huge; only the shapes matter here
        adapter.forward(model, np.ones((1, arch.input_dim), dtype=np.float32))
    for use in arch.dense_layers():
        w = adapter.read(adapter.param_at(model, use.path, "weight"))
        b = adapter.read(adapter.param_at(model, use.path, "bias"))
        assert (w == np.float32(c)).all(), (
            f"weight at {use.path} is {w.tolist()}, constant({c!r}) was requested"
        )
        assert not b.any(), f"bias at {use.path} is {b.tolist()}, zeros was requested"


@pytest.mark.clause("deferred.tied-lazy-layer")
@property_settings
@given(arch=architectures(require_tie=True), seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
def test_deferred_shared_layer_stays_one_object(adapter, arch, seed):
    """deferred.tied-lazy-layer: a deferred layer used at several positions MUST
    be one object with one inferred shape after the first forward pass."""
    model = build(adapter, arch.with_lazy(), seed)
    adapter.forward(model, np.ones((2, arch.input_dim), dtype=np.float32))
    for key, uses in arch.tied_groups().items():
        for kind in ("weight", "bias"):
            first = adapter.param_at(model, uses[0].path, kind)
            want = adapter.native_shape(kind, uses[0].in_features, uses[0].node.units)
            for use in uses:
                p = adapter.param_at(model, use.path, kind)
                assert adapter.same(p, first), f"shared {kind} {key!r} at {use.path} is another object"
                assert adapter.shape(p) == want, (
                    f"shared {kind} {key!r} at {use.path} has shape {adapter.shape(p)}"
                )
