"""The suite's own tests of the MXNet Gluon adapter: does it translate Gluon
1.x's quirks (deferred initialisation, the force_reinit rule, Initializer
dispatch by name, Trainer's 1/batch_size, structural save keys, the name
counter) faithfully? These pin down what Gluon actually does so that a
property failing later is a finding about MXNet, not about the adapter.
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
from mxnet import autograd, init, nd  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from conformance.adapters.base import Init, NotApplicable, Uninitialized  # noqa: E402
from conformance.arch import Arch, Dense, ReLU, Sequential  # noqa: E402
from conformance.frameworks.mxnet.adapter import GluonAdapter  # noqa: E402

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

