"""PyTorch adapter: the idioms of the PyTorch edition of the chapter.

Every primitive is written the way the chapter writes it: ``net[2]`` for
indexing, ``named_parameters()`` / ``state_dict()`` for listings, ``.data``
for reading and writing values, ``net.apply(fn)`` with ``type(m) == nn.Linear``
for initialisation, ``add_module`` for named blocks, and one shared
``nn.Linear`` object for tying.

torch is imported lazily (``_torch = lazy_import("torch")``): importing this
module, and so listing the registered adapters, must work where torch is not
installed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from conformance.adapters.base import (
    Adapter,
    Block,
    Index,
    Init,
    Model,
    NotApplicable,
    Param,
    Uninitialized,
    lazy_import,
)
from conformance.arch import Dense, Flatten, Kind, ReLU, Sequential

#: torch, imported on first use only
_torch = lazy_import("torch")


def _is_lazy(p: Any) -> bool:
    """An ``UninitializedParameter`` of a LazyLinear that has not seen a batch."""
    return bool(_torch().nn.parameter.is_lazy(p))


def _not_materialised(what: str) -> Uninitialized:
    return Uninitialized(
        f"{what}: the LazyLinear has not seen a batch yet, so its shapes are unknown; "
        "torch documents running a forward pass first (nn.LazyLinear, nn.modules.lazy.LazyModuleMixin)"
    )


def _as_tensor(value: np.ndarray | float) -> Any:
    # A fresh, writable, C-contiguous float32 copy: torch.from_numpy warns on
    # read-only arrays and rejects negative strides, and float32 is the
    # parameters' dtype (torch casts on assignment anyway).
    return _torch().from_numpy(np.array(value, dtype=np.float32, order="C", copy=True))


#: load mode -> keyword arguments of ``Module.load_state_dict``
_LOAD_KWARGS: dict[str, dict[str, bool]] = {
    "strict": {"strict": True},
    "non-strict": {"strict": False},
    "assign": {"strict": True, "assign": True},
}


#: the user-defined modules (conformance/frameworks/torch/modules.py, which
#: imports torch at its top), imported on first use only
_modules = lazy_import("conformance.frameworks.torch.modules")


class TorchAdapter(Adapter):
    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        # Module.add_module raises KeyError("attribute '...' already exists")
        # for a name that is already an attribute of the container
        # (`children`, `forward`, `training`, ...), besides "." and "".
        return super().block_name_ok(name) and not hasattr(_torch().nn.Sequential(), name)

    # -- building --------------------------------------------------------------
    def seed(self, seed: int) -> None:
        # The CPU generator, which is what torch.manual_seed seeds for CPU
        # tensors: torch.manual_seed also queues a CUDA, XPU and MTIA seeding
        # for lazy device initialisation, each keeping a formatted stack trace
        # of the call; per example that was a quarter of the catalogue's time,
        # and a list that grows for the whole run.
        _torch().default_generator.manual_seed(seed)

    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # One nn.Linear per tie key, reused at every position (the base's tie cache).
        nn = _torch().nn
        return nn.LazyLinear(units) if in_features is None else nn.Linear(in_features, units)

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        seq = _torch().nn.Sequential()
        for i, (name, child) in enumerate(children):
            # The chapter's block2(): add_module with a caller-chosen
            # name; positional names are what nn.Sequential(*layers) uses.
            seq.add_module(name if name is not None else str(i), child)
        return seq

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        if in_features is None:
            raise ValueError("a user-defined layer needs its input width; lazy architectures have none")
        return _modules().UserLinear(in_features, units)

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        return _modules().UserBlock(children)

    def share_param(self, layer: Block, kind: Kind, param: Param) -> None:
        # Assigning a Parameter as a Module attribute registers it
        # (nn.Module.__setattr__; torch.nn.parameter.Parameter's docs), so
        # both layers hold the one object.
        setattr(layer, kind, param)

    def make_transposed_dense(self, units: int, in_features: int | None, node: Dense,
                              sources: dict[Kind, Block]) -> Block:
        layer = _modules().TransposedLinear(sources["weight"].weight, units)
        if "bias" in sources:
            layer.bias = sources["bias"].bias
        return layer

    def make_relu(self, node: ReLU) -> Block:
        return _torch().nn.ReLU()

    def make_flatten(self, node: Flatten) -> Block:
        return _torch().nn.Flatten()

    def child(self, block: Block, index: int) -> Block:
        if isinstance(block, _modules().UserBlock):
            return getattr(block, block.order[index])  # a user-defined block: its attribute
        return block[index]  # net[2], rgnet[0][1][0]

    def num_children(self, block: Block) -> int:
        # len(nn.Sequential) counts positions, so a tied layer counts at each use.
        if isinstance(block, _torch().nn.Sequential):
            return len(block)
        if isinstance(block, _modules().UserBlock):
            return len(block.order)
        return len(list(block.children()))  # 0 for nn.Linear / nn.ReLU / nn.Flatten

    # -- parameters ------------------------------------------------------------
    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        # nn.Linear names its parameters by role already: "weight", "bias".
        # Works on an unmaterialised LazyLinear too (UninitializedParameter objects).
        return list(layer.named_parameters(recurse=False))

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        return list(model.named_parameters())

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        out: list[tuple[str, np.ndarray]] = []
        for k, v in model.state_dict().items():
            if _is_lazy(v):
                raise _not_materialised(f"state_dict()[{k!r}]")
            out.append((k, v.detach().cpu().numpy().copy()))
        return out

    def lookup(self, model: Model, name: str) -> Param:
        return model.get_parameter(name)

    def read(self, param: Param) -> np.ndarray:
        if _is_lazy(param):
            raise _not_materialised("read")
        return param.detach().cpu().numpy().copy()

    def dtype(self, param: Param) -> str:
        return str(param.dtype).removeprefix("torch.")  # torch.float32 -> "float32"

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        # UninitializedParameter.shape raises RuntimeError (while .size() says
        # torch.Size([0])); neither is a shape, so report "nothing known".
        if _is_lazy(param):
            return None
        return tuple(int(d) for d in param.shape)

    def grad(self, param: Param) -> np.ndarray | None:
        g = param.grad
        return None if g is None else g.detach().cpu().numpy().copy()

    def write(self, param: Param, value: np.ndarray) -> None:
        # The chapter's idiom, `net[0].weight.data[:] = ...`: writing through
        # .data changes the Parameter's storage in place, so the Parameter
        # object (and every tied use of it) is kept, and autograd does not
        # record the write. (p.copy_ under no_grad would also keep the object
        # but is not what the chapter shows.)
        if _is_lazy(param):
            raise _not_materialised("write")
        value = np.asarray(value)
        if tuple(value.shape) != tuple(param.shape):
            # .data[...] = v broadcasts silently; a whole-value write of the
            # wrong shape is a bug in the caller, not something to broadcast.
            raise ValueError(f"write of shape {value.shape} into a parameter of shape {tuple(param.shape)}")
        param.data[...] = _as_tensor(value)

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        if _is_lazy(param):
            raise _not_materialised("assign")
        param.data[index] = _as_tensor(value)  # the chapter's net[0].weight.data[0, 0] = 42

    # -- initialisation ----------------------------------------------------------
    # A torch initialiser here is a function filling a Parameter in place with
    # the torch.nn.init function the chapter uses.
    def init_normal(self, mean: float, std: float) -> Callable[[Any], None]:
        return lambda p: _torch().nn.init.normal_(p, mean=mean, std=std)

    def init_zeros(self) -> Callable[[Any], None]:
        return lambda p: _torch().nn.init.zeros_(p)

    def init_constant(self, value: float) -> Callable[[Any], None]:
        return lambda p: _torch().nn.init.constant_(p, value)

    def init_uniform(self, low: float, high: float) -> Callable[[Any], None]:
        return lambda p: _torch().nn.init.uniform_(p, low, high)

    def init_xavier_uniform(self) -> Callable[[Any], None]:
        return lambda p: _torch().nn.init.xavier_uniform_(p)

    def init_xavier_normal(self) -> Callable[[Any], None]:
        return lambda p: _torch().nn.init.xavier_normal_(p)

    def init_mixture(self) -> Callable[[Any], None]:
        def my_init(p: Any) -> None:
            # The chapter's my_init, verbatim.
            _torch().nn.init.uniform_(p, -10, 10)
            p.data *= p.data.abs() >= 5

        return my_init

    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        # `force` is Gluon's force_reinit; torch has no separate initialise
        # step, nn.init always overwrites, so it is ignored.
        del force
        nn = _torch().nn
        init_w = None if weight is None else self.native_initializer(weight)
        init_b = None if bias is None else self.native_initializer(bias)

        def fn(m: Any) -> None:
            # The chapter tests `type(m) == nn.Linear`. A LazyLinear turns into
            # an nn.Linear (its __class__ is swapped) on its first forward, but
            # a LazyLinear whose parameters were materialised by
            # load_state_dict keeps its class until then, so it is accepted
            # too; one that has not seen any shape cannot be initialised
            # (nn.init raises ValueError on an UninitializedParameter).
            if isinstance(m, nn.LazyLinear):
                if m.has_uninitialized_params():
                    # Not a failure of torch: its documented initialisers have
                    # no way to be chosen before the shape is known.
                    raise NotApplicable(
                        "torch.nn.init cannot initialise a LazyLinear before its first forward "
                        "(ValueError on an UninitializedParameter); initialise after inference"
                    )
            elif type(m) not in (nn.Linear, _modules().UserLinear, _modules().TransposedLinear):
                # the chapter's exact-type test, type(m) == nn.Linear, naming
                # the user-defined layers too, as their user would
                return
            if init_w is not None:
                init_w(m.weight)
            if init_b is not None:
                init_b(m.bias)

        # Module.apply visits each module object once (children() de-duplicates),
        # so a tied layer is initialised once, then the block itself.
        block.apply(fn)

    # -- computing -----------------------------------------------------------------
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.no_grad():
            y = model(_as_tensor(x))
        return y.detach().cpu().numpy().copy()

    def zero_grad(self, model: Model) -> None:
        model.zero_grad(set_to_none=True)

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        (model(_as_tensor(x)) * _as_tensor(upstream)).sum().backward()

    def sgd_step(self, model: Model, lr: float) -> None:
        # model.parameters() lists a tied Parameter once, so it steps once.
        _torch().optim.SGD(model.parameters(), lr=lr).step()

    # -- serialisation -----------------------------------------------------------------
    def save_weights(self, model: Model, path: FsPath) -> None:
        torch = _torch()
        sd = model.state_dict()
        # torch.save accepts UninitializedParameter values, but the file then
        # fails torch.load(weights_only=True) with UnpicklingError; say why here.
        for k, v in sd.items():
            if _is_lazy(v):
                raise _not_materialised(f"save_weights ({k!r})")
        torch.save(sd, path)

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        torch = _torch()
        model.load_state_dict(torch.load(path, weights_only=True), **_LOAD_KWARGS[mode])
        return model

    def copy_by(self, model: Model, op: str) -> Model:
        return copy.deepcopy(model)  # the one copy_ops entry, "deepcopy"

    def get_state(self, model: Model) -> Any:
        return model.state_dict()  # documented to hold references to the parameters, not copies

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        return [(k, v.detach().cpu().numpy().copy()) for k, v in state.items()]

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        model.load_state_dict(state, **_LOAD_KWARGS[mode])
        return model

    def save_model(self, model: Model, path: FsPath) -> None:
        _torch().save(model, path)

    def load_model(self, path: FsPath) -> Model:
        # A whole model is a pickled nn.Module: weights_only=True (the default
        # since torch 2.6) refuses it, so this is the documented opt-out.
        return _torch().load(path, weights_only=False)
