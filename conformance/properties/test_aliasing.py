"""Properties of specs/aliasing.md."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, reject
from hypothesis import strategies as st

from conformance.adapters.base import Unbuildable
from conformance.properties._support import (
    assert_same_values,
    assert_shared,
    build,
    build_with,
)
from conformance.strategies import (
    CHAPTER_LINEAR,
    CHAPTER_MLP,
    CHAPTER_TIED,
    MXNET_SHARED,
    architectures,
    cases,
    chapter_case,
    distinct_seeds,
    mode_picks,
    picked,
    property_settings,
    seeds,
)

#: Every kind of network the framework builds: ties of both kinds, user-defined layers.
ANY = architectures(share_params=None, custom=None)


def _mark(adapter, param, what: str) -> tuple[tuple[int, ...], np.float32]:
    """Write a value into entry 0 of ``param`` that differs from what is there
    and from what the same entry of a copy could hold by chance; returns the
    index and the value written."""
    value = adapter.read(param)
    index = (0,) * value.ndim
    new = np.float32(value[index]) + np.float32(1.5)
    adapter.assign(param, index, new)
    got = adapter.read(param)[index]
    assert got == new, f"{what}: writing {new!r} at {list(index)} reads back {got!r}"
    return index, new


def _assert_independent(adapter, a, b, arch, aliased: bool, what: str, a_name: str, b_name: str) -> None:
    """Writes into each parameter of ``a`` are seen in ``b`` exactly when
    ``aliased``; when not aliased, writes into ``b`` are not seen in ``a`` either."""
    for ref in arch.param_refs():
        pa, pb = adapter.param_at(a, *ref), adapter.param_at(b, *ref)
        if not aliased:
            assert not adapter.same(pa, pb), (
                f"{what}: the {ref[1]} at {ref[0]} of {b_name} is {a_name}'s object"
            )
        before_b = adapter.read(pb)
        index, new = _mark(adapter, pa, f"{what}, {a_name}")
        seen = adapter.read(pb)[index]
        if aliased:
            assert seen == new, (
                f"{what} is documented to alias: wrote {new!r} into the {ref[1]} at {ref[0]} of {a_name}, "
                f"{b_name} reads {seen!r}"
            )
            continue
        assert_same_values(adapter.read(pb), before_b,
                           f"{what}: {b_name}'s {ref[1]} at {ref[0]} after a write into {a_name}'s")
        before_a = adapter.read(pa)
        _mark(adapter, pb, f"{what}, {b_name}")
        assert_same_values(adapter.read(pa), before_a,
                           f"{what}: {a_name}'s {ref[1]} at {ref[0]} after a write into {b_name}'s")


def _assert_same_params(adapter, got, want, arch, what: str) -> None:
    mine, theirs = adapter.read_params(got, arch), adapter.read_params(want, arch)
    for ref, v in theirs.items():
        assert_same_values(mine[ref], v, f"{what}: {ref[1]} at {ref[0]}")


@pytest.mark.clause("aliasing.copy-independent")
@pytest.mark.requires("model_copy")
@property_settings
@given(case=cases(ANY), seed=seeds(), pick=mode_picks())
@example(case=chapter_case(CHAPTER_TIED), seed=0, pick=None)
@example(case=chapter_case(MXNET_SHARED), seed=0, pick=None)
@example(case=chapter_case(CHAPTER_LINEAR), seed=0, pick=None)
def test_a_copy_is_independent_of_its_source(adapter, case, seed, pick):
    """aliasing.copy-independent: a model copied by a documented operation
    MUST equal its source, keep its ties, and share no parameter object with
    it (a write to either not seen in the other) unless documented to alias.
    A drawn example exercises one operation (``pick``), an explicit one every operation."""
    arch = case.arch
    copied = 0
    for op in picked(adapter.facts.copy_ops, pick):
        source = build_with(adapter, arch, seed, case.values)
        try:
            copy = adapter.copy_model(source, op)
        except Unbuildable:
            continue  # the operation's documentation refuses this kind of model
        copied += 1
        what = f"copy by {op!r}"
        _assert_same_params(adapter, copy, source, arch, what)
        assert_shared(adapter, copy, arch, what)
        aliased = op in adapter.facts.aliasing
        _assert_independent(adapter, source, copy, arch, aliased, what, "the source", "the copy")
    if not copied:
        reject()


@pytest.mark.clause("aliasing.load-state-independent")
@pytest.mark.requires("in_memory_state")
@property_settings
@given(case=cases(ANY), seeds_=st.tuples(seeds(), seeds()), pick=mode_picks())
@example(case=chapter_case(CHAPTER_TIED), seeds_=(0, 1), pick=None)
@example(case=chapter_case(MXNET_SHARED), seeds_=(0, 1), pick=None)
def test_a_model_loaded_from_a_state_is_independent_of_its_source(adapter, case, seeds_, pick):
    """aliasing.load-state-independent: B loaded from A's state MUST hold A's
    values with its ties, and be independent of A unless the mode is documented
    to alias (then a write to A MUST be seen in B). A drawn example exercises
    one mode (``pick``), an explicit one every mode."""
    arch = case.arch
    for mode in picked(adapter.facts.state_load_modes, pick):
        source = build_with(adapter, arch, seeds_[0], case.values)
        state = adapter.get_state(source)
        loaded = adapter.load_state(build(adapter, arch, seeds_[1]), state, mode)
        what = f"loading the state in mode {mode!r}"
        _assert_same_params(adapter, loaded, source, arch, what)
        assert_shared(adapter, loaded, arch, what)
        _assert_independent(adapter, source, loaded, arch, mode in adapter.facts.aliasing, what,
                            "the source", "the loaded model")


def _loads(adapter, pick: int | None) -> tuple[list[str], list[str]]:
    """(in-memory state modes, weights-file modes) an example exercises: all
    of them for an explicit example (``pick`` None), else the one way of
    loading ``pick`` chooses among them all (:func:`conformance.strategies.picked`)."""
    ways = [("state", m) for m in adapter.facts.state_load_modes
            if "in_memory_state" in adapter.facts.capabilities]
    ways += [("file", m) for m in adapter.facts.load_modes]
    chosen = picked(ways, pick)
    return [m for k, m in chosen if k == "state"], [m for k, m in chosen if k == "file"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _disturb(adapter, model, arch, case) -> None:
    """Write into every parameter of ``model`` and train it one step."""
    for ref in arch.param_refs():
        _mark(adapter, adapter.param_at(model, *ref), "disturbing the loaded model")
    adapter.zero_grad(model)
    adapter.backward(model, case.x, case.upstream)
    adapter.sgd_step(model, 0.1)


@pytest.mark.clause("aliasing.load-leaves-state-unchanged")
@property_settings
@given(case=cases(ANY), seeds_=st.tuples(seeds(), seeds()), pick=mode_picks())
@example(case=chapter_case(CHAPTER_TIED), seeds_=(0, 1), pick=None)
@example(case=chapter_case(MXNET_SHARED), seeds_=(0, 1), pick=None)
def test_loading_leaves_its_input_unchanged(adapter, case, seeds_, pick):
    """aliasing.load-leaves-state-unchanged: loading MUST NOT modify the state
    object or the file it was given, neither while loading nor when the loaded
    model is then written to and trained (unless the mode is documented to alias).
    A drawn example exercises one way of loading (``pick``), an explicit one every way."""
    arch = case.arch
    source = build_with(adapter, arch, seeds_[0], case.values)
    state_modes, file_modes = _loads(adapter, pick)
    for mode in state_modes:
        state = adapter.get_state(source)
        before = adapter.state_arrays(state)
        loaded = adapter.load_state(build(adapter, arch, seeds_[1]), state, mode)
        _assert_state_is(adapter, state, before, f"the state object after loading it in mode {mode!r}")
        if mode in adapter.facts.aliasing:
            continue  # documented: the loaded model holds the state's arrays
        _disturb(adapter, loaded, arch, case)
        _assert_state_is(adapter, state, before,
                         f"the state object after writing to and training the model "
                         f"loaded in mode {mode!r}")
    if not file_modes:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights"
        adapter.save_weights(source, path)
        files = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
        digests = {p: _digest(p) for p in files}
        for mode in file_modes:
            loaded = adapter.load_weights(build(adapter, arch, seeds_[1]), path, mode)
            _disturb(adapter, loaded, arch, case)
            changed = [str(p.relative_to(tmp)) for p in files if not p.is_file() or _digest(p) != digests[p]]
            assert not changed, f"the weights files {changed} changed after loading them in mode {mode!r}"


def _assert_state_is(adapter, state, before, what: str) -> None:
    after = adapter.state_arrays(state)
    assert [k for k, _ in after] == [k for k, _ in before], (
        f"{what}: its keys changed from {[k for k, _ in before]} to {[k for k, _ in after]}"
    )
    for (key, v0), (_, v1) in zip(before, after):
        assert_same_values(v1, v0, f"{what}: entry {key!r}")


@pytest.mark.clause("aliasing.load-twice-same")
@property_settings
@given(case=cases(ANY), seeds_=distinct_seeds(3), pick=mode_picks())
@example(case=chapter_case(CHAPTER_MLP), seeds_=(0, 1, 2), pick=None)
@example(case=chapter_case(CHAPTER_TIED), seeds_=(0, 1, 2), pick=None)
@example(case=chapter_case(MXNET_SHARED), seeds_=(0, 1, 2), pick=None)
def test_loading_the_same_state_twice_gives_the_same_model(adapter, case, seeds_, pick):
    """aliasing.load-twice-same: one file (one state object) loaded into two
    fresh models MUST give equal, independent models with their ties, and
    loading it again into the first MUST leave it as it was. A drawn example
    exercises one way of loading (``pick``), an explicit one every way."""
    arch = case.arch
    source = build_with(adapter, arch, seeds_[0], case.values)

    def check(load, what: str, aliased: bool) -> None:
        first = load(build(adapter, arch, seeds_[1]))
        second = load(build(adapter, arch, seeds_[2]))
        _assert_same_params(adapter, second, first, arch, f"{what}: the second model vs the first")
        assert_same_values(adapter.forward(second, case.x), adapter.forward(first, case.x),
                           f"{what}: forward output of the second model vs the first")
        for m, name in ((first, "first"), (second, "second")):
            assert_shared(adapter, m, arch, f"{what}, {name} model")
        snapshot = adapter.read_params(first, arch)
        again = load(first)
        for ref, v in adapter.read_params(again, arch).items():
            assert_same_values(v, snapshot[ref], f"{what} again into the first model: {ref[1]} at {ref[0]}")
        assert_shared(adapter, again, arch, f"{what} again into the first model")
        if not aliased:
            _assert_independent(adapter, again, second, arch, False, what, "the first model", "the second")

    state_modes, file_modes = _loads(adapter, pick)
    for mode in state_modes:
        state = adapter.get_state(source)
        check(lambda m, s=state, md=mode: adapter.load_state(m, s, md),
              f"loading one state object in mode {mode!r}", mode in adapter.facts.aliasing)
    if not file_modes:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights"
        adapter.save_weights(source, path)
        for mode in file_modes:
            check(lambda m, md=mode: adapter.load_weights(m, path, md),
                  f"loading one weights file in mode {mode!r}", False)
