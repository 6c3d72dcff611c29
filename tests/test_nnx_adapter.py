"""The suite's own tests of the Flax NNX adapter: does it translate NNX's
parameter management (state paths, a shared module appearing once in the
state, nnx.grad, nnx.Optimizer, nnx.Rngs, Orbax checkpoints) faithfully?
These pin down what flax actually does, so that a property failing later is
a finding about flax, not about the adapter."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

flax = pytest.importorskip("flax")
pytest.importorskip("flax.nnx")
pytest.importorskip("orbax.checkpoint")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

from conformance.adapters.base import Init, NotApplicable  # noqa: E402
from conformance.frameworks.flax.adapter import NnxAdapter  # noqa: E402
from conftest import batch as _x  # noqa: E402

from conformance.strategies import CHAPTER_TIED  # noqa: E402
from conformance.arch import Arch, Dense, Flatten, ReLU, Sequential  # noqa: E402

# The chapter's tied net: Linear(4, 8), ReLU, shared, ReLU, shared, ReLU, Linear(8, 1).
TIED = CHAPTER_TIED


@pytest.fixture
def ad() -> NnxAdapter:
    a = NnxAdapter()
    a.seed(0)
    return a




# -- sharing a submodule ----------------------------------------------------------------
def test_shared_module_appears_once_in_the_state(ad: NnxAdapter) -> None:
    net = ad.build(TIED)
    assert isinstance(net, nnx.Sequential)
    assert ad.child(net, 2) is ad.child(net, 4)  # net.layers[2] is net.layers[4]
    assert ad.num_children(net) == 7  # positions, not distinct modules
    # nnx.state lists the shared Linear once, under the path of its first use;
    # keys are sorted, so bias comes before kernel (the known deviation).
    names = [n for n, _ in ad.all_params(net)]
    assert names == ["layers/0/bias", "layers/0/kernel", "layers/2/bias", "layers/2/kernel",
                     "layers/6/bias", "layers/6/kernel"]
    assert [k for k, _ in ad.state_dict(net)] == names  # to_pure_dict: same paths, also once
    _, state = nnx.split(net)
    assert sorted({path[1] for path, _ in nnx.to_flat_state(state)}) == [0, 2, 6]
    # The state holds the model's own Param objects (flax >= 0.12), so lookup
    # by state path is the object indexing reaches.
    assert ad.lookup(net, "layers/2/kernel") is net.layers[4].kernel
    assert ad.param_at(net, (2,), "weight") is ad.param_at(net, (4,), "weight")
    assert [r for r, _ in ad.layer_params(ad.child(net, 0))] == ["bias", "weight"]
    assert ad.layer_params(ad.child(net, 1)) == []  # nnx.relu is a plain function


def test_tied_gradient_is_the_sum_and_sgd_steps_once(ad: NnxAdapter) -> None:
    net = ad.build(TIED)
    untied = ad.build(TIED.untied())
    values = ad.read_params(net, TIED)
    ad.write_params(untied, values)
    ad.write_params(untied, {((4,), k): values[((2,), k)] for k in ("weight", "bias")})
    x, up = _x(), _x(3, 1, seed=2)
    assert ad.grad(ad.param_at(net, (2,), "weight")) is None  # no gradient slot, nothing kept yet
    ad.backward(net, x, up)
    ad.backward(untied, x, up)
    g_tied = ad.grad(ad.param_at(net, (2,), "weight"))
    assert g_tied is not None and ad.grad(ad.param_at(net, (4,), "weight")) is not None
    g2, g4 = ad.grad(ad.param_at(untied, (2,), "weight")), ad.grad(ad.param_at(untied, (4,), "weight"))
    assert g2 is not None and g4 is not None
    np.testing.assert_allclose(g_tied, g2 + g4, rtol=1e-5, atol=1e-6)
    # ... which is what nnx.grad itself returns for the shared kernel (one entry in the state).
    grads = nnx.grad(lambda m: jnp.sum(m(jnp.asarray(x)) * jnp.asarray(up)))(net)
    np.testing.assert_array_equal(np.asarray(grads["layers"][2]["kernel"][...]), g_tied)
    assert 4 not in grads["layers"]

    w = ad.read(ad.param_at(net, (2,), "weight"))
    handle = ad.param_at(net, (2,), "weight")
    ad.sgd_step(net, 0.1)  # nnx.Optimizer(net, optax.sgd(0.1), wrt=nnx.Param).update(net, grads)
    assert ad.param_at(net, (2,), "weight") is handle  # updated in place
    np.testing.assert_allclose(ad.read(handle), w - 0.1 * g_tied, rtol=1e-6, atol=1e-6)
    ad.zero_grad(net)
    assert ad.grad(handle) is None
    with pytest.raises(RuntimeError):
        ad.sgd_step(net, 0.1)


# -- seeding -------------------------------------------------------------------------------
def test_seeding_is_an_rngs_stream(ad: NnxAdapter) -> None:
    arch = Arch(Sequential((Dense(5), ReLU(), Dense(3))), input_dim=4)
    ad.seed(7)
    a = ad.read_params(ad.build(arch), arch)
    after = ad.read_params(ad.build(arch), arch)  # no re-seed: the stream continues
    ad.seed(7)
    b = ad.read_params(ad.build(arch), arch)
    ad.seed(8)
    c = ad.read_params(ad.build(arch), arch)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a[((0,), "weight")], after[((0,), "weight")])
    assert not np.array_equal(a[((0,), "weight")], c[((0,), "weight")])
    # The first build after seed(s) is exactly what nnx.Rngs(s) gives by hand.
    rngs = nnx.Rngs(7)
    by_hand = nnx.Sequential(nnx.Linear(4, 5, rngs=rngs), nnx.relu, nnx.Linear(5, 3, rngs=rngs))
    np.testing.assert_array_equal(np.asarray(by_hand.layers[0].kernel[...]), a[((0,), "weight")].T)
    np.testing.assert_array_equal(np.asarray(by_hand.layers[2].kernel[...]), a[((2,), "weight")].T)


# -- saving and loading ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", NnxAdapter.facts.load_modes)
def test_every_load_mode_keeps_the_tie(ad: NnxAdapter, tmp_path: Path, mode: str) -> None:
    src = ad.build(TIED)
    path = tmp_path / "weights"
    ad.save_weights(src, path)
    ad.seed(1)
    dst = ad.build(TIED)
    out = ad.load_weights(dst, path, mode)
    # merge / pure-dict rebuild the model with nnx.merge: a new object whose
    # graphdef still has the shared Linear once; update loads in place.
    assert (out is dst) == (mode == "update")
    assert ad.child(out, 2) is ad.child(out, 4)
    assert ad.param_at(out, (2,), "weight") is ad.param_at(out, (4,), "weight")
    for key, v in ad.read_params(src, TIED).items():
        np.testing.assert_array_equal(ad.read_params(out, TIED)[key], v)
    np.testing.assert_array_equal(ad.forward(out, _x()), ad.forward(src, _x()))
    ad.assign(ad.param_at(out, (2,), "weight"), (0, 0), 100.0)
    assert ad.read(ad.param_at(out, (4,), "weight"))[0, 0] == 100.0


def test_unknown_load_mode_names_the_known_ones(ad: NnxAdapter, tmp_path: Path) -> None:
    net = ad.build(TIED)
    ad.save_weights(net, tmp_path / "w")
    with pytest.raises(ValueError, match="merge, update, pure-dict"):
        ad.load_weights(net, tmp_path / "w", "bogus")


# -- writing, initialising, what NNX cannot do ----------------------------------------------------
def test_write_and_assign_keep_the_param_and_warn_nothing(ad: NnxAdapter) -> None:
    arch = Arch(Sequential((Flatten(), Dense(2))), input_dim=3)
    net = ad.build(arch)
    x = _x(cols=3)
    w, b = ad.param_at(net, (1,), "weight"), ad.param_at(net, (1,), "bias")
    assert ad.shape(w) == (3, 2) and ad.dtype(w) == "float32"  # (in, out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated `.value` anywhere
        ad.write(w, np.ones((3, 2), np.float32))
        ad.write(b, np.zeros(2, np.float32))
        np.testing.assert_allclose(ad.forward(net, x), np.repeat(x.sum(1, keepdims=True), 2, 1), rtol=1e-6)
        ad.assign(w, (slice(None), 1), 0.0)  # param[:, 1] = 0, i.e. value.at[:, 1].set(0)
        ad.assign(b, (1,), 5.0)
        np.testing.assert_allclose(ad.forward(net, x)[:, 1], 5.0)
    assert w is ad.param_at(net, (1,), "weight")
    with pytest.raises(ValueError):
        ad.write(w, np.ones(2, np.float32))  # param[...] = v would broadcast it silently
    # what flax itself does with a wrong shape: .at[...].set broadcasts
    w[...] = np.full((2,), 3.0, np.float32)
    assert ad.read(w).shape == (3, 2) and (ad.read(w) == 3.0).all()


def test_initializers(ad: NnxAdapter) -> None:
    arch = Arch(Sequential((Dense(64), ReLU(), Dense(64))), input_dim=64)
    net = ad.build(arch)
    ad.initialize(net, weight=Init("constant", value=1.0), bias=Init("zeros"))
    assert (ad.read(ad.param_at(net, (2,), "weight")) == 1.0).all()
    assert not ad.read(ad.param_at(net, (2,), "bias")).any()
    ad.initialize(ad.child(net, 2), weight=Init("constant", value=42.0))  # one sub-block
    assert (ad.read(ad.param_at(net, (0,), "weight")) == 1.0).all()
    assert (ad.read(ad.param_at(net, (2,), "weight")) == 42.0).all()
    ad.initialize(ad.child(net, 1), weight=Init("zeros"))  # nnx.relu: nothing to do
    ad.initialize(net, weight=Init("mixture"))
    w = ad.read(ad.param_at(net, (0,), "weight"))
    assert ((w == 0) | ((np.abs(w) >= 5) & (np.abs(w) <= 10))).all()
    assert 0.4 < (w == 0).mean() < 0.6
    ad.initialize(net, weight=Init("normal", mean=3.0, std=0.5))
    w = ad.read(ad.param_at(net, (0,), "weight"))
    assert abs(w.mean() - 3.0) < 0.05 and abs(w.std() - 0.5) < 0.05


def test_jax_glorot_normal_is_truncated_and_lecun_default_too(ad: NnxAdapter) -> None:
    # jax documents glorot_normal as variance_scaling(1.0, "fan_avg",
    # "truncated_normal"): std s = sqrt(2 / (n_in + n_out)) *after*
    # truncation at 2 pre-truncation std t = s / 0.87962566.
    net = ad.build(Arch(Sequential((Dense(400),)), input_dim=400))
    ad.initialize(net, weight=Init("xavier_normal"))
    w = ad.read(ad.param_at(net, (0,), "weight")).astype(np.float64)
    s = np.sqrt(2 / 800)
    assert np.abs(w).max() <= 2 * s / 0.87962566103423978 * (1 + 1e-6)
    assert abs(w.std() / s - 1) < 0.01
    # nnx.Linear's default kernel_init is lecun_normal: the same law on fan_in,
    # so the pre-truncation variance factor is 1 / 0.87962566^2 = 1.2924216.
    ad.seed(3)
    d = ad.read(ad.param_at(ad.build(Arch(Sequential((Dense(400),)), input_dim=100)), (0,), "weight"))
    t = np.sqrt(1.2924216 / 100)
    assert np.abs(d).max() <= 2 * t * (1 + 1e-6) and abs(d.std() * 10 - 1) < 0.01


def test_no_lazy_layers_and_no_child_names(ad: NnxAdapter) -> None:
    with pytest.raises(NotApplicable, match="no lazy layers"):
        ad.build(TIED.with_lazy())
    assert "deferred_init" not in ad.facts.capabilities and "block_names" not in ad.facts.capabilities
    # nnx.Sequential takes no names: an Arch's block names cannot be expressed.
    arch = Arch(Sequential((Sequential((Dense(2),), name="block 0"), Dense(1))), input_dim=3)
    assert [n for n, _ in ad.all_params(ad.build(arch))][0] == "layers/0/layers/0/bias"


def test_cpu_matmul_is_full_float32() -> None:
    # The tolerances assume float32 dots; jax lowers the precision on some
    # platforms (bf16 passes on TPU, TF32 on GPU). On CPU even an explicit
    # request for bfloat16 gives float32 accuracy.
    if jax.default_backend() != "cpu":
        pytest.skip("observed on CPU only")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(32, 256)).astype(np.float32), rng.normal(size=(256, 32)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    bound = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    for precision in ("default", "bfloat16"):
        with jax.default_matmul_precision(precision):
            got = np.asarray(jnp.asarray(a) @ jnp.asarray(b), np.float64)
        assert (np.abs(got - exact) / bound).max() < 1e-6, precision


def test_forward_backward_agree_with_a_hand_computation(ad: NnxAdapter) -> None:
    arch = Arch(Sequential((Dense(3), ReLU(), Dense(2))), input_dim=4)
    net = ad.build(arch)
    p = {k: v.astype(np.float64) for k, v in ad.read_params(net, arch).items()}  # canonical (out, in)
    w1, b1, w2, b2 = p[(0,), "weight"], p[(0,), "bias"], p[(2,), "weight"], p[(2,), "bias"]
    x, up = _x(5, 4), _x(5, 2, seed=2)
    h_pre = x @ w1.T + b1
    h = np.maximum(h_pre, 0)
    np.testing.assert_allclose(ad.forward(net, x), h @ w2.T + b2, rtol=ad.facts.rtol, atol=ad.facts.atol)
    ad.backward(net, x, up)
    dh = (up @ w2) * (h_pre > 0)
    want = {((2,), "weight"): up.T @ h, ((2,), "bias"): up.sum(0),
            ((0,), "weight"): dh.T @ x, ((0,), "bias"): dh.sum(0)}
    got = ad.read_grads(net, arch)
    for key, g in want.items():
        np.testing.assert_allclose(got[key], g, rtol=ad.facts.rtol, atol=ad.facts.atol, err_msg=str(key))


# -- packaging -------------------------------------------------------------------------------
def test_importing_the_adapter_does_not_import_flax() -> None:
    code = (
        "import conformance.frameworks.flax.adapter, sys; "
        "bad = [m for m in ('flax', 'jax', 'optax', 'orbax') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # With flax unimportable, the module still imports and reports flax as not installed.
    code = (
        "import sys; sys.modules['flax'] = None; "
        "from conformance.frameworks.flax.adapter import NnxAdapter; assert not NnxAdapter.installed()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_identity(ad: NnxAdapter) -> None:
    assert ad.version() == flax.__version__
    assert ad.backend() == f"jax{jax.__version__}-{jax.default_backend()}"
