"""Properties of specs/assignment.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from conformance.properties._support import (
    assert_close,
    assert_forward_is_function_of_params,
    assert_same_values,
    build,
    build_with,
    grad_tolerance,
    relu_margin_ok,
)
from conformance.reference import functional
from conformance.strategies import (
    CHAPTER_MLP,
    KERAS_MLP,
    cases,
    chapter_case,
    float32s,
    index_into,
    property_settings,
    seeds,
)


def _pick_weight(adapter, model, case, pick: int):
    layers = case.arch.dense_layers()
    use = layers[pick % len(layers)]
    return use, adapter.param_at(model, use.path, "weight")


@pytest.mark.clause("assignment.slice")
@property_settings
@given(case=cases(), pick=st.integers(0, 2**16), delta=float32s(), seed=seeds(), data=st.data())
def test_slice_assignment_is_seen_by_the_model(adapter, case, pick, delta, seed, data):
    """assignment.slice: `data[index] += delta` through the documented idiom MUST
    change the parameter itself: read back and used by the forward pass."""
    _slice_add(adapter, case, pick, delta, seed, data)


@pytest.mark.clause("assignment.slice")
@property_settings
@given(seed=seeds())
@example(seed=0)
def test_chapter_slice_assignment(adapter, seed):
    """assignment.slice on the chapter's `net[0].weight.data[:] += 1`."""
    case = chapter_case(CHAPTER_MLP, seed=seed)
    model = build_with(adapter, case.arch, seed, case.values)
    use, w = _pick_weight(adapter, model, case, 0)
    old = adapter.read(w)
    adapter.assign(w, (slice(None),), old + np.float32(1))
    assert_same_values(adapter.read(w), old + np.float32(1), "net[0].weight after data[:] += 1")
    assert_forward_is_function_of_params(
        adapter, model, case.arch, case.x, "forward output after data[:] += 1"
    )


def _slice_add(adapter, case, pick, delta, seed, data):
    model = build_with(adapter, case.arch, seed, case.values)
    use, w = _pick_weight(adapter, model, case, pick)
    old = adapter.read(w)
    index = data.draw(index_into(old.shape), label="slice index")
    new = old.copy()
    new[index] = old[index] + np.float32(delta)
    adapter.assign(w, index, new[index])
    assert_same_values(adapter.read(w), new, f"weight at {use.path} after data[{index}] += {delta!r}")
    assert_forward_is_function_of_params(
        adapter, model, case.arch, case.x, f"forward output after data[{index}] += {delta!r}"
    )


@pytest.mark.clause("assignment.element")
@property_settings
@given(case=cases(), pick=st.integers(0, 2**16), value=float32s(bound=100.0), seed=seeds(), data=st.data())
def test_element_assignment_changes_exactly_that_entry(adapter, case, pick, value, seed, data):
    """assignment.element: `data[i, j] = v` MUST set exactly that entry, and the
    forward output MUST use it."""
    model = build_with(adapter, case.arch, seed, case.values)
    use, w = _pick_weight(adapter, model, case, pick)
    old = adapter.read(w)
    i = data.draw(st.tuples(*(st.integers(0, n - 1) for n in old.shape)), label="element")
    adapter.assign(w, i, np.float32(value))
    new = old.copy()
    new[i] = np.float32(value)
    assert_same_values(adapter.read(w), new, f"weight at {use.path} after data[{i}] = {value!r}")
    assert_forward_is_function_of_params(
        adapter, model, case.arch, case.x, f"forward output after data[{i}] = {value!r}"
    )


@pytest.mark.clause("assignment.whole-value")
@property_settings
@given(case=cases(), seed=seeds())
@example(case=chapter_case(KERAS_MLP), seed=0)
def test_whole_value_write_keeps_the_object(adapter, case, seed):
    """assignment.whole-value: replacing a parameter's value (set_data) MUST keep
    the same parameter object, and reads and the forward pass MUST see it."""
    arch = case.arch
    model = build(adapter, arch, seed)
    objects = {ref: adapter.param_at(model, *ref) for ref in arch.param_refs()}
    for (path, kind), v in case.values.items():
        adapter.write(objects[(path, kind)], adapter.to_native(kind, v))
    for ref, p in objects.items():
        assert adapter.same(adapter.param_at(model, *ref), p), (
            f"{ref[1]} at {ref[0]} is a new object after write"
        )
        assert_same_values(adapter.to_canonical(ref[1], adapter.read(p)), case.values[ref],
                           f"{ref[1]} at {ref[0]} after write")
    assert_forward_is_function_of_params(
        adapter, model, arch, case.x, "forward output after writing every parameter"
    )


@pytest.mark.clause("assignment.then-gradients")
@property_settings
@given(case=cases(), seed=seeds())
@example(case=chapter_case(CHAPTER_MLP), seed=0)
def test_gradients_after_a_write_are_at_the_new_values(adapter, case, seed):
    """assignment.then-gradients: after a direct write, forward and backward
    MUST give the gradients at the new values."""
    arch = case.arch
    model = build(adapter, arch, seed)
    adapter.backward(model, case.x, case.upstream)  # gradients at the old values, recorded first
    adapter.zero_grad(model)
    adapter.write_params(model, case.values)
    tol = grad_tolerance(adapter, arch, case.values, case.x, case.upstream)
    assume(relu_margin_ok(adapter, arch, case.values, case.x))
    adapter.backward(model, case.x, case.upstream)
    want = functional.grads(arch, case.values, case.x, case.upstream)
    for key, g in adapter.read_grads(model, arch).items():
        assert g is not None, f"no gradient for {key[1]} at {key[0]} after backward"
        assert_close(g, want[key], tol[key], f"gradient of {key[1]} at {key[0]} after writing new values")
