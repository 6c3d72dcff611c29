"""The suite's own tests of the PaddlePaddle adapter: does it translate
Paddle's quirks (a shared layer listed once by named_parameters but once per
position by state_dict, in-place writes refused on a leaf parameter under
autograd, set_state_dict copying into the existing parameters, jit.save's
structure-less TranslatedLayer) faithfully? They pin down what Paddle actually
does, so that a property failing later is a finding about Paddle, not about
the adapter. Every primitive is also checked against the profile and the
numpy oracle by the adapter contract (tests/test_adapter_contract.py,
conformance.testing); what is here is Paddle's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
nn = paddle.nn

from conftest import batch as _x  # noqa: E402

from conformance.adapters.base import NotApplicable  # noqa: E402
from conformance.arch import Arch, Dense, ReLU, Sequential  # noqa: E402
from conformance.frameworks.paddle.adapter import PaddleAdapter  # noqa: E402
from conformance.strategies import CHAPTER_TIED  # noqa: E402

# The chapter's tied net: Linear(4, 8), ReLU, shared, ReLU, shared, ReLU, Linear(8, 1).
TIED = CHAPTER_TIED


@pytest.fixture
def ad() -> PaddleAdapter:
    a = PaddleAdapter()
    a.seed(0)
    return a




# -- naming of a shared layer ----------------------------------------------------------
def test_shared_layer_listed_once_by_named_parameters_per_position_by_state_dict(ad: PaddleAdapter) -> None:
    # (one layer at both positions: the contract's ties and structure checks)
    net = ad.build(TIED)
    # named_parameters(remove_duplicate=True, the default) lists the shared layer at its first use ...
    names = [n for n, _ in ad.all_params(net)]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"]
    assert len(net.parameters()) == 6
    # ... state_dict keeps one key per position, and its values are the live Parameters.
    keys = [k for k, _ in ad.state_dict(net)]
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
    assert net.state_dict()["4.weight"] is net.state_dict()["2.weight"] is net[2].weight
    # The edition's lookup, net.state_dict()['2.bias'], resolves both positions to the one object.
    assert ad.lookup(net, "4.weight") is ad.lookup(net, "2.weight")
    # Paddle's own generated names (linear_N.w_0) come from a process-wide counter; the
    # structured names above do not.
    assert net[0].weight.name != ad.build(TIED)[0].weight.name


def test_the_default_initializer_is_xavier_uniform() -> None:
    # (the (in, out) layout: the contract's layout checks; the default laws:
    # the catalogue's default-init.documented-weight / -bias)
    # The default comes from ParamAttr._set_default_param_initializer -> XavierUniform().
    attr = paddle.ParamAttr()
    attr._set_default_param_initializer()
    assert type(attr.initializer) is nn.initializer.XavierUniform


@pytest.mark.parametrize("name", ["block 0", "block-1", "блок", "ブロック", "ü"])
def test_unusual_block_names_work(ad: PaddleAdapter, name: str) -> None:
    arch = Arch(Sequential((Sequential((Dense(2), ReLU()), name=name), Dense(1))), input_dim=3)
    net = ad.build(arch)
    assert f"{name}.0.weight" in dict(ad.all_params(net))
    assert ad.lookup(net, f"{name}.0.weight") is ad.param_at(net, (0, 0), "weight")
    assert ad.child(net, 0) is net[name]  # Sequential also indexes by name


@pytest.mark.parametrize("name", ["a.b", "training", "forward"])
def test_paddle_accepts_any_block_name(ad: PaddleAdapter, name: str) -> None:
    # add_sublayer checks nothing: even the separator and Layer attribute names
    # are accepted and used in the structured names.
    assert ad.block_name_ok(name)
    net = ad.build(Arch(Sequential((Dense(2, name=name),)), input_dim=3))
    assert [n for n, _ in ad.all_params(net)] == [f"{name}.weight", f"{name}.bias"]
    assert ad.lookup(net, f"{name}.weight") is ad.child(net, 0).weight


def test_a_dot_in_an_accepted_block_name_makes_names_collide(ad: PaddleAdapter) -> None:
    # Paddle accepts "a.b" as a block name, so a sibling block "a" holding a
    # layer "b" produces the same structured names: named_parameters lists
    # "a.b.weight" twice and state_dict keeps only one of the two weights.
    # (The catalogue's name strategy has no "."; see the report to the lead.)
    arch = Arch(Sequential((Dense(2, name="a.b"), Sequential((Dense(2, name="b"),), name="a"))), input_dim=2)
    net = ad.build(arch)
    names = [n for n, _ in ad.all_params(net)]
    assert names == ["a.b.weight", "a.b.bias", "a.b.weight", "a.b.bias"]
    assert [k for k, _ in ad.state_dict(net)] == ["a.b.weight", "a.b.bias"]


def test_get_parameter_misses_a_block_named_like_an_attribute(ad: PaddleAdapter) -> None:
    if not hasattr(nn.Layer, "get_parameter"):
        pytest.skip("Layer.get_parameter is not in this Paddle version")
    net = ad.build(Arch(Sequential((Dense(2, name="training"),)), input_dim=3))
    # get_parameter resolves "training" with getattr -> the bool attribute; why
    # the adapter looks names up in state_dict() instead.
    with pytest.raises(AttributeError):
        net.get_parameter("training.weight")


# -- in-place assignment rules -----------------------------------------------------------
def test_inplace_setitem_on_a_leaf_parameter_needs_no_grad(ad: PaddleAdapter) -> None:
    net = ad.build(Arch(Sequential((Dense(3),)), input_dim=2))
    w = net[0].weight
    assert not w.stop_gradient  # a leaf that requires grad
    with pytest.raises(ValueError, match="inplace"):
        w[0, 0] = 42.0
    with paddle.no_grad():
        w[0, 0] = 42.0
    assert ad.read(w)[0, 0] == 42.0



def test_a_second_backward_without_clearing_accumulates(ad: PaddleAdapter) -> None:
    # (None before backward, the gradient after it, zero_grad: the contract's
    # grad-before-backward, backward and zero-grad checks)
    arch = Arch(Sequential((Dense(3), ReLU(), Dense(2))), input_dim=4)
    net = ad.build(arch)
    x, up = _x(5, 4), _x(5, 2, seed=2)
    ad.backward(net, x, up)
    once = ad.read_grads(net, arch)[((2,), "weight")]
    ad.backward(net, x, up)
    again = ad.read_grads(net, arch)[((2,), "weight")]
    assert once is not None and again is not None
    np.testing.assert_allclose(again, 2 * once, rtol=1e-5, atol=1e-6)


# -- initialisers ------------------------------------------------------------------------------

def test_the_editions_bare_initializer_objects_do_nothing(ad: PaddleAdapter) -> None:
    # The Paddle tab of d2l-zh writes `paddle.nn.initializer.Normal(mean=0.0, std=0.01)`
    # inside init_normal: that constructs an initializer and drops it, so the
    # weights keep their default values. Calling the object on the parameter applies it.
    net = ad.build(Arch(Sequential((Dense(8),)), input_dim=4))
    before = ad.read(net[0].weight)
    nn.initializer.Normal(mean=0.0, std=0.01)
    np.testing.assert_array_equal(ad.read(net[0].weight), before)
    nn.initializer.Normal(mean=0.0, std=0.01)(net[0].weight)
    assert not np.array_equal(ad.read(net[0].weight), before)
    assert np.abs(ad.read(net[0].weight)).max() < 0.1


# -- saving and loading ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", PaddleAdapter.facts.load_modes)
def test_every_load_mode_copies_into_the_existing_parameters(
    ad: PaddleAdapter, tmp_path: Path, mode: str
) -> None:
    # (values loaded, tie kept: the contract's load-modes check)
    src = ad.build(TIED)
    path = tmp_path / "w.pdparams"
    ad.save_weights(src, path)
    ad.seed(1)
    dst = ad.build(TIED)
    before = ad.param_at(dst, (2,), "weight")
    out = ad.load_weights(dst, path, mode)
    assert out is dst
    # set_state_dict copies into the existing Parameters: same objects.
    assert ad.param_at(out, (2,), "weight") is before
    np.testing.assert_array_equal(ad.read(before), ad.read(ad.param_at(src, (2,), "weight")))


def test_set_state_dict_lets_the_last_position_win_and_reports_missing_keys(ad: PaddleAdapter) -> None:
    net = ad.build(TIED)
    sd = {k: paddle.to_tensor(v) for k, v in ad.state_dict(net)}
    sd["4.weight"] = paddle.zeros([8, 8])  # disagrees with "2.weight"
    net.set_state_dict(sd)
    assert not ad.read(ad.param_at(net, (2,), "weight")).any()  # the later key was copied last
    del sd["4.weight"]
    with pytest.warns(UserWarning, match="Skip loading"):  # no exception, a warning and a report
        missing, unexpected = ad.build(TIED).set_state_dict(sd)
    assert missing == ["4.weight"] and unexpected == []



def test_whole_model_is_a_structureless_translated_layer(ad: PaddleAdapter, tmp_path: Path) -> None:
    # (load_model computes what the saved net computed: the contract's whole-model check, untied)
    net = ad.build(TIED)
    with pytest.raises(ValueError, match=r"nn\.Layer"):
        paddle.save(net, str(tmp_path / "whole"))  # paddle.save refuses a Layer
    ad.save_model(net, tmp_path / "m")
    back = ad.load_model(tmp_path / "m")
    np.testing.assert_array_equal(ad.forward(back, _x()), ad.forward(net, _x()))
    # The shared layer is one parameter in the saved program (6 parameters for 8
    # state-dict positions) but the loaded layer has no positions to ask.
    assert len(back.parameters()) == 6
    with pytest.raises(NotApplicable, match="TranslatedLayer"):
        ad.child(back, 2)


def test_no_deferred_initialisation() -> None:
    # (a lazy build refused with NotApplicable: the contract's capabilities check)
    assert not hasattr(nn, "LazyLinear")
    assert "deferred_init" not in PaddleAdapter.facts.capabilities


# -- identity ---------------------------------------------------------------------------------

def test_identity(ad: PaddleAdapter) -> None:
    assert ad.version() == paddle.__version__
    assert ad.backend() is None



def test_parameter_level_sharing_is_add_parameter(ad: PaddleAdapter) -> None:
    """Two distinct nn.Linear layers hold one Parameter (``add_parameter``):
    listed once, a state_dict key at each layer, and copy loading keeps it."""
    arch = Arch(Sequential((Dense(4, tie="a"), ReLU(), Dense(4, weight_of="a"))), 4)
    net, other = ad.build(arch), ad.build(arch)
    assert net[0] is not net[2] and net[2].weight is net[0].weight
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.bias"]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ad.load_state(other, ad.get_state(net), "set_state_dict")
    assert other[2].weight is other[0].weight
    np.testing.assert_array_equal(other[0].weight.numpy(), net[0].weight.numpy())


def test_transposed_tie_applies_the_source_weight_transposed(ad: PaddleAdapter) -> None:
    arch = Arch(Sequential((Dense(3, tie="enc"), Dense(5, weight_of="enc", transposed=True))), 5)
    net = ad.build(arch)
    assert net[1].weight is net[0].weight
    x = _x(cols=5)
    w0, b0, b1 = (p.numpy() for p in (net[0].weight, net[0].bias, net[1].bias))
    np.testing.assert_allclose(ad.forward(net, x), (x @ w0 + b0) @ w0.T + b1, rtol=1e-5, atol=1e-6)
