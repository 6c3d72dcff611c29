"""The suite's own tests of the PyTorch adapter, beyond the adapter contract
(tests/test_adapter_contract.py, conformance.testing), which checks every
primitive against the profile and the numpy oracle: torch's own quirks
(tying by module object with a state_dict key per use, add_module names,
LazyLinear's UninitializedParameter and class swap, the three
load_state_dict modes, torch.manual_seed). These pin down what torch actually
does so that a property failing later is a finding about torch, not about the
adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from conftest import batch as _x  # noqa: E402

from conformance.adapters.base import Init, NotApplicable, Uninitialized  # noqa: E402
from conformance.arch import Arch, Dense, ReLU, Sequential  # noqa: E402
from conformance.frameworks.torch.adapter import TorchAdapter  # noqa: E402
from conformance.strategies import CHAPTER_TIED  # noqa: E402

# The chapter's tied net: Linear(4, 8), ReLU, shared, ReLU, shared, ReLU, Linear(8, 1).
TIED = CHAPTER_TIED


@pytest.fixture
def ad() -> TorchAdapter:
    a = TorchAdapter()
    a.seed(0)
    return a


def test_seeding_gives_what_torch_manual_seed_gives(ad: TorchAdapter) -> None:
    """The adapter seeds the CPU generator only (torch.manual_seed also queues
    device seeding); on the CPU the parameters are the same."""
    arch = Arch(Sequential((Dense(16), ReLU(), Dense(3))), input_dim=7)
    ad.seed(123)
    ours = ad.read_params(ad.build(arch), arch)
    torch.manual_seed(123)
    theirs = ad.read_params(ad.build(arch), arch)
    for key, v in ours.items():
        np.testing.assert_array_equal(v, theirs[key])


# -- tying -----------------------------------------------------------------------
def test_tied_layers_are_one_module_listed_once_but_kept_in_state_dict(ad: TorchAdapter) -> None:
    # (one object at both positions: the contract's ties and structure checks)
    net = ad.build(TIED)
    assert ad.child(net, 2) is ad.child(net, 4)
    # named_parameters removes duplicates (the catalogue's tied.listing-once) ...
    names = [n for n, _ in ad.all_params(net)]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"]
    # ... state_dict keeps a key per use (tied.state-dict-every-key).
    keys = [k for k, _ in ad.state_dict(net)]
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
    sd = dict(ad.state_dict(net))
    np.testing.assert_array_equal(sd["2.weight"], sd["4.weight"])
    # get_parameter resolves the second use's name to the same Parameter.
    assert ad.lookup(net, "4.weight") is ad.lookup(net, "2.weight")



# -- block names -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["block 0", "block-1", "блок", "ブロック", "ü"])
def test_unusual_block_names_work(ad: TorchAdapter, name: str) -> None:
    arch = Arch(Sequential((Sequential((Dense(2), ReLU()), name=name), Dense(1))), input_dim=3)
    net = ad.build(arch)
    assert f"{name}.0.weight" in dict(ad.all_params(net))
    assert ad.lookup(net, f"{name}.0.weight") is ad.param_at(net, (0, 0), "weight")


@pytest.mark.parametrize("name", ["a.b", ".", ""])
def test_torch_rejects_dot_and_empty_names(ad: TorchAdapter, name: str) -> None:
    # add_module raises KeyError for both; the adapter lets torch's error through.
    arch = Arch(Sequential((Dense(2, name=name),)), input_dim=3)
    with pytest.raises(KeyError):
        ad.build(arch)
    if name:
        assert set(name) & set(ad.facts.forbidden_name_chars)


# -- deferred initialisation ------------------------------------------------------------------
def test_lazy_shapes_unknown_until_first_forward(ad: TorchAdapter) -> None:
    # The contract's deferred-init check covers shape() None, read() raising
    # Uninitialized, and the handle staying the model's; this is torch's own part.
    arch = TIED.with_lazy()
    net = ad.build(arch)
    w = ad.param_at(net, (2,), "weight")
    assert isinstance(w, nn.parameter.UninitializedParameter)
    assert ad.dtype(w) == "float32"  # the dtype is known before the shape
    assert ad.grad(w) is None
    # Torch itself: .shape raises, .size() pretends it is empty.
    with pytest.raises(RuntimeError):
        _ = w.shape
    assert tuple(w.size()) == (0,)
    with pytest.raises(Uninitialized):
        ad.state_dict(net)
    with pytest.raises(NotApplicable):  # nn.init cannot touch an UninitializedParameter
        ad.initialize(net, weight=Init("zeros"))
    assert [n for n, _ in ad.layer_params(ad.child(net, 0))] == ["weight", "bias"]

    ad.forward(net, _x())
    # The handle taken before the forward is materialised in place, not replaced.
    assert w is ad.param_at(net, (2,), "weight") and ad.shape(w) == (8, 8)
    # The LazyLinear swapped its class: the chapter's `type(m) == nn.Linear` now holds.
    assert type(ad.child(net, 2)) is nn.Linear
    assert ad.child(net, 2) is ad.child(net, 4)
    ad.initialize(net, weight=Init("constant", value=3.0))
    assert (ad.read(ad.param_at(net, (6,), "weight")) == 3.0).all()


# -- saving and loading -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", TorchAdapter.facts.load_modes)
@pytest.mark.parametrize("lazy_target", [False, True])
def test_every_load_mode_keeps_ties(ad: TorchAdapter, tmp_path: Path, mode: str, lazy_target: bool) -> None:
    src = ad.build(TIED)
    path = tmp_path / "w.pt"
    ad.save_weights(src, path)
    dst = ad.build(TIED.with_lazy(lazy_target))
    before = ad.param_at(dst, (2,), "weight")
    out = ad.load_weights(dst, path, mode)
    assert out is dst
    # Tying lives in the module object, which loading never replaces, so every
    # mode keeps it -- also "assign", which swaps the Parameter objects.
    assert ad.child(out, 2) is ad.child(out, 4)
    assert ad.same(ad.param_at(out, (2,), "weight"), ad.param_at(out, (4,), "weight"))
    after = ad.param_at(out, (2,), "weight")
    # Observed: strict / non-strict copy into the existing Parameter (an
    # UninitializedParameter is materialised in place: same object, class
    # swapped to Parameter); "assign" installs new Parameter objects, so
    # handles taken before the load are stale. A lazy target is materialised
    # by every mode but keeps the LazyLinear class until its first forward.
    assert (after is before) == (mode != "assign")
    assert type(ad.child(out, 2)) is (nn.LazyLinear if lazy_target else nn.Linear)
    assert isinstance(after, nn.Parameter) and after.requires_grad  # assign keeps the module's requires_grad
    np.testing.assert_array_equal(ad.read(after), ad.read(ad.param_at(src, (2,), "weight")))
    np.testing.assert_array_equal(ad.forward(out, _x()), ad.forward(src, _x()))
    ad.assign(ad.param_at(out, (2,), "weight"), (0, 0), 100.0)
    assert ad.read(ad.param_at(out, (4,), "weight"))[0, 0] == 100.0


def test_lazy_materialised_by_loading_is_initialised(ad: TorchAdapter, tmp_path: Path) -> None:
    # load_state_dict materialises a LazyLinear without swapping its class, so
    # a literal `type(m) == nn.Linear` would skip it; the adapter accepts it.
    path = tmp_path / "w.pt"
    ad.save_weights(ad.build(TIED), path)
    dst = ad.build(TIED.with_lazy())
    ad.load_weights(dst, path, "strict")
    assert type(ad.child(dst, 2)) is nn.LazyLinear
    ad.initialize(dst, weight=Init("constant", value=42.0))
    assert (ad.read(ad.param_at(dst, (2,), "weight")) == 42.0).all()


def test_saving_an_unmaterialised_lazy_model_raises_uninitialized(ad: TorchAdapter, tmp_path: Path) -> None:
    with pytest.raises(Uninitialized):
        ad.save_weights(ad.build(TIED.with_lazy()), tmp_path / "w.pt")



def test_whole_model_round_trip_keeps_ties(ad: TorchAdapter, tmp_path: Path) -> None:
    net = ad.build(TIED)
    ad.save_model(net, tmp_path / "m.pt")
    back = ad.load_model(tmp_path / "m.pt")
    assert ad.child(back, 2) is ad.child(back, 4)
    np.testing.assert_array_equal(ad.forward(back, _x()), ad.forward(net, _x()))


# -- writing and initialising -------------------------------------------------------------------


# -- computing -------------------------------------------------------------------------------

# -- packaging -------------------------------------------------------------------------------

def test_identity(ad: TorchAdapter) -> None:
    assert ad.version().startswith(torch.__version__.split("+")[0])
    assert ad.backend() is None


def test_parameter_level_sharing_is_attribute_assignment(ad: TorchAdapter) -> None:
    """Two distinct nn.Linear modules hold one Parameter (``b.weight = a.weight``):
    listed once, gradients summed into it, and both layers stay layers of their own."""
    arch = Arch(Sequential((Dense(4, tie="a"), ReLU(), Dense(4, weight_of="a"))), 4)
    net = ad.build(arch)
    assert net[0] is not net[2] and net[2].weight is net[0].weight
    assert net[2].bias is not net[0].bias
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.bias"]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_transposed_tie_applies_the_source_weight_transposed(ad: TorchAdapter) -> None:
    arch = Arch(Sequential((Dense(3, tie="enc"), Dense(5, weight_of="enc", transposed=True))), 5)
    net = ad.build(arch)
    assert net[1].weight is net[0].weight
    x = _x(cols=5)
    w0, b0, b1 = (p.detach().numpy() for p in (net[0].weight, net[0].bias, net[1].bias))
    np.testing.assert_allclose(ad.forward(net, x), (x @ w0.T + b0) @ w0 + b1, rtol=1e-5, atol=1e-6)


def test_whole_model_with_user_defined_modules_round_trips(ad: TorchAdapter, tmp_path: Path) -> None:
    """torch.save pickles a model by its classes' module and name: the
    user-defined modules live at module level, so a whole model holding them
    (and a transposed tie) loads with its tie kept."""
    arch = Arch(Sequential((Dense(3, tie="enc", custom=True),
                            Sequential((Dense(5, weight_of="enc", transposed=True),), custom=True)),
                           custom=True), 5)
    net = ad.build(arch)
    ad.save_model(net, tmp_path / "m.pt")
    back = ad.load_model(tmp_path / "m.pt")
    x = _x(cols=5)
    np.testing.assert_array_equal(ad.forward(back, x), ad.forward(net, x))
    assert ad.same(ad.param_at(back, (1, 0), "weight"), ad.param_at(back, (0,), "weight"))


def test_assign_load_breaks_a_parameter_level_tie(ad: TorchAdapter) -> None:
    """The known deviation (pytorch/pytorch#188346) as torch 2.13 shows it:
    copy loading keeps a Parameter shared by two modules, assign=True gives
    each key its own Parameter. If a release fixes it, this test says so."""
    arch = Arch(Sequential((Dense(4, tie="a"), ReLU(), Dense(4, weight_of="a"))), 4)
    src, dst = ad.build(arch), ad.build(arch)
    ad.load_state(dst, ad.get_state(src), "strict")
    assert dst[2].weight is dst[0].weight
    ad.load_state(dst, ad.get_state(src), "assign")
    assert dst[2].weight is not dst[0].weight
    assert dst[2].weight.data_ptr() == dst[0].weight.data_ptr() == src[0].weight.data_ptr()
