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
from conformance.frameworks.flax import layers  # noqa: E402
from conformance.frameworks.flax.adapter import NnxAdapter  # noqa: E402
from conformance.properties._support import with_accepted_names  # noqa: E402
from conformance.strategies import (  # noqa: E402
    CHAPTER_LINEAR,
    CHAPTER_TIED,
    MXNET_SHARED,
    NESTED_CUSTOM,
    TIED_AUTOENCODER,
)

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


def test_a_param_two_models_hold_has_one_gradient_slot(ad: NnxAdapter) -> None:
    # nnx.merge(*nnx.split(net)) holds net's own Params (documented to alias):
    # the slot is the Param's, so a zero_grad through the copy empties what a
    # backward through net filled, and net's step then leaves those Params
    # alone (zero gradient), as torch's step skips a Parameter whose .grad is None.
    net = ad.build(TIED)
    alias = ad.copy_model(net, "split-merge")
    w = ad.param_at(net, (0,), "weight")
    assert ad.param_at(alias, (0,), "weight") is w
    ad.backward(net, _x(), _x(3, 1, seed=2))
    assert ad.grad(ad.param_at(alias, (0,), "weight")) is not None  # one slot, seen through either
    ad.zero_grad(alias)
    assert ad.grad(w) is None
    before = ad.read(w)
    ad.sgd_step(net, 0.5)
    np.testing.assert_array_equal(ad.read(w), before)


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



# -- user-defined modules ----------------------------------------------------------------------
def test_user_defined_modules_are_nnx_modules_with_params_made_in_init(ad: NnxAdapter) -> None:
    # (indexing, shapes, forward and gradients of nested user-defined layers:
    # the contract's custom-layers check)
    net = ad.build(NESTED_CUSTOM)
    assert isinstance(net, layers.UserBlock) and net.order == ("block", "head")
    assert net.block.order == ("inner", "layer1")  # a named child, then an unnamed ReLU
    inner = ad.block_at(net, (0, 0))
    assert isinstance(inner, layers.UserLinear)
    # The guide's Linear: nnx.Param attributes made in __init__, the kernel (in, out).
    assert isinstance(inner.kernel, nnx.Param) and isinstance(inner.bias, nnx.Param)
    assert inner.kernel[...].shape == (4, 8) and inner.bias[...].shape == (8,)
    # A named child is the attribute of that name, an unnamed one layer<i>; the
    # built-in nnx.Sequential 'head' keeps its children in `layers`, without names.
    assert net.block.inner is inner
    names = [n for n, _ in ad.all_params(net)]
    assert names == ["block/inner/bias", "block/inner/kernel", "head/layers/0/bias", "head/layers/0/kernel",
                     "head/layers/1/proj/bias", "head/layers/1/proj/kernel"]
    assert ad.lookup(net, "block/inner/kernel") is inner.kernel


def test_the_chapters_linear_names_its_children_d1_and_d2(ad: NnxAdapter) -> None:
    net = ad.build(CHAPTER_LINEAR)
    assert [n for n, _ in ad.all_params(net)] == ["d1/bias", "d1/kernel", "d2/bias", "d2/kernel"]
    assert [k for k, _ in ad.state_dict(net)] == ["d1/bias", "d1/kernel", "d2/bias", "d2/kernel"]


@pytest.mark.parametrize("name", ["__dict__", "eval", "sow", "order", "a/b"])
def test_a_user_defined_block_refuses_its_own_attribute_names(ad: NnxAdapter, name: str) -> None:
    # The paddle3.3 failure (a child named '__dict__'): a user-defined block
    # sets each child as an attribute, so a name every nnx.Module (or the
    # block) already has cannot name a child; nnx.Sequential drops names.
    assert not ad.block_name_ok(name, in_custom_block=True)
    assert ad.block_name_ok(name)
    arch = Arch(Sequential((Dense(2, name=name), ReLU(name="block 0"), Dense(1, name="ж块")), custom=True), 3)
    fixed = with_accepted_names(ad, arch)
    net = ad.build(fixed)
    assert net.order == ("block-0", "block 0", "ж块")
    x = _x(cols=3)
    np.testing.assert_allclose(ad.forward(net, x), net.ж块(nnx.relu(getattr(net, "block-0")(x))), rtol=1e-6)


def test_an_unnamed_child_does_not_take_a_siblings_name(ad: NnxAdapter) -> None:
    arch = Arch(Sequential((Dense(2), Dense(3, name="layer0")), custom=True), 3)
    net = ad.build(arch)
    assert net.order == ("layer0_", "layer0") and ad.child(net, 1).kernel[...].shape == (2, 3)


# -- sharing a parameter between distinct layers -------------------------------------------------
def test_parameter_level_sharing_is_the_surgery_guides_variable_sharing(ad: NnxAdapter) -> None:
    # (one object at both positions, distinct layers: the contract's param-sharing check)
    net = ad.build(MXNET_SHARED)  # Dense(8), shared = Dense(8), Dense(8, params=shared.params), Dense(10)
    a, b = net.layers[2], net.layers[4]
    assert isinstance(b, nnx.Linear) and a is not b
    assert b.kernel is a.kernel and b.bias is a.bias
    # nnx.state lists the shared Variables once, under the first module holding them
    # (the surgery guide: `not hasattr(nnx.state(model)['linear2'], 'kernel')`).
    state = nnx.state(net, nnx.Param)
    assert 4 not in state["layers"]
    assert [n for n, _ in ad.all_params(net)] == ["layers/0/bias", "layers/0/kernel", "layers/2/bias",
                                                  "layers/2/kernel", "layers/6/bias", "layers/6/kernel"]
    # nnx.grad gives the shared kernel one gradient, the sum over both layers.
    x, up = _x(cols=20), _x(3, 10, seed=2)

    def loss(m: nnx.Module) -> jax.Array:
        return jnp.sum(m(jnp.asarray(x)) * jnp.asarray(up))

    grads = nnx.grad(loss)(net)
    assert 4 not in grads["layers"]
    ad.backward(net, x, up)
    g = ad.grad(ad.param_at(net, (4,), "weight"))
    assert g is not None
    np.testing.assert_array_equal(np.asarray(grads["layers"][2]["kernel"][...]), g)
    untied = nnx.clone(net)
    untied.layers[4].kernel = nnx.Param(jnp.array(a.kernel[...]))  # the same values, two Variables
    g2 = nnx.grad(loss)(untied)
    np.testing.assert_allclose(
        g, np.asarray(g2["layers"][2]["kernel"][...]) + np.asarray(g2["layers"][4]["kernel"][...]),
        rtol=1e-5, atol=1e-6)


