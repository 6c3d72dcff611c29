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
    build,
    build_with,
    grad_tolerance,
    relu_margin_ok,
    untied_values,
)
from conformance.strategies import (
    CHAPTER_TIED,
    KERAS_TIED,
    architectures,
    cases,
    chapter_case,
    float32s,
    property_settings,
    seeds,
)

TIED = architectures(require_tie=True)


def _assert_tied(adapter, model, arch, what: str) -> None:
    for key, uses in arch.tied_groups().items():
        for kind in ("weight", "bias"):
            first = adapter.param_at(model, uses[0].path, kind)
            for use in uses[1:]:
                assert adapter.same(adapter.param_at(model, use.path, kind), first), (
                    f"{what}: {kind} of shared layer {key!r} at {use.path} "
                    f"is not the object at {uses[0].path}"
                )


@pytest.mark.clause("tied.one-object")
@property_settings
@given(arch=TIED, seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
@example(arch=KERAS_TIED, seed=0)
def test_shared_layer_is_one_object(adapter, arch, seed):
    """tied.one-object: the parameters reached through each position of a
    shared layer MUST be the same object."""
    _assert_tied(adapter, build(adapter, arch, seed), arch, "freshly built")


@pytest.mark.clause("tied.write-through")
@property_settings
@given(case=cases(TIED), value=float32s(bound=100.0), seed=seeds(), data=st.data())
def test_write_through_one_position_is_seen_everywhere(adapter, case, value, seed, data):
    """tied.write-through: writing an entry through one position MUST be visible
    through every other and used by the forward pass at every use."""
    _write_through(adapter, case, value, seed, data.draw(st.integers(0, 2**16), label="pick"))


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
    groups = list(arch.tied_groups().values())
    uses = groups[pick % len(groups)]
    via = uses[pick // len(groups) % len(uses)]
    adapter.assign(adapter.param_at(model, via.path, "weight"), (0, 0), np.float32(value))
    for use in uses:
        w = adapter.read(adapter.param_at(model, use.path, "weight"))
        assert w[0, 0] == np.float32(value), (
            f"wrote {value!r} at [0, 0] through {via.path}; position {use.path} reads {w[0, 0]!r}"
        )
    assert_forward_is_function_of_params(adapter, model, arch, case.x, "forward output after the write")


@pytest.mark.clause("tied.listing-once")
@property_settings
@given(arch=TIED, seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
def test_listing_shows_a_tied_parameter_once(adapter, arch, seed):
    """tied.listing-once: the all-parameters listing MUST show a shared
    parameter exactly once, at its first use."""
    # Order within a layer is naming.listing-order's business, not this clause's.
    assert_listing_is_each_parameter_once(adapter, build(adapter, arch, seed), arch, weight_first=False)


@pytest.mark.clause("tied.state-dict-every-key")
@property_settings
@given(arch=TIED, seed=seeds())
@example(arch=CHAPTER_TIED, seed=0)
def test_state_dict_keeps_every_position(adapter, arch, seed):
    """tied.state-dict-every-key: the state dict MUST keep one key per position
    of a shared parameter, each holding the shared value."""
    model = build(adapter, arch, seed)
    sd = adapter.state_dict(model)
    uses = arch.dense_uses()
    assert len(sd) == 2 * len(uses), (
        f"state dict has {len(sd)} keys ({[k for k, _ in sd]}) for {len(uses)} dense positions"
    )
    for key, group in arch.tied_groups().items():
        shared = adapter.read(adapter.param_at(model, group[0].path, "weight"))
        holding = [k for k, v in sd if v.shape == shared.shape and np.array_equal(v, shared)]
        assert len(holding) >= len(group), (
            f"shared weight {key!r} is used at {len(group)} positions but held by keys {holding}"
        )


@pytest.mark.clause("tied.gradients-summed")
@property_settings
@given(case=cases(TIED), seed=seeds())
@example(case=chapter_case(CHAPTER_TIED), seed=0)
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
    for key, uses in arch.tied_groups().items():
        for kind in ("weight", "bias"):
            got = adapter.grad(adapter.param_at(tied_model, uses[0].path, kind))
            assert got is not None, f"no gradient on shared {kind} {key!r}"
            parts = [split[(uu.path, kind)] for tu, uu in zip(arch.dense_uses(), untied.dense_uses())
                     if tu.key == key]
            want = sum(adapter.to_native(kind, p) for p in parts)
            bound = sum(adapter.to_native(kind, tol[(uu.path, kind)])
                        for tu, uu in zip(arch.dense_uses(), untied.dense_uses()) if tu.key == key)
            assert_close(
                got, want, bound, f"gradient of shared {kind} {key!r} vs the sum over its {len(uses)} uses"
            )


def _sgd_check(adapter, model, arch, case, lr: float, what: str) -> None:
    adapter.zero_grad(model)
    adapter.backward(model, case.x, case.upstream)
    before = {ref: adapter.read(adapter.param_at(model, *ref)) for ref in arch.param_refs()}
    grads = {ref: adapter.grad(adapter.param_at(model, *ref)) for ref in arch.param_refs()}
    for key, uses in arch.tied_groups().items():
        for kind in ("weight", "bias"):
            seen = [adapter.grad(adapter.param_at(model, u.path, kind)) for u in uses]
            assert all(np.array_equal(g, seen[0]) for g in seen), (
                f"{what}: positions of {key!r} see different gradients"
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
def test_one_step_updates_a_tied_parameter_once(adapter, case, lr, seed):
    """tied.single-step: one SGD step MUST update a tied parameter once:
    W' = W - lr * g with g its summed gradient."""
    model = build_with(adapter, case.arch, seed, case.values)
    _sgd_check(adapter, model, case.arch, case, lr, "one step")


@pytest.mark.clause("tied.training-keeps-tie")
@property_settings
@given(case=cases(TIED), steps=st.integers(2, 5), lr=st.floats(1e-3, 0.5), seed=seeds())
@example(case=chapter_case(CHAPTER_TIED), steps=5, lr=0.5, seed=0)
def test_training_keeps_the_tie(adapter, case, steps, lr, seed):
    """tied.training-keeps-tie: over several SGD steps the shared layer MUST stay
    one object, with equal gradients at every position, each step W - lr*g."""
    model = build_with(adapter, case.arch, seed, case.values)
    for step in range(steps):
        _sgd_check(adapter, model, case.arch, case, lr, f"step {step + 1}")
        _assert_tied(adapter, model, case.arch, f"after step {step + 1}")


@pytest.mark.clause("tied.save-load-keeps-tie")
@property_settings
@given(arch=TIED, seeds_=st.tuples(seeds(), seeds()), value=float32s(bound=100.0))
@example(arch=CHAPTER_TIED, seeds_=(0, 1), value=100.0)
def test_ties_survive_save_and_load(adapter, arch, seeds_, value):
    """tied.save-load-keeps-tie: after loading saved weights into a fresh model,
    in every documented loading mode, a shared layer MUST still be one object."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights"
        adapter.save_weights(build(adapter, arch, seeds_[0]), path)  # once: every mode reads the same file
        for mode in adapter.facts.load_modes:
            model = adapter.load_weights(build(adapter, arch, seeds_[1]), path, mode)
            _assert_tied(adapter, model, arch, f"after loading in mode {mode!r}")
            for uses in arch.tied_groups().values():
                adapter.assign(adapter.param_at(model, uses[0].path, "weight"), (0, 0), np.float32(value))
                for use in uses[1:]:
                    got = adapter.read(adapter.param_at(model, use.path, "weight"))[0, 0]
                    assert got == np.float32(value), (
                        f"mode {mode!r}: wrote {value!r} through {uses[0].path}, {use.path} reads {got!r}"
                    )


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
