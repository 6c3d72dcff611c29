"""The suite's own tests of the Keras adapter's version handling: Keras 2
(tf.keras of TensorFlow 2.15) versus Keras 3 on any backend, names versus
paths, the repeated layer, unbuilt layers, and the lazy import. They pin down
what the installed Keras actually does, so that a property failing later is a
finding about Keras, not about the adapter. Where expectations differ between
Keras 2 and 3 the test branches on the *observed* major version. Every
primitive is also checked against the profile and the numpy oracle by the
adapter contract (tests/test_adapter_contract.py, conformance.testing); what
is here is Keras' own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from conftest import batch as _x

from conformance.adapters.base import Init, NotApplicable, Uninitialized
from conformance.arch import Arch, Dense, Flatten, ReLU, Sequential


def test_importing_the_adapter_imports_no_framework() -> None:
    # (installed() with keras unimportable: the contract's lazy-import check; here the backends)
    code = (
        "import conformance.frameworks.keras.adapter, sys; "
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


from conformance.frameworks.keras.adapter import KerasAdapter, _keras  # noqa: E402 - after the lazy-import test

try:  # every test below the lazy-import one needs Keras (2 via TF 2.15, or 3)
    import keras as keras_mod
except ImportError:
    keras_mod = None
needs_keras = pytest.mark.skipif(keras_mod is None, reason="keras is not installed")
K: Any = _keras() if keras_mod is not None else None
MAJOR = int(keras_mod.__version__.split(".")[0]) if keras_mod is not None else 0

KERAS_TIED = Arch(Sequential((Flatten(), Dense(4, tie="s"), Dense(4, tie="s"), Dense(1))), input_dim=4)
NESTED = Arch(
    Sequential(
        (Sequential((Dense(3, name="inner"), ReLU()), name="block-0"), Dense(2, name="head")), name="net"
    ),
    input_dim=4,
)


@pytest.fixture
def ad() -> KerasAdapter:
    a = KerasAdapter()
    a.seed(0)
    return a




# -- detection -------------------------------------------------------------------------
@needs_keras
def test_detects_the_installed_keras(ad: KerasAdapter) -> None:
    assert ad.major() == MAJOR
    assert ad.version() == keras_mod.__version__
    if MAJOR >= 3:
        assert K is keras_mod  # standalone Keras 3
        assert ad.backend() == keras_mod.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
        assert ad.facts.load_modes == ("default", "skip_mismatch")
    else:
        tf = pytest.importorskip("tensorflow")
        # Keras 2 as the editions spell it (tf.keras is a lazy module)
        assert K.Sequential is tf.keras.Sequential
        assert ad.backend() == "tensorflow"
        assert ad.facts.load_modes == ("tf_checkpoint", "h5")
    assert ad.describe() == {"name": "keras", "version": ad.version(), "backend": ad.backend()}
    assert KerasAdapter.facts.weight_layout == ad.facts.weight_layout == "in_out"


@needs_keras
def test_explicit_input_is_not_a_layer() -> None:
    # Both Keras 2 and 3: an Input / InputLayer is not counted in Sequential.layers.
    m = K.Sequential([K.Input(shape=(4,)), K.layers.Dense(2)])
    assert len(m.layers) == 1


# -- names and paths ----------------------------------------------------------------------
@needs_keras
def test_names_and_paths(ad: KerasAdapter) -> None:
    net = ad.build(NESTED)
    names = [n for n, _ in ad.all_params(net)]
    if MAJOR >= 3:
        # variable.path is unique and mirrors the nesting; variable.name is the role only.
        assert names == [
            "net/block-0/inner/kernel", "net/block-0/inner/bias", "net/head/kernel", "net/head/bias"
        ]
        assert [v.name for v in net.weights] == ["kernel", "bias", "kernel", "bias"]
    else:
        # Keras 2: variable.name is "<layer>/<role>:0", the enclosing blocks are not in it.
        assert names == ["inner/kernel:0", "inner/bias:0", "head/kernel:0", "head/bias:0"]
    w = ad.param_at(net, (0, 0), "weight")
    if MAJOR >= 3:
        assert ad.lookup(net, names[0]) is w  # get_layer('block-0').get_layer('inner').kernel
    else:
        with pytest.raises(KeyError):  # no block name in the variable name: get_layer cannot get there
            ad.lookup(net, names[0])
    assert ad.lookup(net, names[2]) is ad.param_at(net, (1,), "weight")
    assert [k for k, _ in ad.state_dict(net)] == names


@needs_keras
def test_generated_names_come_from_a_process_wide_counter(ad: KerasAdapter) -> None:
    arch = Arch(Sequential((Dense(2),)), input_dim=3)
    first = {n for n, _ in ad.all_params(ad.build(arch))}
    second = {n for n, _ in ad.all_params(ad.build(arch))}
    assert first.isdisjoint(second)


@pytest.mark.parametrize("name", ["block 0", "блок", "ü", "block-1", "a.b"])
@needs_keras
def test_block_names(ad: KerasAdapter, name: str) -> None:
    arch = Arch(Sequential((Sequential((Dense(2),), name=name), Dense(1))), input_dim=3)
    if ad.block_name_ok(name):
        net = ad.build(arch)
        assert any(name in n for n, _ in ad.all_params(net)) or MAJOR < 3
    else:
        with pytest.raises(NotApplicable, match="does not accept the block name"):
            ad.build(arch)
        if MAJOR < 3:  # Keras 2 builds inside TF name scopes
            with pytest.raises(ValueError, match="scope name"):
                K.Sequential([K.Sequential([K.layers.Dense(2)], name=name)]).build((None, 3))
        else:  # Keras 3 on torch: layers are torch.nn.Modules, "." is torch's separator
            assert ad.backend() == "torch" and "." in name
            with pytest.raises(KeyError, match="contain"):
                K.Sequential([K.Sequential([K.layers.Dense(2)], name=name)]).build((None, 3))


@needs_keras
def test_slash_is_forbidden(ad: KerasAdapter) -> None:
    assert not ad.block_name_ok("a/b")
    if MAJOR >= 3:
        with pytest.raises(ValueError, match="/"):
            K.layers.Dense(2, name="a/b")


# -- the repeated layer ---------------------------------------------------------------------
@needs_keras
def test_repeated_layer(ad: KerasAdapter) -> None:
    shared = K.layers.Dense(4, kernel_initializer="ones", bias_initializer="zeros")
    net = K.Sequential([K.layers.Flatten(), shared, shared, K.layers.Dense(1)])
    net.build((None, 4))
    assert len(net.weights) == 4  # the shared kernel and bias once, then Dense(1)
    h = K.Sequential(net.layers[:-1]) if MAJOR < 3 else None
    del h
    one = np.ones((1, 4), np.float32)
    first_two = K.Sequential([K.layers.Flatten(), shared, shared])
    out = ad.forward(first_two, one)
    if MAJOR >= 3:
        assert len(net.layers) == 4 and net.layers[1] is net.layers[2]
        np.testing.assert_array_equal(out, np.full((1, 4), 16.0))  # applied twice
    else:
        assert len(net.layers) == 3  # "tf.keras removes the duplicate layer"
        np.testing.assert_array_equal(out, np.full((1, 4), 4.0))  # ... and applies it once




# -- unbuilt layers -----------------------------------------------------------------------------
@needs_keras
def test_unbuilt_layer_handles(ad: KerasAdapter) -> None:
    # (shape() None and read() Uninitialized before the first call, the native
    # shape and the same handle after it: the contract's deferred-init check)
    arch = Arch(Sequential((Dense(3), ReLU(), Dense(2))), input_dim=4, lazy=True)
    net = ad.build(arch)
    layer = ad.child(net, 0)
    assert not layer.built and layer.weights == []
    params = ad.layer_params(layer)
    assert [k for k, _ in params] == ["weight", "bias"]
    w = params[0][1]
    assert ad.dtype(w) == "float32"
    assert ad.grad(w) is None
    with pytest.raises(Uninitialized):
        ad.write(w, np.zeros((4, 3), np.float32))
    ad.initialize(net, weight=Init("constant", value=3.0))  # sets kernel_initializer before build
    ad.forward(net, _x())
    # The handle taken before the first call now stands for the variable Keras created.
    assert (ad.read(w) == 3.0).all()


# -- writing and initialising ------------------------------------------------------------------------
@needs_keras
def test_the_chapters_assign_idiom(ad: KerasAdapter) -> None:
    # (the adapter's assign: the contract's assign check)
    net = ad.build(Arch(Sequential((Dense(2),)), input_dim=3))
    w = ad.param_at(net, (0,), "weight")
    if ad.backend() == "tensorflow":
        w[1, 1].assign(7.0)  # the chapter's idiom works as written
        assert ad.read(w)[1, 1] == 7.0
    else:
        with pytest.raises(AttributeError):  # a jax / torch array has no .assign
            w[1, 1].assign(7.0)


@needs_keras
def test_mixture_initialiser_is_an_initializer_subclass(ad: KerasAdapter) -> None:
    # (the values it draws: the contract's initialize check)
    init = ad.native_initializer(Init("mixture"))
    assert isinstance(init, K.initializers.Initializer)


# -- observations the known deviations rest on ----------------------------------------------------
@needs_keras
def test_repeated_child_capability_is_what_keras_does(ad: KerasAdapter) -> None:
    shared = K.layers.Dense(2)
    kept = len(K.Sequential([K.layers.Flatten(), shared, shared]).layers) == 3
    assert ("repeated_child" in ad.facts.capabilities) is kept
    assert kept is (MAJOR >= 3)  # "tf.keras removes the duplicate layer" (Keras 2 only)


@needs_keras
def test_constant_subnormal_is_flushed_by_keras3_on_tensorflow_and_jax(ad: KerasAdapter) -> None:
    from conformance.strategies import SMALLEST_SUBNORMAL

    net = ad.build(Arch(Sequential((Dense(2),)), input_dim=2))
    ad.initialize(net, weight=Init("constant", value=SMALLEST_SUBNORMAL))
    w = ad.read(ad.param_at(net, (0,), "weight"))
    flushed = bool((w == 0).all())
    assert flushed or (w == np.float32(SMALLEST_SUBNORMAL)).all(), w
    assert flushed is (MAJOR >= 3 and ad.backend() in ("tensorflow", "jax"))


@needs_keras
def test_whole_model_with_a_layer_shared_by_two_sequentials_does_not_load(
    ad: KerasAdapter, tmp_path: Path
) -> None:
    arch = Arch(Sequential((Sequential((Dense(2, tie="s"),)), Sequential((Dense(2, tie="s"),)))), input_dim=2)
    net = ad.build(arch)
    ad.save_model(net, tmp_path / "m")
    with pytest.raises(ValueError, match="expected 2 variables, but received 0 variables"):
        ad.load_model(tmp_path / "m")
    # the weights-only round trip of the same model works
    ad.save_weights(net, tmp_path / "w")
    for mode in ad.facts.load_modes:
        back = ad.load_weights(ad.build(arch), tmp_path / "w", mode)
        np.testing.assert_array_equal(ad.forward(back, _x(cols=2)), ad.forward(net, _x(cols=2)))


@needs_keras
def test_a_shared_layer_named_like_a_sibling_is_refused_as_unbuildable(ad: KerasAdapter) -> None:
    """Keras' rule: the layers of one Sequential have distinct names, and a
    layer's name travels with it; the adapter reports that as Unbuildable (the
    properties discard such an example)."""
    from conformance.adapters.base import Unbuildable

    # The layer named 'A' first used inside a block, then again beside a block named 'A'.
    arch = Arch(
        Sequential((
            Sequential((Dense(2, name="A", tie="s"),)), Sequential((ReLU(),), name="A"), Dense(2, tie="s")
        )),
        input_dim=2,
    )
    with pytest.raises(Unbuildable, match="unique names"):
        ad.build(arch)
