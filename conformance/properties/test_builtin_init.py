"""Properties of specs/builtin-init.md."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.adapters.base import Init
from conformance.properties._laws import CHECKS_PER_LAW, TRUNCATED_STD, check_law
from conformance.properties._support import assert_same_values, build
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_RGNET,
    CHAPTER_TIED,
    SMALLEST_SUBNORMAL,
    architectures,
    constants,
    fans,
    means,
    one_layer,
    property_settings,
    seeds,
    sigmas,
    statistical_settings,
)


def _initialised_weight(adapter, seed: int, n_in: int, n_out: int, init: Init) -> np.ndarray:
    arch = one_layer(n_in, n_out)
    model = build(adapter, arch, seed)
    adapter.initialize(model, weight=init, bias=Init("zeros"))
    return adapter.read(adapter.param_at(model, (0,), "weight"))


@pytest.mark.clause("builtin-init.normal")
@pytest.mark.statistical(checks=CHECKS_PER_LAW, explicit=1)
@statistical_settings
@given(fan=fans(), mean=means(), std=sigmas(), seed=seeds())
@example(fan=(256, 256), mean=0.0, std=0.01, seed=0)  # the chapter's init.Normal(sigma=0.01)
def test_normal_initialiser(adapter, clause, stat, fan, mean, std, seed):
    """builtin-init.normal: after normal(mu, sigma) the weight entries MUST be
    i.i.d. N(mu, sigma^2) (mu = 0 where the initialiser has no mean)."""
    n_in, n_out = fan
    if adapter.facts.normal_mean == "zero-only":
        mean = 0.0
    w = _initialised_weight(adapter, seed, n_in, n_out, Init("normal", mean=mean, std=std))
    check_law(stat, w, {"family": "normal", "mean": mean, "std": std}, n_in, n_out,
              what=f"weights after normal(mean={mean!r}, std={std!r}) on Dense({n_in} -> {n_out})")


@pytest.mark.clause("builtin-init.zeros")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_zeros_initialiser(adapter, arch, seed):
    """builtin-init.zeros: after zeros every entry MUST be exactly 0."""
    model = build(adapter, arch, seed)
    adapter.initialize(model, weight=Init("zeros"), bias=Init("zeros"))
    for path, kind in arch.param_refs():
        v = adapter.read(adapter.param_at(model, path, kind))
        assert not v.any(), f"{kind} at {path} after zeros: {v.tolist()}"


@pytest.mark.clause("builtin-init.constant")
@property_settings
@given(arch=architectures(), c=constants(), seed=seeds())
@example(arch=CHAPTER_MLP, c=1.0, seed=0)
@example(arch=CHAPTER_MLP, c=42.0, seed=0)
@example(arch=CHAPTER_MLP, c=SMALLEST_SUBNORMAL, seed=0)
def test_constant_initialiser(adapter, arch, c, seed):
    """builtin-init.constant: after constant(c) every entry MUST equal float32(c)."""
    model = build(adapter, arch, seed)
    adapter.initialize(model, weight=Init("constant", value=c), bias=Init("constant", value=c))
    want = np.float32(c)
    for path, kind in arch.param_refs():
        v = adapter.read(adapter.param_at(model, path, kind))
        assert (v == want).all(), f"{kind} at {path} after constant({c!r}): {v.tolist()}"


XAVIER_UNIFORM = {"family": "uniform", "fan": "fan_avg", "scale": 3.0}
XAVIER_NORMAL = {"family": "normal", "fan": "fan_avg", "scale": 1.0}
# A normal truncated at +-2t has std TRUNCATED_STD * t, so t = s / TRUNCATED_STD.
XAVIER_TRUNCATED = {"family": "truncated_normal", "fan": "fan_avg", "scale": 1.0 / TRUNCATED_STD**2}


@pytest.mark.clause("builtin-init.xavier-uniform")
@pytest.mark.statistical(checks=CHECKS_PER_LAW)
@statistical_settings
@given(fan=fans(), seed=seeds())
def test_xavier_uniform_initialiser(adapter, stat, fan, seed):
    """builtin-init.xavier-uniform: entries MUST lie in [-a, a],
    a = sqrt(6 / (n_in + n_out)), and be i.i.d. U(-a, a)."""
    n_in, n_out = fan
    w = _initialised_weight(adapter, seed, n_in, n_out, Init("xavier_uniform"))
    check_law(stat, w, XAVIER_UNIFORM, n_in, n_out,
              what=f"weights after Xavier uniform on Dense({n_in} -> {n_out})")


@pytest.mark.clause("builtin-init.xavier-normal")
@pytest.mark.statistical(checks=CHECKS_PER_LAW, explicit=1)
@statistical_settings
@given(fan=fans(), seed=seeds())
# One large layer: the truncation bound is checked exactly (no alpha spent), and
# an implementation that lets a fraction q of entries escape it is caught with
# probability 1 - (1 - q)^n, n = 2048 * 2048. For q = 0.0455^4 = 4.3e-6 (a
# truncated normal by four redraws and then giving up, as Keras 3's torch
# backend does) that is 1 - 1.5e-8; the drawn layers (n <= 256 * 512) catch it
# with probability at most 0.43.
@example(fan=(2048, 2048), seed=0)
def test_xavier_normal_initialiser(adapter, clause, stat, fan, seed):
    """builtin-init.xavier-normal: entries MUST be i.i.d. N(0, s^2),
    s = sqrt(2 / (n_in + n_out)), or the documented truncated normal with std s."""
    n_in, n_out = fan
    w = _initialised_weight(adapter, seed, n_in, n_out, Init("xavier_normal"))
    truncated = adapter.facts.xavier_normal_truncated
    law = XAVIER_TRUNCATED if truncated else XAVIER_NORMAL
    truncation = " (truncated)" if truncated else ""
    what = f"weights after Xavier normal{truncation} on Dense({n_in} -> {n_out})"
    check_law(stat, w, law, n_in, n_out, what=what)


@pytest.mark.clause("builtin-init.sub-block-isolation")
@property_settings
@given(arch=architectures(), c=constants(subnormal=False), seed=seeds(), pick=st.integers(0, 2**16))
@example(arch=CHAPTER_MLP, c=42.0, seed=0, pick=2)  # net[2].apply(init_42)
@example(arch=CHAPTER_MLP, c=1.0, seed=0, pick=0)  # net[0].apply(xavier)
@example(arch=CHAPTER_RGNET, c=42.0, seed=0, pick=1)  # rgnet[0][0]
@example(arch=CHAPTER_TIED, c=42.0, seed=0, pick=2)  # the shared layer
def test_initialising_a_sub_block_touches_nothing_else(adapter, arch, c, seed, pick):
    """builtin-init.sub-block-isolation: initialising one sub-block MUST set the
    parameters reachable from it and leave every other parameter unchanged."""
    paths = [p for p, _ in arch.walk()]
    _sub_block(adapter, arch, c, seed, paths[pick % len(paths)])


def _sub_block(adapter, arch, c, seed, path):
    model = build(adapter, arch, seed)
    before = adapter.read_params(model, arch)
    inside = {u.key for u in arch.dense_uses() if u.path[: len(path)] == path}
    adapter.initialize(
        adapter.block_at(model, path), weight=Init("constant", value=c), bias=Init("constant", value=c)
    )
    after = adapter.read_params(model, arch)
    for use in arch.dense_layers():
        for kind in ("weight", "bias"):
            v = after[(use.path, kind)]
            if use.key in inside:
                assert (v == np.float32(c)).all(), (
                    f"{kind} at {use.path} is inside sub-block {path} but was not set to {c!r}: {v.tolist()}"
                )
            else:
                assert_same_values(v, before[(use.path, kind)],
                                   f"{kind} at {use.path}, outside sub-block {path}, after initialising it")


@pytest.mark.clause("builtin-init.reinit-needs-force")
@pytest.mark.requires("explicit_initialize")
@property_settings
@given(arch=architectures(), c=constants(), seed=seeds())
@example(arch=CHAPTER_MLP, c=1.0, seed=0)
def test_reinitialising_needs_force(adapter, arch, c, seed):
    """builtin-init.reinit-needs-force: without force_reinit an initialised model
    MUST keep its values; with it the new initialiser MUST be applied."""
    model = build(adapter, arch, seed)
    before = adapter.read_params(model, arch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Gluon warns that the parameters are already initialised
        adapter.initialize_all(model, Init("constant", value=c), force=False)
    for key, v in adapter.read_params(model, arch).items():
        assert_same_values(v, before[key], f"{key[1]} at {key[0]} after initialize() without force_reinit")
    adapter.initialize_all(model, Init("constant", value=c), force=True)
    for use in arch.dense_layers():
        w = adapter.read(adapter.param_at(model, use.path, "weight"))
        assert (w == np.float32(c)).all(), (
            f"weight at {use.path} after force_reinit with constant({c!r}): {w.tolist()}"
        )


@pytest.mark.clause("builtin-init.global-init-spares-bias")
@pytest.mark.requires("explicit_initialize")
@property_settings
@given(arch=architectures(), c=constants(), seed=seeds())
@example(arch=CHAPTER_MLP, c=1.0, seed=0)
def test_global_initialiser_spares_biases(adapter, arch, c, seed):
    """builtin-init.global-init-spares-bias: a model-wide initialiser MUST set
    every weight while every bias keeps its zero default."""
    model = build(adapter, arch, seed)
    adapter.initialize_all(model, Init("constant", value=c), force=True)
    for use in arch.dense_layers():
        w = adapter.read(adapter.param_at(model, use.path, "weight"))
        b = adapter.read(adapter.param_at(model, use.path, "bias"))
        assert (w == np.float32(c)).all(), (
            f"weight at {use.path} after initialize(Constant({c!r})): {w.tolist()}"
        )
        assert not b.any(), (
            f"bias at {use.path} after initialize(Constant({c!r})): {b.tolist()}, documented zeros"
        )
