"""Properties of specs/tied.md."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from conformance.properties._support import (
    assert_close,
    assert_forward_is_function_of_params,
    assert_listing_is_each_parameter_once,
    assert_shared,
    build,
    build_with,
    describe_sharing,
    grad_tolerance,
    relu_margin_ok,
    untied_values,
)
from conformance.strategies import (
    CHAPTER_TIED,
    KERAS_TIED,
    MXNET_SHARED,
    TIED_AUTOENCODER,
    architectures,
    cases,
    chapter_case,
    float32s,
    mode_picks,
    picked,
    property_settings,
    seeds,
)

#: Both kinds of sharing: one layer at several positions, and distinct layers
#: sharing a weight and/or a bias (transposed too) where the framework has
#: them; user-defined layers among the built-in ones where it has those.
TIED = architectures(require_tie=True, share_params=None, custom=None)
#: Only parameter-level sharing between distinct layers.
SHARING = architectures(require_tie=True, ties=False, share_params=True, custom=None).filter(
    lambda a: a.shares_params())


def _assert_tied(adapter, model, arch, what: str) -> None:
    assert_shared(adapter, model, arch, what)


@pytest.mark.clause("tied.one-object")
@property_settings
@given(arch=TIED, seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
@example(arch=KERAS_TIED, seed=0)
@example(arch=MXNET_SHARED, seed=0)
@example(arch=TIED_AUTOENCODER, seed=0)
def test_shared_layer_is_one_object(adapter, arch, seed):
    """tied.one-object: the parameters reached through each position of a
    shared layer MUST be the same object."""
    _assert_tied(adapter, build(adapter, arch, seed), arch, "freshly built")


@pytest.mark.clause("tied.write-through")
@property_settings
@given(case=cases(TIED), value=float32s(bound=100.0), seed=seeds(), data=st.data())
@example(case=chapter_case(MXNET_SHARED), value=100.0, seed=0, data=None).via("003 4.2.4")
@example(case=chapter_case(TIED_AUTOENCODER), value=100.0, seed=0, data=None).via("001 5.2.3 notes")
def test_write_through_one_position_is_seen_everywhere(adapter, case, value, seed, data):
    """tied.write-through: writing an entry through one position MUST be visible
    through every other and used by the forward pass at every use."""
    pick = 0 if data is None else data.draw(st.integers(0, 2**16), label="pick")
    _write_through(adapter, case, value, seed, pick)


@pytest.mark.clause("tied.write-through")
@pytest.mark.requires("repeated_child")  # the chapter's net holds `shared` twice in one Sequential
@property_settings
@given(seed=seeds())
@example(seed=0)
def test_chapter_write_through(adapter, seed):
    """tied.write-through on the chapter's `net[2].weight.data[0, 0] = 100`."""
    _write_through(adapter, chapter_case(CHAPTER_TIED, seed=seed), 100.0, seed, 0)


