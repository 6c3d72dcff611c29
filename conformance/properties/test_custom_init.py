"""Properties of specs/custom-init.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from scipy import stats as sps

from conformance.adapters.base import Init
from conformance.properties._support import build
from conformance.stats import StatRecorder
from conformance.strategies import (
    CHAPTER_MLP,
    architectures,
    fans,
    one_layer,
    property_settings,
    seeds,
    statistical_settings,
)

MIXTURE = Init("mixture")
PROPORTIONS = np.array([0.25, 0.5, 0.25])  # [5, 10], {0}, [-10, -5]
MIXTURE_CHECKS = 2  # see check_mixture


def _assert_mixture_support(w: np.ndarray, what: str) -> None:
    a = np.abs(w)
    bad = (a != 0) & ((a < 5) | (a > 10))
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} entries outside {{0}} ∪ [5, 10] ∪ [-10, -5], e.g. {w[bad][:5].tolist()}"
    )


@pytest.mark.clause("custom-init.mixture")
@pytest.mark.requires("custom_initializer")
@pytest.mark.statistical(checks=MIXTURE_CHECKS)
@statistical_settings
@given(fan=fans(), seed=seeds())
def test_mixture_initialiser(adapter, stat, fan, seed):
    """custom-init.mixture: entries MUST lie in {0} ∪ [5, 10] ∪ [-10, -5] with
    proportions 1/4, 1/2, 1/4, and non-zero magnitudes i.i.d. U(5, 10)."""
    n_in, n_out = fan
    model = build(adapter, one_layer(n_in, n_out), seed)
    adapter.initialize(model, weight=MIXTURE)
    w = adapter.read(adapter.param_at(model, (0,), "weight"))
    check_mixture(stat, w, what=f"weights after the chapter's custom initialiser on Dense({n_in} -> {n_out})")


def check_mixture(stat: StatRecorder, sample: np.ndarray, *, what: str) -> None:
    """The mixture's support exactly, its category counts (Pearson chi-square)
    and its non-zero magnitudes (Kolmogorov-Smirnov against U(5, 10))."""
    w = np.asarray(sample, dtype=np.float64).ravel()
    _assert_mixture_support(w, what)
    counts = np.array([(w > 0).sum(), (w == 0).sum(), (w < 0).sum()])
    stat.chisquare(counts, PROPORTIONS, label=what + ": counts in [5, 10], {0}, [-10, -5]",
                   labels=["[5, 10]", "0", "[-10, -5]"])
    nz = np.abs(w[w != 0])
    stat.ks(nz, sps.uniform(loc=5, scale=5).cdf, label=what + ": non-zero magnitudes vs U(5, 10)")


@pytest.mark.clause("custom-init.weights-only")
@pytest.mark.requires("explicit_initialize")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_custom_initialiser_sets_weights_only(adapter, arch, seed):
    """custom-init.weights-only: a custom `_init_weight` passed to the model-wide
    initialise step MUST reach the weights only; biases keep zeros."""
    model = build(adapter, arch, seed)
    adapter.initialize_all(model, MIXTURE, force=True)
    for use in arch.dense_layers():
        w = adapter.read(adapter.param_at(model, use.path, "weight"))
        b = adapter.read(adapter.param_at(model, use.path, "bias"))
        _assert_mixture_support(w, f"weight at {use.path}")
        assert not b.any(), f"bias at {use.path} after the custom initialiser: {b.tolist()}, documented zeros"
