"""Properties of specs/seeding.md."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from conformance.properties._support import assert_same_values, build
from conformance.strategies import (
    CHAPTER_MLP,
    architectures,
    distinct_seeds,
    property_settings,
    seeds,
)


@pytest.mark.clause("seeding.same-seed-same-values")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_same_seed_gives_identical_values(adapter, arch, seed):
    """seeding.same-seed-same-values: the same seed MUST give bit-identical
    initial values."""
    first = adapter.read_params(build(adapter, arch, seed), arch)
    second = adapter.read_params(build(adapter, arch, seed), arch)
    for key, v in first.items():
        assert_same_values(second[key], v, f"{key[1]} at {key[0]} built twice with seed {seed}")


@pytest.mark.clause("seeding.different-seeds-differ")
@property_settings
@given(arch=architectures(), seeds_=distinct_seeds(2))
@example(arch=CHAPTER_MLP, seeds_=(0, 1))
def test_different_seeds_give_different_values(adapter, arch, seeds_):
    """seeding.different-seeds-differ: different seeds MUST give different values
    for every randomly initialised parameter with at least two entries."""
    first = adapter.read_params(build(adapter, arch, seeds_[0]), arch)
    second = adapter.read_params(build(adapter, arch, seeds_[1]), arch)
    for key, v in first.items():
        random = v.size >= 2 and len(set(v.ravel().tolist())) > 1  # constant defaults (zeros) are not random
        if random:
            assert (v != second[key]).any(), f"{key[1]} at {key[0]} is identical under seeds {seeds_}"
