"""Properties of specs/default-init.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.properties._laws import CHECKS_PER_LAW, check_law
from conformance.properties._support import build
from conformance.strategies import (
    CHAPTER_MLP,
    KERAS_MLP,
    architectures,
    bias_fans,
    fans,
    one_layer,
    property_settings,
    seeds,
    statistical_settings,
)


def _law(adapter, role: str) -> dict:
    """The profile's documented default law of ``role``."""
    law = adapter.facts.law(role)
    assert "family" in law, f"the profile of {adapter.name} documents no default {role} law"
    return law


def _weight(adapter, seed: int, fan_in: int, fan_out: int) -> np.ndarray:
    arch = one_layer(fan_in, fan_out)
    return adapter.read(adapter.param_at(build(adapter, arch, seed), (0,), "weight"))


@pytest.mark.clause("default-init.documented-weight")
@pytest.mark.statistical(checks=CHECKS_PER_LAW)
@statistical_settings
@given(fan=fans(), seed=seeds())
def test_default_weight_follows_documented_law(adapter, clause, stat, fan, seed):
    """default-init.documented-weight: a fresh dense layer's weight entries MUST
    be i.i.d. from the framework's documented law (support and distribution)."""
    n_in, n_out = fan
    law = _law(adapter, "weight")
    check_law(stat, _weight(adapter, seed, n_in, n_out), law, n_in, n_out,
              what=f"default weight of Dense({n_in} -> {n_out}) vs {law.get('doc', law)}")


@pytest.mark.clause("default-init.documented-bias")
@pytest.mark.statistical(checks=CHECKS_PER_LAW)
@statistical_settings
@given(fan=bias_fans(), seed=seeds())
def test_default_bias_follows_documented_law(adapter, clause, stat, fan, seed):
    """default-init.documented-bias: a fresh dense layer's bias entries MUST
    follow the documented law (exact zeros, or i.i.d. uniform)."""
    n_in, n_out = fan  # many outputs: the bias has n_out entries to test
    law = _law(adapter, "bias")
    bias = adapter.read(adapter.param_at(build(adapter, one_layer(n_in, n_out), seed), (0,), "bias"))
    check_law(
        stat,
        bias,
        law,
        n_in,
        n_out,
        what=f"default bias of Dense({n_in} -> {n_out}) vs {law.get('doc', law)}",
    )


#: dimensions of the range test: far apart, so that a range computed from both
#: differs by a factor of at least 1.37 (reports/proof/power.md)
RANGE_SMALL, RANGE_LARGE = (8, 24), (384, 512)


@pytest.mark.clause("default-init.range-from-in-and-out")
@pytest.mark.statistical(checks=2)
@statistical_settings
@given(small=st.integers(*RANGE_SMALL), large=st.integers(*RANGE_LARGE), seed=seeds())
def test_default_range_depends_on_in_and_out(adapter, stat, small, large, seed):
    """default-init.range-from-in-and-out: the law of default weights MUST change
    when n_out changes with n_in fixed, and when n_in changes with n_out fixed."""
    base = _weight(adapter, seed, large, large)
    stat.ks_differ(_weight(adapter, seed + 1, large, small), base,
                   label=f"default weights of Dense({large} -> {small}) vs Dense({large} -> {large})",
                   detail="the range does not depend on n_out")
    stat.ks_differ(_weight(adapter, seed + 2, small, large), base,
                   label=f"default weights of Dense({small} -> {large}) vs Dense({large} -> {large})",
                   detail="the range does not depend on n_in")


@pytest.mark.clause("default-init.bias-zero")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=KERAS_MLP, seed=0)
@example(arch=CHAPTER_MLP, seed=0)
def test_default_bias_is_zero(adapter, arch, seed):
    """default-init.bias-zero: by default every bias entry MUST be exactly 0."""
    model = build(adapter, arch, seed)
    for use in arch.dense_layers():
        b = adapter.read(adapter.param_at(model, use.path, "bias"))
        assert not b.any(), f"default bias of the layer at {use.path} is {b.tolist()}, documented all zeros"


U007 = {"family": "uniform", "bound": 0.07}


def _uniform_007(adapter, stat, fan, seed, edition: str) -> None:
    n_in, n_out = fan
    check_law(stat, _weight(adapter, seed, n_in, n_out), U007, n_in, n_out,
              what=f"default weight of Dense({n_in} -> {n_out}) vs U(-0.07, 0.07) ({edition})")


@pytest.mark.clause("default-init.mxnet-uniform-007")
@pytest.mark.statistical(checks=CHECKS_PER_LAW)
@statistical_settings
@given(fan=fans(), seed=seeds())
def test_mxnet_default_weights_are_uniform_007(adapter, stat, fan, seed):
    """default-init.mxnet-uniform-007: default weights MUST be i.i.d. U(-0.07, 0.07)."""
    _uniform_007(adapter, stat, fan, seed, "the MXNet editions")


@pytest.mark.clause("default-init.keras-uniform-007")
@pytest.mark.statistical(checks=CHECKS_PER_LAW)
@statistical_settings
@given(fan=fans(), seed=seeds())
def test_keras_default_weights_are_uniform_007(adapter, stat, fan, seed):
    """default-init.keras-uniform-007: default tf.keras weights MUST be i.i.d.
    U(-0.07, 0.07) (the TF2 edition's claim)."""
    _uniform_007(adapter, stat, fan, seed, "the TF2 edition")
