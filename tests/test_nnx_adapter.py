"""The suite's own tests of the Flax NNX adapter: does it translate NNX's
parameter management (state paths, a shared module appearing once in the
state, nnx.grad, nnx.Optimizer, nnx.Rngs, Orbax checkpoints) faithfully?
These pin down what flax actually does, so that a property failing later is
a finding about flax, not about the adapter. Every primitive is also checked
against the profile and the numpy oracle by the adapter contract
(tests/test_adapter_contract.py, conformance.testing); what is here is
NNX's own."""

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
from conftest import batch as _x  # noqa: E402
from flax import nnx  # noqa: E402

from conformance.adapters.base import Init  # noqa: E402
from conformance.arch import Arch, Dense, Flatten, ReLU, Sequential  # noqa: E402
from conformance.frameworks.flax.adapter import NnxAdapter  # noqa: E402
from conformance.strategies import CHAPTER_TIED  # noqa: E402

# The chapter's tied net: Linear(4, 8), ReLU, shared, ReLU, shared, ReLU, Linear(8, 1).
TIED = CHAPTER_TIED


@pytest.fixture
def ad() -> NnxAdapter:
    a = NnxAdapter()
    a.seed(0)
    return a




# -- sharing a submodule ----------------------------------------------------------------
def test_shared_module_appears_once_in_the_state(ad: NnxAdapter) -> None:
    # (one module at both positions: the contract's ties and structure checks)
    net = ad.build(TIED)
    assert isinstance(net, nnx.Sequential)
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
    assert [r for r, _ in ad.layer_params(ad.child(net, 0))] == ["bias", "weight"]


def test_the_tied_gradient_is_nnx_grads_own_and_sgd_updates_in_place(ad: NnxAdapter) -> None:
    # (the tied gradient is the sum over uses, sgd_step moves by -lr * grad,
    # zero_grad empties: the contract's backward, sgd-step and zero-grad checks)
    net = ad.build(TIED)
    x, up = _x(), _x(3, 1, seed=2)
    assert ad.grad(ad.param_at(net, (2,), "weight")) is None  # no gradient slot, nothing kept yet
    ad.backward(net, x, up)
    g_tied = ad.grad(ad.param_at(net, (2,), "weight"))
    assert g_tied is not None
    # ... what nnx.grad itself returns for the shared kernel (one entry in the state).
    grads = nnx.grad(lambda m: jnp.sum(m(jnp.asarray(x)) * jnp.asarray(up)))(net)
    np.testing.assert_array_equal(np.asarray(grads["layers"][2]["kernel"][...]), g_tied)
    assert 4 not in grads["layers"]

    handle = ad.param_at(net, (2,), "weight")
    ad.sgd_step(net, 0.1)  # nnx.Optimizer(net, optax.sgd(0.1), wrt=nnx.Param).update(net, grads)
    assert ad.param_at(net, (2,), "weight") is handle  # updated in place
    ad.zero_grad(net)
    with pytest.raises(RuntimeError):  # no gradient to step with
        ad.sgd_step(net, 0.1)


# -- seeding -------------------------------------------------------------------------------
def test_seeding_is_an_rngs_stream(ad: NnxAdapter) -> None:
    # (the same seed, the same values; another seed, others: the contract's seed check)
    arch = Arch(Sequential((Dense(5), ReLU(), Dense(3))), input_dim=4)
    ad.seed(7)
    a = ad.read_params(ad.build(arch), arch)
    after = ad.read_params(ad.build(arch), arch)  # no re-seed: the stream continues
    assert not np.array_equal(a[((0,), "weight")], after[((0,), "weight")])
    # The first build after seed(s) is exactly what nnx.Rngs(s) gives by hand.
    rngs = nnx.Rngs(7)
    by_hand = nnx.Sequential(nnx.Linear(4, 5, rngs=rngs), nnx.relu, nnx.Linear(5, 3, rngs=rngs))
    np.testing.assert_array_equal(np.asarray(by_hand.layers[0].kernel[...]), a[((0,), "weight")].T)
    np.testing.assert_array_equal(np.asarray(by_hand.layers[2].kernel[...]), a[((2,), "weight")].T)


# -- saving and loading ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", NnxAdapter.facts.load_modes)
def test_which_load_modes_rebuild_the_model(ad: NnxAdapter, tmp_path: Path, mode: str) -> None:
    # (values loaded and the tie kept by every mode: the contract's load-modes check)
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


# -- writing, initialising, what NNX cannot do ----------------------------------------------------
def test_write_and_assign_warn_nothing_and_flax_itself_broadcasts(ad: NnxAdapter) -> None:
    # (values written and assigned, in the (in, out) layout, a wrong shape
    # refused: the contract's read-write, assign and layout checks)
    arch = Arch(Sequential((Flatten(), Dense(2))), input_dim=3)
    net = ad.build(arch)
    w, b = ad.param_at(net, (1,), "weight"), ad.param_at(net, (1,), "bias")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated `.value` anywhere
        ad.write(w, np.ones((3, 2), np.float32))
        ad.write(b, np.zeros(2, np.float32))
        ad.assign(w, (slice(None), 1), 0.0)  # param[:, 1] = 0, i.e. value.at[:, 1].set(0)
        ad.assign(b, (1,), 5.0)
        ad.forward(net, _x(cols=3))
    # what flax itself does with a wrong shape: .at[...].set broadcasts (the adapter refuses it)
    w[...] = np.full((2,), 3.0, np.float32)
    assert ad.read(w).shape == (3, 2) and (ad.read(w) == 3.0).all()


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


def test_no_child_names(ad: NnxAdapter) -> None:
    # (a lazy build refused with NotApplicable: the contract's capabilities check)
    assert "block_names" not in ad.facts.capabilities
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



def test_write_copies_an_aligned_buffer_jax_would_adopt(ad: NnxAdapter) -> None:
    # What the fix is about: on the CPU, jnp.asarray(a, dtype=...) of an
    # aligned float32 array shares its memory (observed on jax 0.10.2; without
    # dtype= it copies), and Variable.set_value keeps a full-size array as it
    # is; write() copies first.
    if jax.default_backend() != "cpu":
        pytest.skip("observed on CPU only")
    raw = np.empty(4096 * 2, np.uint8)
    start = -raw.ctypes.data % 4096
    value = raw[start:start + 12].view(np.float32)
    value[...] = [1.0, 2.0, 3.0]
    net = ad.build(Arch(Sequential((Dense(3),)), 1))
    bias = net.layers[0].bias
    bias[...] = jnp.asarray(value, dtype=jnp.float32)  # what write() did before the fix
    value += 1.0
    adopted = np.asarray(bias[...]).tolist() == [2.0, 3.0, 4.0]
    value -= 1.0
    ad.write(bias, value)
    value += 10.0
    assert ad.read(bias).tolist() == [1.0, 2.0, 3.0], "write() kept the caller's buffer"
    assert adopted, "jax no longer adopts an aligned buffer: the copy in write() may be unneeded"


# -- packaging -------------------------------------------------------------------------------
def test_importing_the_adapter_imports_no_jax_library() -> None:
    # (flax itself, and installed() with flax unimportable: the contract's lazy-import check)
    code = (
        "import conformance.frameworks.flax.adapter, sys; "
        "bad = [m for m in ('flax', 'jax', 'optax', 'orbax') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_identity(ad: NnxAdapter) -> None:
    assert ad.version() == flax.__version__
    assert ad.backend() == f"jax{jax.__version__}-{jax.default_backend()}"