def test_only_the_kernel_shared_keeps_a_bias_of_its_own(ad: NnxAdapter) -> None:
    arch = Arch(Sequential((Dense(3, tie="a"), ReLU(), Dense(3, weight_of="a"))), 3)
    net = ad.build(arch)
    a, b = net.layers[0], net.layers[2]
    assert b.kernel is a.kernel and b.bias is not a.bias
    assert [n for n, _ in ad.all_params(net)] == ["layers/0/bias", "layers/0/kernel", "layers/2/bias"]
    ad.write(b.bias, np.full(3, 7.0, np.float32))
    assert not (ad.read(a.bias) == 7.0).any()


def test_the_transposed_tie_is_a_module_holding_the_encoders_kernel(ad: NnxAdapter) -> None:
    net = ad.build(TIED_AUTOENCODER)  # Dense(3) encoder, ReLU, Dense(6) applying its weight transposed
    enc, dec = net.layers[0], net.layers[2]
    assert isinstance(dec, layers.TransposedLinear) and dec.kernel is enc.kernel
    assert [n for n, _ in ad.all_params(net)] == ["layers/0/bias", "layers/0/kernel", "layers/2/bias"]
    x = _x(cols=6)
    w, b0, b1 = (np.asarray(v[...]) for v in (enc.kernel, enc.bias, dec.bias))
    np.testing.assert_allclose(ad.forward(net, x), np.maximum(x @ w + b0, 0) @ w.T + b1, rtol=1e-5, atol=1e-6)


# -- copies and in-memory state ---------------------------------------------------------------------
def test_what_each_copy_shares_with_its_source(ad: NnxAdapter) -> None:
    # (equal values: the contract's copy check; aliasing as documented: aliasing.copy-independent)
    net = ad.build(MXNET_SHARED)
    kernel = net.layers[2].kernel
    for op in ad.facts.copy_ops:
        copy = ad.copy_model(net, op)
        other = copy.layers[2].kernel
        assert copy.layers[4].kernel is other, op  # the tie is kept
        # Variables shared exactly by the documented aliasing operations ...
        assert (other is kernel) == (op in ad.facts.aliasing), op
        # ... and nnx.clone's new Variables start on the source's very jax.Array
        # (documented), which a write replaces rather than changes.
        assert other.get_raw_value() is kernel.get_raw_value(), op
    clone = ad.copy_model(net, "clone")
    before = np.asarray(clone.layers[2].kernel[...]).copy()
    kernel[0, 0] = 42.0
    np.testing.assert_array_equal(np.asarray(clone.layers[2].kernel[...]), before)


@pytest.mark.parametrize("mode", NnxAdapter.facts.state_load_modes)
def test_what_each_state_load_mode_shares_with_its_source(ad: NnxAdapter, mode: str) -> None:
    # (values restored: the contract's state-round-trip check; aliasing: the
    # aliasing.* clauses)
    src = ad.build(MXNET_SHARED)
    state = ad.get_state(src)
    assert state["layers"][2]["kernel"] is src.layers[2].kernel  # nnx.state holds the live Variables
    ad.seed(1)
    dst = ad.build(MXNET_SHARED)
    own = dst.layers[2].kernel
    out = ad.load_state(dst, state, mode)
    assert (out is dst) == (mode == "update")
    assert out.layers[4].kernel is out.layers[2].kernel  # the tie is kept
    loaded = out.layers[2].kernel
    if mode == "update":  # nnx.update: the model's own Variable, now on the state's array
        assert loaded is own and loaded.get_raw_value() is src.layers[2].kernel.get_raw_value()
    else:  # merge: the state's Variable; merge-copy, pure-dict: a new one
        assert (loaded is src.layers[2].kernel) == (mode in ad.facts.aliasing)
        assert loaded is not own
    before = ad.state_arrays(state)
    loaded[0, 0] = 42.0
    seen = float(src.layers[2].kernel[0, 0]) == 42.0
    assert seen == (mode in ad.facts.aliasing)
    if not seen:
        for (k, v0), (_, v1) in zip(before, ad.state_arrays(state)):
            np.testing.assert_array_equal(v1, v0, err_msg=k)


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
    # The user-defined modules import flax at their top: the adapter imports them lazily.
    code = (
        "import conformance.frameworks.flax.adapter, sys; "
        "assert 'conformance.frameworks.flax.layers' not in sys.modules; "
        "bad = [m for m in ('flax', 'jax', 'optax', 'orbax') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_identity(ad: NnxAdapter) -> None:
    assert ad.version() == flax.__version__
    assert ad.backend() == f"jax{jax.__version__}-{jax.default_backend()}"
