"""Properties of specs/serialisation.md."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
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
    distinct_seeds,
    mode_picks,
    picked,
    property_settings,
    seeds,
)


@pytest.mark.clause("serialisation.weights-round-trip")
@property_settings
@given(arch=architectures(share_params=None, custom=None), seeds_=distinct_seeds(2), pick=mode_picks())
@example(arch=CHAPTER_MLP, seeds_=(0, 1), pick=None)
@example(arch=CHAPTER_TIED, seeds_=(0, 1), pick=None)
@example(arch=MXNET_SHARED, seeds_=(0, 1), pick=None)
@example(arch=NESTED_CUSTOM, seeds_=(0, 1), pick=None)
def test_saved_weights_load_back_exactly(adapter, arch, seeds_, pick):
    """serialisation.weights-round-trip: loading saved weights into a fresh,
    differently initialised model MUST restore every parameter bit for bit, in
    every documented loading mode. A drawn example exercises one mode
    (``pick``), an explicit one every mode."""
    source = build(adapter, arch, seeds_[0])
    saved = adapter.read_params(source, arch)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights"
        adapter.save_weights(source, path)  # once: every mode reads the same file
        for mode in picked(adapter.facts.load_modes, pick):
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


@pytest.fixture
def checkpoints(request, adapter):
    """The manifest of the files another release saved (``--checkpoints-from
    DIR``) and DIR, where the installed release is documented to load them;
    the clause is not applicable otherwise, saying why."""
    from conformance import crossversion

    directory = request.config.option.conformance_checkpoints_from
    if not directory:
        raise NotApplicable(
            "needs the files of another release (--checkpoints-from DIR, written by `python -m "
            "conformance.crossversion save` there); `conformance cross-version` runs it for pairs of releases"
        )
    manifest = crossversion.read_manifest(Path(directory))
    kinds = [k for k in ("weights", "model") if crossversion.promised(adapter, manifest, k) is None]
    if not kinds:
        raise NotApplicable(crossversion.promised(adapter, manifest, "weights") or "no promise")
    saved = [e for e in manifest["cases"] if e["saved"] and crossversion.buildable(adapter,
             crossversion.CASES[e["case"]]) is None]
    if not saved:
        raise NotApplicable(f"{manifest['framework']['version']} saved no network this release can build")
    return Path(directory), manifest, kinds, saved


@pytest.mark.clause("serialisation.across-releases")
@pytest.mark.requires("cross_version_checkpoints")
@property_settings
@given(data=st.data())
def test_files_of_another_release_load_the_same(adapter, checkpoints, data):
    """serialisation.across-releases: where the framework documents that this
    release loads what an older release saved, the weights (and whole models)
    another release saved MUST load bit for bit in every documented mode,
    compute the same function, and keep shared parameters shared."""
    from conformance import crossversion

    directory, manifest, kinds, saved = checkpoints
    entry = data.draw(st.sampled_from(saved), label="saved network")
    arch = crossversion.CASES[entry["case"]]
    batch = data.draw(st.integers(1, 4), label="batch")
    x = np.asarray(data.draw(st.lists(st.floats(-2, 2, width=32), min_size=batch * arch.input_dim,
                                      max_size=batch * arch.input_dim), label="x"),
                   dtype=np.float32).reshape(batch, arch.input_dim)
    seed = data.draw(seeds(), label="seed of the model loaded into")
    entry = {**entry, "saved_by": f"{manifest['framework']['name']} {manifest['framework']['version']}"}
    for _kind, _mode, run in crossversion.checks(adapter, directory, entry, x, kinds=kinds, seed=seed):
        run()
