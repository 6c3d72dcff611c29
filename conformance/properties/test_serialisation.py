"""Properties of specs/serialisation.md."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from conformance.adapters.base import NotApplicable
from conformance.properties._support import assert_same_values, assert_shared, build
from conformance.strategies import (
    CHAPTER_LINEAR,
    CHAPTER_MLP,
    CHAPTER_TIED,
    MXNET_SHARED,
    NESTED_CUSTOM,
    TIED_ACROSS_BLOCKS,
    TIED_AUTOENCODER,
    architectures,
    cases,
    chapter_case,
    property_settings,
    seeds,
)


@pytest.mark.clause("serialisation.weights-round-trip")
@property_settings
@given(arch=architectures(share_params=None, custom=None), seeds_=st.tuples(seeds(), seeds()))
@example(arch=CHAPTER_MLP, seeds_=(0, 1))
@example(arch=CHAPTER_TIED, seeds_=(0, 1))
@example(arch=MXNET_SHARED, seeds_=(0, 1))
@example(arch=NESTED_CUSTOM, seeds_=(0, 1))
def test_saved_weights_load_back_exactly(adapter, arch, seeds_):
    """serialisation.weights-round-trip: loading saved weights into a fresh,
    differently initialised model MUST restore every parameter bit for bit, in
    every documented loading mode."""
    assume(seeds_[0] != seeds_[1])
    source = build(adapter, arch, seeds_[0])
    saved = adapter.read_params(source, arch)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights"
        adapter.save_weights(source, path)  # once: every mode reads the same file
        for mode in adapter.facts.load_modes:
            model = adapter.load_weights(build(adapter, arch, seeds_[1]), path, mode)
            for key, v in adapter.read_params(model, arch).items():
                assert_same_values(v, saved[key], f"{key[1]} at {key[0]} after loading in mode {mode!r}")


@pytest.mark.clause("serialisation.whole-model")
@pytest.mark.requires("whole_model_save")
@property_settings
@given(case=cases(architectures(share_params=None, custom=None)), seed=seeds())
@example(case=chapter_case(CHAPTER_TIED), seed=0)
@example(case=chapter_case(TIED_ACROSS_BLOCKS), seed=0)
@example(case=chapter_case(MXNET_SHARED), seed=0)
@example(case=chapter_case(TIED_AUTOENCODER), seed=0)
@example(case=chapter_case(CHAPTER_LINEAR), seed=0)
def test_whole_saved_model_computes_the_same_function(adapter, case, seed):
    """serialisation.whole-model: a loaded whole model MUST compute the same
    function bit for bit, with shared layers still shared."""
    arch = case.arch
    model = build(adapter, arch, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        adapter.save_model(model, path)
        try:
            loaded = adapter.load_model(path)
        except NotApplicable:
            raise
        except Exception as exc:  # the framework's own load of its own file: part of the clause
            raise AssertionError(
                f"loading the saved whole model failed: {type(exc).__name__}: {str(exc).strip()}"
            ) from exc
    assert_same_values(adapter.forward(loaded, case.x), adapter.forward(model, case.x),
                       "forward output of the loaded model vs the saved one")
    assert_shared(adapter, loaded, arch, "after loading the whole model")
