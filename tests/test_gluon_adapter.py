"""The suite's own tests of the MXNet Gluon adapter: does it translate Gluon
1.x's quirks (deferred initialisation, the force_reinit rule, Initializer
dispatch by name, Trainer's 1/batch_size, structural save keys, the name
counter, sharing by name through params=, user-defined blocks set as
attributes, load_dict's prefixes) faithfully? These pin down what Gluon
actually does so that a property failing later is a finding about MXNet,
not about the adapter.
Every primitive is also checked against the profile and the numpy oracle by
the adapter contract (tests/test_adapter_contract.py, conformance.testing);
what is here is Gluon's own."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from conftest import batch as _x  # noqa: E402
from mxnet import autograd, gluon, init, nd  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from conformance.adapters.base import Init, NotApplicable, Unbuildable, Uninitialized  # noqa: E402
from conformance.arch import Arch, Dense, Kind, ReLU, Sequential  # noqa: E402
from conformance.arch import Path as ArchPath  # noqa: E402
from conformance.frameworks.mxnet import adapter as gluon_adapter  # noqa: E402
from conformance.frameworks.mxnet import blocks  # noqa: E402
from conformance.frameworks.mxnet.adapter import GluonAdapter  # noqa: E402
from conformance.strategies import CHAPTER_LINEAR, MXNET_SHARED, NESTED_CUSTOM  # noqa: E402

MLP = Arch(Sequential((Dense(8), ReLU(), Dense(1))), input_dim=4)
# The chapter's tied net: Dense(8), ReLU, shared, ReLU, shared, ReLU, Dense(1).
TIED = Arch(
    Sequential((Dense(8), ReLU(), Dense(8, tie="shared"), ReLU(), Dense(8, tie="shared"), ReLU(), Dense(1))),
    input_dim=4,
)
MIXTURE = Init("mixture")


@pytest.fixture
def ad() -> GluonAdapter:
    a = GluonAdapter()
    a.seed(0)
    return a




# -- deferred initialisation ---------------------------------------------------------
def test_deferred_shapes_before_and_after_the_first_forward(ad: GluonAdapter) -> None:
    net = ad.build(MLP.with_lazy())
    w = ad.param_at(net, (0,), "weight")
    assert tuple(w.shape) == (8, 0)  # Gluon's own display: Parameter dense0_weight (shape=(8, 0))
    assert ad.shape(w) == (8, None)
    assert ad.shape(ad.param_at(net, (0,), "bias")) == (8,)  # the bias shape is known from units
    with pytest.raises(mx.gluon.parameter.DeferredInitializationError):
        w.data()
    with pytest.raises(Uninitialized):
        ad.read(w)
    with pytest.raises(Uninitialized):
        ad.write(w, np.zeros((8, 4), np.float32))
    out = ad.forward(net, _x())
    assert out.shape == (3, 1)
    assert ad.shape(w) == (8, 4)
    assert ad.shape(ad.param_at(net, (2,), "weight")) == (1, 8)
    assert np.abs(ad.read(w)).max() <= 0.07  # the default U(-0.07, 0.07), drawn at inference


def test_initialiser_requested_before_inference_is_applied(ad: GluonAdapter) -> None:
    net = ad.build(MLP.with_lazy())
    ad.initialize(net, weight=Init("constant", value=3.0), bias=Init("zeros"))
    ad.forward(net, _x())
    assert (ad.read(ad.param_at(net, (0,), "weight")) == 3.0).all()


# -- initialisation ------------------------------------------------------------------

def test_reinitialising_without_force_reinit_is_ignored_with_a_warning(ad: GluonAdapter) -> None:
    net = ad.build(MLP)
    before = ad.read(ad.param_at(net, (0,), "weight"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ad.initialize_all(net, Init("constant", value=1.0), force=False)
    assert any("already initialized" in str(w.message) for w in caught)
    np.testing.assert_array_equal(ad.read(ad.param_at(net, (0,), "weight")), before)
    ad.initialize_all(net, Init("constant", value=1.0), force=True)
    assert (ad.read(ad.param_at(net, (0,), "weight")) == 1.0).all()
    assert not ad.read(ad.param_at(net, (0,), "bias")).any()  # the bias keeps its own 'zeros'


def test_custom_initialiser_reaches_weights_only() -> None:
    calls: list[str] = []

    class MyInit(init.Initializer):  # the chapter's MyInit, recording its calls
        def _init_weight(self, name, data):
            calls.append(name)
            data[:] = nd.random.uniform(low=-10, high=10, shape=data.shape)
            data *= data.abs() >= 5

    net = nn.Sequential()
    net.add(nn.Dense(16, in_units=4, activation="relu"), nn.Dense(3, in_units=16))
    net.initialize()
    net.initialize(MyInit(), force_reinit=True)
    assert calls == [net[0].weight.name, net[1].weight.name]
    assert not net[0].bias.data().asnumpy().any()
    # and through the adapter
    ad = GluonAdapter()
    m = ad.build(MLP)
    ad.initialize_all(m, MIXTURE, force=True)
    w = ad.read(ad.param_at(m, (0,), "weight"))
    assert ((w == 0) | ((np.abs(w) >= 5) & (np.abs(w) <= 10))).all()
    assert not ad.read(ad.param_at(m, (0,), "bias")).any()


def test_initialisers_gluon_cannot_express_are_not_applicable(ad: GluonAdapter) -> None:
    net = ad.build(MLP)
    with pytest.raises(NotApplicable, match="mean zero"):
        ad.initialize(net, weight=Init("normal", mean=1.0, std=0.1))
    with pytest.raises(NotApplicable, match="U\\(-scale, scale\\)"):
        ad.initialize(net, weight=Init("uniform", low=0.0, high=1.0))
    ad.initialize(net, weight=Init("normal", std=0.01))  # init.Normal(sigma=0.01) is fine



# -- access, gradients, training ---------------------------------------------------------
def test_each_backward_overwrites_the_gradient(ad: GluonAdapter) -> None:
    # (zeros before any backward: the contract's grad-before-backward check)
    net = ad.build(MLP)
    w = ad.param_at(net, (0,), "weight")
    x, up = _x(), np.ones((3, 1), np.float32)
    ad.backward(net, x, up)
    g1 = ad.grad(w)
    ad.backward(net, x, up)  # grad_req='write': a second backward overwrites, it does not add
    np.testing.assert_array_equal(ad.grad(w), g1)


def test_tied_layer_is_listed_once_but_saved_at_every_position(ad: GluonAdapter) -> None:
    # (one block at both positions, its gradient the sum over uses: the
    # contract's ties and backward checks, on this very net)
    net = ad.build(TIED)
    names = [n for n, _ in ad.all_params(net)]
    assert len(names) == 6  # collect_params lists the shared Parameter once
    keys = [k for k, _ in ad.state_dict(net)]
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]


def test_the_editions_params_idiom_shares_like_the_same_instance() -> None:
    """nn.Dense(8, params=shared.params), as 003 4.2.4 writes it: two blocks,
    one set of Parameter objects, listed once, gradients of both uses summed."""
    net = nn.Sequential()
    shared = nn.Dense(8, activation="relu", in_units=8)
    net.add(nn.Dense(8, activation="relu", in_units=4), shared,
            nn.Dense(8, activation="relu", in_units=8, params=shared.params), nn.Dense(1, in_units=8))
    net.initialize()
    assert net[1] is not net[2] and net[1].weight is net[2].weight
    assert len(list(net.collect_params().keys())) == 6
    assert len(net._collect_params_with_prefix()) == 8
    # the gradient of the shared weight is the sum over both uses (autograd
    # accumulates within one recorded graph, even with grad_req='write')
    x = nd.array(_x())
    with autograd.record():
        y = net(x)
    y.backward()
    g = net[1].weight.grad().asnumpy()
    h1 = net[0](x)
    a2 = net[1].weight.data().copy()
    w1 = nd.array(a2.asnumpy())
    w1.attach_grad()
    w2 = nd.array(a2.asnumpy())
    w2.attach_grad()
    b = net[1].bias.data()
    with autograd.record():
        z2 = nd.relu(nd.dot(h1, w1.T) + b)
        z3 = nd.relu(nd.dot(z2, w2.T) + b)
        out = net[3](z3)
    out.backward()
    np.testing.assert_allclose(g, (w1.grad + w2.grad).asnumpy(), rtol=1e-5, atol=1e-6)
    net[1].weight.data()[0, 0] = 100
    assert net[2].weight.data()[0, 0].asscalar() == 100



# -- naming --------------------------------------------------------------------------
def test_generated_names_come_from_a_process_wide_counter(ad: GluonAdapter) -> None:
    first = [n for n, _ in ad.all_params(ad.build(MLP))]
    second = [n for n, _ in ad.all_params(ad.build(MLP))]
    assert set(first).isdisjoint(second)
    assert all(n.startswith("sequential") for n in first)  # the root's generated prefix
    # the editions' bare idiom: dense<k>_weight with k counting every Dense built so far
    a, b = nn.Dense(2), nn.Dense(2)
    ka, kb = (int(d.prefix[len("dense"):-1]) for d in (a, b))
    assert kb == ka + 1


def test_named_blocks_mirror_the_nesting(ad: GluonAdapter) -> None:
    inner = Sequential((Dense(3, name="block 0"), ReLU()), name="outer-ä")
    arch = Arch(Sequential((inner, Dense(1))), input_dim=2)
    names = [n for n, _ in ad.all_params(ad.build(arch))]
    assert names[0].endswith("_outer-ä_block 0_weight")
    assert not ad.block_name_ok("dense0") and ad.block_name_ok("dense-0")


def test_editions_nesting_without_name_scope_gives_flat_names() -> None:
    def block1():
        net = nn.Sequential()
        net.add(nn.Dense(4, activation="relu"))
        return net

    rgnet = nn.Sequential()
    rgnet.add(block1())
    rgnet.add(nn.Dense(1))
    names = list(rgnet.collect_params().keys())
    assert all(n.startswith("dense") for n in names)  # no 'sequential' segment: nesting not mirrored


def test_pattern_selection_uses_re_match(ad: GluonAdapter) -> None:
    net = ad.build(MLP)
    weights = ad.select(net, ".*weight")
    assert [p for _, p in weights] == [ad.param_at(net, (0,), "weight"), ad.param_at(net, (2,), "weight")]
    assert ad.select(net, "weight") == []  # re.match anchors at the start, unlike re.search


# -- serialisation ---------------------------------------------------------------------
def test_load_modes(ad: GluonAdapter, tmp_path: Path) -> None:
    # (every mode round-trips, an unknown one is refused: the contract's load-modes check)
    assert ad.facts.load_modes == ("strict", "allow_missing", "ignore_extra")
    src = ad.build(TIED)
    ad.save_weights(src, tmp_path / "w")
    # a file with a key the model lacks: strict refuses, ignore_extra loads
    small = ad.build(Arch(Sequential((Dense(8),)), input_dim=4))
    with pytest.raises(Exception, match="ignore_extra"):
        ad.load_weights(small, tmp_path / "w", "strict")
    ad.load_weights(small, tmp_path / "w", "ignore_extra")
    # a model with a key the file lacks: strict refuses, allow_missing loads
    big_root = Sequential((Dense(8), ReLU(), Dense(8), ReLU(), Dense(8), ReLU(), Dense(1), Dense(2)))
    big = ad.build(Arch(big_root, input_dim=4))
    with pytest.raises(Exception, match="allow_missing"):
        ad.load_weights(big, tmp_path / "w", "strict")
    ad.load_weights(big, tmp_path / "w", "allow_missing")


def test_deduplicate_saves_a_shared_parameter_once(ad: GluonAdapter, tmp_path: Path) -> None:
    net = ad.build(TIED)
    net.save_parameters(str(tmp_path / "d"), deduplicate=True)
    keys = sorted(nd.load(str(tmp_path / "d")).keys())
    assert len(keys) == 6  # one of '2.weight' / '4.weight' only
    # ... and load_parameters accepts it in the default (strict) mode, tie kept
    dst = ad.load_weights(ad.build(TIED), tmp_path / "d", "strict")
    assert ad.param_at(dst, (2,), "weight") is ad.param_at(dst, (4,), "weight")


def test_no_whole_model_save_for_a_plain_block() -> None:
    # (save_model raising NotApplicable: the contract's capabilities check)
    assert "whole_model_save" not in GluonAdapter.facts.capabilities
    assert not hasattr(nn.Sequential(), "export")  # only HybridBlock has export


# -- identity ---------------------------------------------------------------------------------

def test_identity(ad: GluonAdapter) -> None:
    assert ad.version() == mx.__version__



# -- user-defined layers and blocks ---------------------------------------------------------
def test_custom_layer_defers_its_weight_to_the_first_forward(ad: GluonAdapter) -> None:
    """The custom-layer tutorial's pattern: the bias is known at construction,
    the weight (units, 0) is inferred by F.FullyConnected at the first forward."""
    arch = Arch(Sequential((Dense(8, custom=True), ReLU(), Dense(1, custom=True))), input_dim=4).with_lazy()
    net = ad.build(arch)
    layer = net[0]
    assert isinstance(layer, blocks.UserDense)
    assert [k for k, _ in ad.layer_params(layer)] == ["bias", "weight"]  # created in that order
    assert ad.shape(layer.bias) == (8,) and ad.shape(layer.weight) == (8, None)
    with pytest.raises(Uninitialized):
        ad.read(layer.weight)
    assert ad.forward(net, _x()).shape == (3, 1)
    assert ad.shape(layer.weight) == (8, 4) and ad.shape(net[2].weight) == (1, 8)
    assert not ad.read(layer.bias).any()  # 'zeros', as nn.Dense's bias_initializer
    assert np.abs(ad.read(layer.weight)).max() <= 0.07  # the model-wide default, drawn at inference


def test_user_defined_blocks_hold_children_as_attributes(ad: GluonAdapter) -> None:
    """A user-defined block's children are its attributes, named through its
    name_scope() and saved under the attribute names; every parameter is
    listed once, found by its listed name, and saved with its value under its
    structural key: all that custom.params-tracked asks but the one name for
    both (the profile's known deviation)."""
    net = ad.build(NESTED_CUSTOM)
    assert ad.block_at(net, (0, 0)) is net.block.inner and ad.block_at(net, (1, 1, 0)) is net.head[1].proj
    p = net.prefix
    assert [n for n, _ in ad.all_params(net)] == [
        f"{p}block_inner_bias", f"{p}block_inner_weight", f"{p}head_userdense0_bias",
        f"{p}head_userdense0_weight", f"{p}head_deep_proj_weight", f"{p}head_deep_proj_bias",
    ]
    keys: dict[tuple[ArchPath, Kind], str] = {
        ((0, 0), "weight"): "block.inner.weight", ((0, 0), "bias"): "block.inner.bias",
        ((1, 0), "weight"): "head.0.weight", ((1, 0), "bias"): "head.0.bias",
        ((1, 1, 0), "weight"): "head.1.proj.weight", ((1, 1, 0), "bias"): "head.1.proj.bias",
    }
    sd = dict(ad.state_dict(net))
    assert sorted(sd) == sorted(keys.values())
    listing = ad.all_params(net)
    for (path, kind), key in keys.items():
        param = ad.param_at(net, path, kind)
        [name] = [n for n, q in listing if q is param]
        assert ad.lookup(net, name) is param
        np.testing.assert_array_equal(sd[key], ad.read(param))
    # the TF edition's Linear(d1, d2) as a Gluon user would write it
    linear = ad.build(CHAPTER_LINEAR)
    assert [k for k, _ in ad.state_dict(linear)] == ["d1.weight", "d1.bias", "d2.weight", "d2.bias"]


def test_initialisers_reach_user_defined_layers(ad: GluonAdapter) -> None:
    net = ad.build(NESTED_CUSTOM)
    ad.initialize(net.head, weight=Init("constant", value=3.0), bias=Init("constant", value=2.0))
    for path in ((1, 0), (1, 1, 0)):
        assert (ad.read(ad.param_at(net, path, "weight")) == 3.0).all()
        assert (ad.read(ad.param_at(net, path, "bias")) == 2.0).all()
    assert not (ad.read(ad.param_at(net, (0, 0), "weight")) == 3.0).any()  # outside the sub-block


def test_a_block_attribute_cannot_name_a_child_of_a_user_defined_block(ad: GluonAdapter) -> None:
    """Why block_name_ok(name, in_custom_block=True) refuses the attribute
    names of a block: Gluon registers the child, then the attribute fails to
    be set or replaces what the block needs. The built-in Sequential keys its
    children by position and takes them."""
    for name in ("params", "prefix", "forward", "__dict__", "order", "collect_params"):
        assert ad.block_name_ok(name) and not ad.block_name_ok(name, in_custom_block=True), name
    assert ad.block_name_ok("inner", in_custom_block=True)
    with pytest.raises(AttributeError):  # a read-only property
        blocks.UserBlock(iter([("params", nn.Dense(2))]))
    with pytest.raises(TypeError, match="__dict__"):
        blocks.UserBlock(iter([("__dict__", nn.Dense(2))]))
    # `forward` silently replaces the method: the block then runs that child alone
    net = blocks.UserBlock(iter([("a", nn.Dense(3, in_units=4)), ("forward", nn.Dense(2, in_units=4))]))
    net.initialize()
    assert net(nd.array(_x())).shape == (3, 2)
    # the names are read off one block built with a prefix of its own, so
    # asking takes no name from Gluon's counter
    gluon_adapter._block_attributes.cache_clear()
    ka = int(nn.Dense(2).prefix[len("dense"):-1])
    ad.block_name_ok("x", in_custom_block=True)
    kb = int(nn.Dense(2).prefix[len("dense"):-1])
    assert kb == ka + 1
    assert not ad.block_name_ok("userblock0") and not ad.block_name_ok("tieddense3")  # generated prefixes


# -- parameter-level sharing --------------------------------------------------------------------
def test_the_editions_network_is_built_with_params(ad: GluonAdapter) -> None:
    """MXNET_SHARED (003 4.2.4): the third dense layer is nn.Dense(8,
    params=shared.params), a block of its own holding both Parameters."""
    net = ad.build(MXNET_SHARED)
    assert type(net[4]) is nn.Dense and net[4] is not net[2]
    assert net[4].weight is net[2].weight and net[4].bias is net[2].bias
    assert len(ad.all_params(net)) == 6 and len(ad.state_dict(net)) == 8


def test_params_shares_by_name_so_one_parameter_goes_through_a_block_given_it(ad: GluonAdapter) -> None:
    """Gluon 1.9.1 shares by name: params= with a ParameterDict holding only
    the weight gives the new layer a bias named like the source's, which
    collect_params() refuses; assigning the Parameter (Gluon 2.0's idiom) is
    refused too, and share_parameters does not exist. The adapter hands the
    Parameter to a user-defined layer, which holds it as params= would."""
    src = nn.Dense(4, in_units=4)
    only_weight = gluon.ParameterDict(src.params.prefix)
    only_weight.update({src.weight.name: src.weight})
    dst = nn.Dense(4, in_units=4, params=only_weight)
    assert dst.weight is src.weight and dst.bias is not src.bias and dst.bias.name == src.bias.name
    pair = nn.Sequential()
    pair.add(src, dst)
    with pytest.raises(AssertionError, match="same name"):
        pair.collect_params()
    with pytest.raises(AssertionError, match="Overriding Parameter attribute"):
        dst.weight = src.weight
    assert not hasattr(dst, "share_parameters")
    arch = Arch(Sequential((Dense(4, tie="a"), ReLU(), Dense(4, weight_of="a"))), 4)
    net = ad.build(arch)
    assert isinstance(net[2], blocks.TiedDense)
    assert net[2].weight is net[0].weight and net[2].bias is not net[0].bias
    assert list(net[2].params.values()) == [net[0].weight, net[2].bias]  # as params= leaves them
    assert [q for _, q in ad.all_params(net)] == [net[0].weight, net[0].bias, net[2].bias]
    assert [k for k, _ in ad.state_dict(net)] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_transposed_tie_applies_the_source_weight_transposed(ad: GluonAdapter) -> None:
    arch = Arch(Sequential((Dense(3, tie="enc"), Dense(5, weight_of="enc", transposed=True))), 5)
    net = ad.build(arch)
    assert net[1].weight is net[0].weight
    x = _x(cols=5)
    w0, b0, b1 = (p.data().asnumpy() for p in (net[0].weight, net[0].bias, net[1].bias))
    np.testing.assert_allclose(ad.forward(net, x), (x @ w0.T + b0) @ w0 + b1, rtol=1e-5, atol=1e-6)


# -- in-memory state ------------------------------------------------------------------------------
def test_state_is_keyed_without_the_model_prefix_and_loaded_by_copy(ad: GluonAdapter) -> None:
    src, dst = ad.build(TIED), ad.build(TIED)
    assert src.prefix != dst.prefix  # Gluon's counter: two models never share names
    state = ad.get_state(src)
    assert sorted(state) == [f"dense{i}_{k}" for i in range(3) for k in ("bias", "weight")]
    with pytest.raises(AssertionError, match="is missing"):  # the keys need restore_prefix
        dst.collect_params().load_dict(state)
    ad.load_state(dst, state, "strict")
    assert ad.param_at(dst, (2,), "weight") is ad.param_at(dst, (4,), "weight")
    np.testing.assert_array_equal(ad.read(dst[2].weight), ad.read(src[2].weight))
    # load_dict copies: a later write to the source is not seen in the loaded
    # model, while the state, the source's own arrays (Parameter.data()), sees it
    src[0].weight.data()[0, 0] = 42
    assert ad.read(dst[0].weight)[0, 0] != 42 and state["dense0_weight"][0, 0].asscalar() == 42
    # the modes: a missing key needs allow_missing, an extra one ignore_extra
    partial = {k: v for k, v in state.items() if k != "dense2_bias"}
    with pytest.raises(AssertionError, match="is missing"):
        ad.load_state(ad.build(TIED), partial, "strict")
    ad.load_state(ad.build(TIED), partial, "allow_missing")
    extra = {**state, "dense9_bias": state["dense0_bias"]}
    with pytest.raises(AssertionError, match="ignore_extra"):
        ad.load_state(ad.build(TIED), extra, "strict")
    ad.load_state(ad.build(TIED), extra, "ignore_extra")


def test_colliding_prefixed_names_are_refused_as_unbuildable(ad: GluonAdapter) -> None:
    # A block "a_b" beside a block "a" holding "b": Gluon's prefixes join names
    # with "_", so two Parameters are both sequential<k>_a_b_weight and
    # collect_params() (inside net.initialize()) refuses the model. That is the
    # framework's own rule, so the build says Unbuildable (the properties
    # discard the example) instead of failing as a Gluon AssertionError.
    arch = Arch(Sequential((Dense(2, name="a_b"), Sequential((Dense(2, name="b"),), name="a"))), input_dim=3)
    with pytest.raises(Unbuildable, match="same name"):
        ad.build(arch)
    # the two names apart build fine
    apart = Sequential((Dense(2, name="a_c"), Sequential((Dense(2, name="b"),), name="a")))
    ad.build(Arch(apart, input_dim=3))