def _write_through(adapter, case, value, seed, pick):
    arch = case.arch
    model = build_with(adapter, arch, seed, case.values)
    groups = list(arch.shared_params().items())
    ref, positions = groups[pick % len(groups)]
    via = positions[pick // len(groups) % len(positions)]
    index = (0, 0) if via.kind == "weight" else (0,)  # [0, 0] is [0, 0] of the transpose too
    adapter.assign(adapter.param_at(model, via.path, via.kind), index, np.float32(value))
    for pos in positions:
        w = adapter.read(adapter.param_at(model, pos.path, pos.kind))
        assert w[index] == np.float32(value), (
            f"wrote {value!r} at {list(index)} through {via.path} into {describe_sharing(arch, ref)}; "
            f"position {pos.path} reads {w[index]!r}"
        )
    assert_forward_is_function_of_params(adapter, model, arch, case.x, "forward output after the write")


@pytest.mark.clause("tied.listing-once")
@property_settings
@given(arch=TIED, seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
@example(arch=MXNET_SHARED, seed=0)
@example(arch=TIED_AUTOENCODER, seed=0)
def test_listing_shows_a_tied_parameter_once(adapter, arch, seed):
    """tied.listing-once: the all-parameters listing MUST show a shared
    parameter exactly once, at its first use."""
    # Order within a layer is naming.listing-order's business, not this clause's.
    assert_listing_is_each_parameter_once(adapter, build(adapter, arch, seed), arch, weight_first=False)


@pytest.mark.clause("tied.state-dict-every-key")
@property_settings
@given(arch=TIED, seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
@example(arch=MXNET_SHARED, seed=0)
def test_state_dict_keeps_every_position(adapter, arch, seed):
    """tied.state-dict-every-key: the state dict MUST keep one key per position
    of a shared parameter, each holding the shared value."""
    model = build(adapter, arch, seed)
    sd = adapter.state_dict(model)
    uses = arch.dense_uses()
    assert len(sd) == 2 * len(uses), (
        f"state dict has {len(sd)} keys ({[k for k, _ in sd]}) for {len(uses)} dense positions"
    )
    for ref, positions in arch.shared_params().items():
        shared = adapter.read(adapter.param_at(model, *ref))
        holding = [k for k, v in sd if v.shape == shared.shape and np.array_equal(v, shared)]
        assert len(holding) >= len(positions), (
            f"{describe_sharing(arch, ref)} is used at {len(positions)} positions but held by keys {holding}"
        )


@pytest.mark.clause("tied.gradients-summed")
@property_settings
@given(case=cases(TIED), seed=seeds())
@example(case=chapter_case(CHAPTER_TIED), seed=0)
@example(case=chapter_case(MXNET_SHARED), seed=0)
@example(case=chapter_case(TIED_AUTOENCODER), seed=0)
def test_gradient_of_a_tied_parameter_is_the_sum_over_uses(adapter, case, seed):
    """tied.gradients-summed: the gradient of a parameter used at k positions
    MUST equal the sum of the gradients of k separate layers with its values."""
    arch, untied = case.arch, case.arch.untied()
    assume(relu_margin_ok(adapter, arch, case.values, case.x))
    tied_model = build_with(adapter, arch, seed, case.values)
    split_values = untied_values(case.values, arch, untied)
    split_model = build_with(adapter, untied, seed, split_values)
    for model in (tied_model, split_model):
        adapter.zero_grad(model)
        adapter.backward(model, case.x, case.upstream)
    split = adapter.read_grads(split_model, untied)
    tol = grad_tolerance(adapter, untied, split_values, case.x, case.upstream)
    # the untied use at the same place as each use of the shared model
    twin = {tu.path: uu.path for tu, uu in zip(arch.dense_uses(), untied.dense_uses())}
    for ref, positions in arch.shared_params().items():
        kind = ref[1]
        got = adapter.grad(adapter.param_at(tied_model, *ref))
        assert got is not None, f"no gradient on {describe_sharing(arch, ref)}"

        def part(table, pos, kind=kind):
            v = table[(twin[pos.path], kind)]
            return v.T if pos.transposed else v

        want = sum(adapter.to_native(kind, part(split, pos)) for pos in positions)
        bound = sum(adapter.to_native(kind, part(tol, pos)) for pos in positions)
        assert_close(
            got, want, bound,
            f"gradient of {describe_sharing(arch, ref)} vs the sum over its {len(positions)} uses"
        )


def _sgd_check(adapter, model, arch, case, lr: float, what: str) -> None:
    adapter.zero_grad(model)
    adapter.backward(model, case.x, case.upstream)
    before = {ref: adapter.read(adapter.param_at(model, *ref)) for ref in arch.param_refs()}
    grads = {ref: adapter.grad(adapter.param_at(model, *ref)) for ref in arch.param_refs()}
    for ref, positions in arch.shared_params().items():
        seen = [adapter.grad(adapter.param_at(model, pos.path, pos.kind)) for pos in positions]
        assert all(np.array_equal(g, seen[0]) for g in seen), (
            f"{what}: the positions of {describe_sharing(arch, ref)} see different gradients"
        )
    # Scale the step so no entry moves by more than lr: training stays finite,
    # and "updated once" is still told apart from "updated twice".
    largest = max(float(np.abs(g).max()) for g in grads.values() if g is not None and g.size)
    lr = lr / max(1.0, largest)
    adapter.sgd_step(model, lr)
    for ref, w in before.items():
        g = grads[ref]
        assert g is not None, f"{what}: no gradient for {ref[1]} at {ref[0]}"
        want = w.astype(np.float64) - lr * g.astype(np.float64)
        got = adapter.read(adapter.param_at(model, *ref))
        # one float32 rounding of w - lr*g, and of lr*g: a few ulps of each term
        tol = 4 * np.finfo(np.float32).eps * (np.abs(w) + np.abs(lr * g)) + np.finfo(np.float32).tiny
        assert_close(
            got, want, tol, f"{what}: {ref[1]} at {ref[0]} after one SGD step (lr={lr!r}) vs W - lr*g"
        )


@pytest.mark.clause("tied.single-step")
@property_settings
@given(case=cases(TIED), lr=st.floats(1e-3, 1.0), seed=seeds())
@example(case=chapter_case(CHAPTER_TIED), lr=0.5, seed=0)
@example(case=chapter_case(MXNET_SHARED), lr=0.5, seed=0)
def test_one_step_updates_a_tied_parameter_once(adapter, case, lr, seed):
    """tied.single-step: one SGD step MUST update a tied parameter once:
    W' = W - lr * g with g its summed gradient."""
    model = build_with(adapter, case.arch, seed, case.values)
    _sgd_check(adapter, model, case.arch, case, lr, "one step")


@pytest.mark.clause("tied.training-keeps-tie")
@property_settings
@given(case=cases(TIED), steps=st.integers(2, 5), lr=st.floats(1e-3, 0.5), seed=seeds())
@example(case=chapter_case(CHAPTER_TIED), steps=5, lr=0.5, seed=0)
@example(case=chapter_case(MXNET_SHARED), steps=5, lr=0.5, seed=0).via("003 练习: train a shared MLP")
def test_training_keeps_the_tie(adapter, case, steps, lr, seed):
    """tied.training-keeps-tie: over several SGD steps the shared layer MUST stay
    one object, with equal gradients at every position, each step W - lr*g."""
    model = build_with(adapter, case.arch, seed, case.values)
    for step in range(steps):
        _sgd_check(adapter, model, case.arch, case, lr, f"step {step + 1}")
        _assert_tied(adapter, model, case.arch, f"after step {step + 1}")


@pytest.mark.clause("tied.save-load-keeps-tie")
@property_settings
@given(arch=TIED, seeds_=st.tuples(seeds(), seeds()), value=float32s(bound=100.0), pick=mode_picks())
@example(arch=CHAPTER_TIED, seeds_=(0, 1), value=100.0, pick=None)
@example(arch=MXNET_SHARED, seeds_=(0, 1), value=100.0, pick=None)
@example(arch=TIED_AUTOENCODER, seeds_=(0, 1), value=100.0, pick=None)
def test_ties_survive_save_and_load(adapter, arch, seeds_, value, pick):
    """tied.save-load-keeps-tie: after loading saved weights into a fresh model,
    in every documented loading mode, a shared parameter MUST still be one
    object (of either kind of sharing). A drawn example exercises one mode
    (``pick``), an explicit one every mode."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights"
        adapter.save_weights(build(adapter, arch, seeds_[0]), path)  # once: every mode reads the same file
        for mode in picked(adapter.facts.load_modes, pick):
            model = adapter.load_weights(build(adapter, arch, seeds_[1]), path, mode)
            _assert_tied(adapter, model, arch, f"after loading in mode {mode!r}")
            _assert_writes_reach_every_position(adapter, model, arch, value, f"mode {mode!r}")


def _assert_writes_reach_every_position(adapter, model, arch, value, what: str) -> None:
    for ref, positions in arch.shared_params().items():
        index = (0, 0) if ref[1] == "weight" else (0,)
        via = positions[0]
        adapter.assign(adapter.param_at(model, via.path, via.kind), index, np.float32(value))
        for pos in positions[1:]:
            got = adapter.read(adapter.param_at(model, pos.path, pos.kind))[index]
            assert got == np.float32(value), (
                f"{what}: wrote {value!r} through {positions[0].path} into {describe_sharing(arch, ref)}; "
                f"{pos.path} reads {got!r}"
            )


@pytest.mark.clause("tied.distinct-layers-share-params")
@pytest.mark.requires("param_sharing")
@property_settings
@given(case=cases(SHARING), value=float32s(bound=100.0), seed=seeds())
@example(case=chapter_case(MXNET_SHARED), value=100.0, seed=0)
@example(case=chapter_case(TIED_AUTOENCODER), value=100.0, seed=0)
def test_distinct_layers_share_only_what_they_share(adapter, case, value, seed):
    """tied.distinct-layers-share-params: a layer made with another layer's
    parameters MUST be a layer object of its own, at its own position, holding
    the very parameter objects it was given and its own parameters otherwise;
    a write to a parameter it does not share MUST not reach the other layer."""
    arch = case.arch
    model = build_with(adapter, arch, seed, case.values)
    for use in arch.dense_uses():
        if not use.node.shares:
            continue
        layer = adapter.block_at(model, use.path)
        src_path = (use.weight_ref if use.node.weight_of is not None else use.bias_ref)[0]
        source = adapter.block_at(model, src_path)
        assert layer is not source, (
            f"the layer at {use.path} is the object at {src_path}, not a layer of its own"
        )
        for kind in ("weight", "bias"):
            mine = adapter.param_at(model, use.path, kind)
            theirs = adapter.param_at(model, src_path, kind)
            if use.ref(kind)[0] == src_path:
                assert adapter.same(mine, theirs), (
                    f"the {kind} of the layer at {use.path} was taken from the layer at {src_path} "
                    "but is not that object"
                )
                continue
            assert not adapter.same(mine, theirs), (
                f"the layer at {use.path} shares only its {'bias' if kind == 'weight' else 'weight'} with "
                f"the layer at {src_path}, yet its {kind} is that layer's too"
            )
            index = (0,) * (2 if kind == "weight" else 1)
            before = adapter.read(theirs)[index]
            new = np.float32(value) if np.float32(value) != before else np.float32(value) + np.float32(1)
            adapter.assign(mine, index, new)
            after = adapter.read(theirs)[index]
            assert after == before, (
                f"a write of {new!r} into the own {kind} of the layer at {use.path} changed the {kind} of "
                f"the layer at {src_path} from {before!r} to {after!r}"
            )
    assert_forward_is_function_of_params(adapter, model, arch, case.x,
                                         "forward output with shared parameters")


#: What the two repeated-layer clauses are about: a layer twice in one
#: container, drawn whatever the framework makes of it.
REPEATED = architectures(require_tie=True, repeat_in_container=True)


@pytest.mark.clause("tied.repeated-layer-kept")
@property_settings
@given(case=cases(REPEATED), seed=seeds())
@example(case=chapter_case(KERAS_TIED), seed=0)
@example(case=chapter_case(CHAPTER_TIED), seed=0)
def test_repeated_layer_is_listed_and_applied_at_every_position(adapter, case, seed):
    """tied.repeated-layer-kept: a layer given at two positions MUST be counted at
    both, and applied at both in the forward pass."""
    arch = case.arch
    model = build(adapter, arch, seed, as_given=True)
    n = adapter.num_children(model)
    assert n == len(arch.root.children), f"the model lists {n} layers; {len(arch.root.children)} were given"
    adapter.write_params(model, case.values)
    assert_forward_is_function_of_params(adapter, model, arch, case.x,
                                         "forward output, shared layer at every position")


@pytest.mark.clause("tied.repeated-layer-deduplicated")
@property_settings
@given(arch=REPEATED, seed=seeds())
@example(arch=KERAS_TIED, seed=0)
def test_repeated_layer_is_listed_once(adapter, arch, seed):
    """tied.repeated-layer-deduplicated: a Sequential given the same layer twice
    MUST list it once (`len(net.layers) == 3` for the chapter's network)."""
    assume(any(u.path[:-1] == () and not u.first_use for u in arch.dense_uses()))
    seen, distinct = set(), 0
    for i, child in enumerate(arch.root.children):
        key = getattr(child, "tie", None) or f"@{i}"
        distinct += key not in seen
        seen.add(key)
    n = adapter.num_children(build(adapter, arch, seed, as_given=True))
    assert n == distinct, (
        f"the model lists {n} layers; {distinct} distinct layers were given "
        f"({len(arch.root.children)} positions)"
    )
