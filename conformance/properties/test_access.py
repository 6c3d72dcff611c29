"""Properties of specs/access.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.arch import Arch, Dense, Flatten, ReLU, Sequential
from conformance.properties._support import (
    assert_close,
    assert_forward_is_function_of_params,
    build,
    forward_tolerance,
)
from conformance.reference import functional
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_RGNET,
    CHAPTER_TIED,
    KERAS_MLP,
    KERAS_TIED,
    architectures,
    cases,
    chapter_case,
    property_settings,
    seeds,
)


@pytest.mark.clause("access.index-order")
@property_settings
@given(arch=architectures(custom=None), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
@example(arch=CHAPTER_RGNET, seed=0)
@example(arch=CHAPTER_TIED, seed=0)
@example(arch=KERAS_TIED, seed=0)
def test_index_yields_layers_in_order(adapter, arch, seed):
    """access.index-order: `net[i]` MUST yield the i-th child added, recursively;
    a layer added twice MUST be reachable at both positions; distinct layers
    MUST NOT be the same object."""
    model = build(adapter, arch, seed)
    assert adapter.num_children(model) == len(arch.root.children), (
        f"root has {adapter.num_children(model)} children, {len(arch.root.children)} were added"
    )
    for path, node in arch.walk():
        block = adapter.block_at(model, path)
        if isinstance(node, Sequential):
            assert adapter.num_children(block) == len(node.children), (
                f"block at {path} has {adapter.num_children(block)} children, {len(node.children)} were added"
            )
        elif isinstance(node, (ReLU, Flatten)):
            assert adapter.layer_params(block) == [], f"index {path} should be a {type(node).__name__}"
    by_key: dict[str, object] = {}
    for use in arch.dense_uses():
        layer = adapter.block_at(model, use.path)
        want = {k: adapter.native_shape(k, use.in_features, use.node.units) for k in ("weight", "bias")}
        got = {k: adapter.shape(p) for k, p in adapter.layer_params(layer)}
        assert got == want, f"index {use.path} should be Dense({use.in_features} -> {use.node.units}): {got}"
        if use.key in by_key:
            assert layer is by_key[use.key], (
                f"shared layer {use.node.tie!r} is a different object at {use.path}"
            )
        else:
            others = [k for k, o in by_key.items() if o is layer]
            assert not others, f"layer at {use.path} is the same object as layer {others}"
            by_key[use.key] = layer


@pytest.mark.clause("access.index-counts-parameter-free-layers")
@property_settings
@given(
    layers=st.lists(st.sampled_from(["dense", "relu", "flatten"]), min_size=1, max_size=8).filter(
        lambda ks: "dense" in ks
    ),
    widths=st.lists(st.integers(1, 6), min_size=8, max_size=8),
    seed=seeds(),
)
@example(layers=["dense", "relu", "dense"], widths=[8, 1] + [1] * 6, seed=0)
@example(layers=["flatten", "dense", "dense"], widths=[4, 1] + [1] * 6, seed=0)
def test_indices_count_parameter_free_layers(adapter, layers, widths, seed):
    """access.index-counts-parameter-free-layers: indices MUST count every layer,
    ReLU and Flatten included (`layers[2]` of Flatten, Dense, Dense is the
    second Dense)."""
    units = iter(widths)
    children = tuple(
        Dense(next(units)) if k == "dense" else ReLU() if k == "relu" else Flatten() for k in layers
    )
    arch = Arch(Sequential(children), input_dim=4)
    model = build(adapter, arch, seed)
    dense_seen = 0
    for i, node in enumerate(children):
        params = adapter.layer_params(adapter.child(model, i))
        if isinstance(node, Dense):
            use = arch.dense_uses()[dense_seen]
            dense_seen += 1
            shape = {k: adapter.shape(p) for k, p in params}.get("weight")
            want = adapter.native_shape("weight", use.in_features, node.units)
            assert shape == want, (
                f"index {i} should be dense layer #{dense_seen} ({use.in_features} -> {node.units}), "
                f"its weight has shape {shape}"
            )
        else:
            assert params == [], (
                f"index {i} should be the parameter-free {type(node).__name__}, holds {params}"
            )


@pytest.mark.clause("access.dense-weight-and-bias")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_dense_layer_holds_weight_then_bias(adapter, arch, seed):
    """access.dense-weight-and-bias: a dense layer MUST hold exactly two
    parameters, its weight and its bias, listed weight first."""
    model = build(adapter, arch, seed)
    for use in arch.dense_layers():
        roles = [k for k, _ in adapter.layer_params(adapter.block_at(model, use.path))]
        assert roles == ["weight", "bias"], f"dense layer at {use.path} holds {roles}"


@pytest.mark.clause("access.float32-default")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_parameters_are_float32_by_default(adapter, arch, seed):
    """access.float32-default: weight and bias MUST be float32 by default."""
    model = build(adapter, arch, seed)
    for path, kind in arch.param_refs():
        dtype = adapter.dtype(adapter.param_at(model, path, kind))
        assert dtype == "float32", f"{kind} at {path} is {dtype}"


@pytest.mark.clause("access.weight-layout")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_weight_has_documented_layout(adapter, clause, arch, seed):
    """access.weight-layout: the weight MUST be (n_out, n_in) for a documented
    `out_in` layout and (n_in, n_out) for `in_out`; the bias (n_out,)."""
    layout = adapter.facts.weight_layout  # the profile's documented layout
    model = build(adapter, arch, seed)
    for use in arch.dense_layers():
        n_in, n_out = use.in_features, use.node.units
        w = adapter.shape(adapter.param_at(model, use.path, "weight"))
        b = adapter.shape(adapter.param_at(model, use.path, "bias"))
        want = (n_out, n_in) if layout == "out_in" else (n_in, n_out)
        assert w == want, (
            f"weight of Dense({n_in} -> {n_out}) at {use.path} has shape {w}, documented {layout} {want}"
        )
        assert b == (n_out,), f"bias of Dense({n_in} -> {n_out}) at {use.path} has shape {b}"


@pytest.mark.clause("access.activation-no-params")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=KERAS_MLP, seed=0)
def test_parameter_free_layers_hold_nothing(adapter, arch, seed):
    """access.activation-no-params: ReLU and Flatten MUST hold no parameters."""
    model = build(adapter, arch, seed)
    for path, node in arch.walk():
        if isinstance(node, (ReLU, Flatten)):
            held = adapter.layer_params(adapter.block_at(model, path))
            assert held == [], f"{type(node).__name__} at {path} holds {held}"


@pytest.mark.clause("access.parameter-value")
@property_settings
@given(case=cases(architectures(custom=None)), seed=seeds())
@example(case=chapter_case(CHAPTER_MLP), seed=0)
def test_value_behind_parameter_is_what_the_model_computes_with(adapter, case, seed):
    """access.parameter-value: the value read through the documented accessor
    MUST have the parameter's shape, and the forward output MUST be the function
    of those values."""
    arch = case.arch
    model = build(adapter, arch, seed)
    values = {}
    for path, kind in arch.param_refs():
        p = adapter.param_at(model, path, kind)
        v = adapter.read(p)
        assert v.shape == adapter.shape(p), (
            f"value of {kind} at {path} has shape {v.shape}, parameter {adapter.shape(p)}"
        )
        values[(path, kind)] = adapter.to_canonical(kind, v)
    assert_close(
        adapter.forward(model, case.x),
        functional.forward(arch, values, case.x),
        forward_tolerance(adapter, arch, values, case.x),
        "forward output vs the reference computed from the read values",
    )


@pytest.mark.clause("access.grad-before-backward")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_gradient_slot_before_any_backward(adapter, clause, arch, seed):
    """access.grad-before-backward: before any backward pass the gradient slot
    MUST be empty (None) or zeros, as the framework documents."""
    initial = adapter.facts.initial_grad  # the profile's documented initial state
    assert initial in ("none", "zeros"), (
        f"the profile of {adapter.name} documents no initial_grad: {initial!r}"
    )
    model = build(adapter, arch, seed)
    for path, kind in arch.param_refs():
        p = adapter.param_at(model, path, kind)
        g = adapter.grad(p)
        if initial == "none":
            assert g is None, f"gradient of {kind} at {path} before backward is {g!r}, documented None"
        else:
            assert g is not None and g.shape == adapter.shape(p) and not g.any(), (
                f"gradient of {kind} at {path} before backward is {g!r}, "
                f"documented zeros of {adapter.shape(p)}"
            )


@pytest.mark.clause("access.nested-indexing")
@property_settings
@given(case=cases(architectures(max_depth=3, custom=None)), pick=st.integers(0, 2**16), seed=seeds())
@example(case=chapter_case(CHAPTER_RGNET), pick=1, seed=0)  # rgnet[0][1][0].bias
def test_chained_indexing_reaches_the_parameter_the_model_uses(adapter, case, pick, seed):
    """access.nested-indexing: chained indexing MUST reach the layer at that
    path, and changing its parameters MUST change the forward output exactly as
    the reference predicts."""
    arch = case.arch
    model = build(adapter, arch, seed)
    layers = arch.dense_layers()
    path = layers[pick % len(layers)].path
    layer = adapter.block_at(model, path)  # rgnet[0][1][0]
    new_bias = case.values[(path, "bias")]
    adapter.write(dict(adapter.layer_params(layer))["bias"], adapter.to_native("bias", new_bias))
    got = adapter.to_canonical("bias", adapter.read(adapter.param_at(model, path, "bias")))
    assert np.array_equal(got, new_bias), f"bias at {path} did not take the written value"
    assert_forward_is_function_of_params(adapter, model, arch, case.x,
                                         f"forward output after writing the bias reached by indexing {path}")
