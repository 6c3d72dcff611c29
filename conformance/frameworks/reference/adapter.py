"""Adapter for the suite's own numpy reference framework (:mod:`conformance.reference`).

It is the framework every property is first run against, so each primitive
is the most direct use of the reference's API. Only numpy is imported.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from conformance.adapters.base import (
    Adapter,
    Block,
    Index,
    Init,
    Model,
    Param,
)
from conformance.arch import Dense, Flatten, Kind, ReLU, Sequential
from conformance.reference import init as rinit
from conformance.reference import nn

#: load mode -> ``strict`` argument of ``Block.load_state_dict``
_STRICT: dict[str, bool] = {"strict": True, "non-strict": False}


class UserDense(nn.Block):
    """A dense layer as a user of the reference writes one (the pattern of a
    Keras layer's ``__init__`` and ``build``): the bias is created at
    construction, the weight once the input width is known, by :meth:`build`
    (called at construction when the width is given, else at the first
    forward pass). Attributes are registered in the order set: bias, weight."""

    def __init__(self, units: int, in_features: int | None = None) -> None:
        super().__init__()
        self.units = units
        self.bias = nn.Parameter("bias", (units,), init=rinit.Zeros())
        self.bias.infer_shape((units,))
        if in_features is not None:
            self.build(in_features)

    def build(self, in_features: int) -> None:
        if "weight" not in dict(self.own_parameters()):
            self.weight = nn.Parameter("weight", (self.units, in_features), init=rinit.XavierUniform())
            self.weight.infer_shape((self.units, in_features))

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        self.build(x.shape[1])
        return x @ self.weight.value().T + self.bias.value(), x

    def _back(self, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        self.weight.accumulate_grad(g.T @ x)
        self.bias.accumulate_grad(g.sum(axis=0))
        return g @ self.weight.value()


class UserBlock(nn.Block):
    """A user-defined block holding its children as attributes, applied in the
    order they were set (the TF edition's ``class Linear(tf.keras.Model)``
    with ``self.d1``, ``self.d2``)."""

    def __init__(self, children: Iterator[tuple[str | None, nn.Block]]) -> None:
        super().__init__()
        self._order: list[str] = []  # one block may be set under two names
        for i, (name, child) in enumerate(children):
            attr = name if name is not None else f"layer{i}"
            setattr(self, attr, child)
            self._order.append(attr)

    def named_children(self) -> list[tuple[str, nn.Block]]:
        return [(a, getattr(self, a)) for a in self._order]

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        tapes = []
        for _, child in self.named_children():
            x, tape = child._run(x)
            tapes.append(tape)
        return x, tapes

    def _back(self, g: np.ndarray, tapes: list[Any]) -> np.ndarray:
        for (_, child), tape in reversed(list(zip(self.named_children(), tapes))):
            g = child._back(g, tape)
        return g


#: Names a user-defined block cannot give a child: its attributes (a child is
#: set as an attribute, so it would replace one), as torch reserves a Module's.
_RESERVED = frozenset(dir(UserBlock)) | {"_params", "_blocks", "_tape", "_order"}


class ReferenceAdapter(Adapter):
    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        return super().block_name_ok(name) and name not in _RESERVED

    # -- building --
    def seed(self, seed: int) -> None:
        rinit.manual_seed(seed)

    # The base walks the architecture in forward order, so with a known
    # in_features the default initialisation draws in that order too.
    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        return nn.Dense(units, in_features)

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        seq = nn.Sequential()
        for name, child in children:
            seq.add(child, name=name)
        return seq

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        return UserDense(units, in_features)

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        return UserBlock(children)

    def share_param(self, layer: Block, kind: Kind, param: Param) -> None:
        setattr(layer, kind, param)

    def make_transposed_dense(self, units: int, in_features: int | None, node: Dense,
                              sources: dict[Kind, Block]) -> Block:
        layer = nn.Dense(units, in_features, transposed=True)
        for kind, source in sources.items():
            setattr(layer, kind, dict(source.own_parameters())[kind])
        return layer

    def make_relu(self, node: ReLU) -> Block:
        return nn.ReLU()

    def make_flatten(self, node: Flatten) -> Block:
        return nn.Flatten()

    def child(self, block: Block, index: int) -> Block:
        return block[index] if isinstance(block, nn.Sequential) else block.named_children()[index][1]

    def num_children(self, block: Block) -> int:
        return len(block) if isinstance(block, nn.Sequential) else len(block.named_children())

    # -- parameters --
    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        return layer.own_parameters()

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        return model.named_parameters()

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        return list(model.state_dict().items())

    def lookup(self, model: Model, name: str) -> Param:
        return model.get_parameter(name)

    def select(self, model: Model, pattern: str) -> list[tuple[str, Param]]:
        self.require("pattern_selection")
        return model.collect_params(pattern)

    def read(self, param: Param) -> np.ndarray:
        return param.value().copy()

    def dtype(self, param: Param) -> str:
        return str(param.dtype)

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        return tuple(param.shape)

    def grad(self, param: Param) -> np.ndarray | None:
        return None if param.grad is None else param.grad.copy()

    def write(self, param: Param, value: np.ndarray) -> None:
        param.set_value(value)

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        param.value()[index] = value

    # -- initialisation --
    def init_normal(self, mean: float, std: float) -> rinit.Initializer:
        return rinit.Normal(mean, std)

    def init_zeros(self) -> rinit.Initializer:
        return rinit.Zeros()

    def init_constant(self, value: float) -> rinit.Initializer:
        return rinit.Constant(value)

    def init_uniform(self, low: float, high: float) -> rinit.Initializer:
        return rinit.Uniform(low, high)

    def init_xavier_uniform(self) -> rinit.Initializer:
        return rinit.XavierUniform()

    def init_xavier_normal(self) -> rinit.Initializer:
        return rinit.XavierNormal()

    def init_mixture(self) -> rinit.Initializer:
        return rinit.Mixture()

    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        # Only Dense layers have parameters, so walking the block's parameters
        # by role reaches every dense layer in it and nothing else.
        chosen = {"weight": weight, "bias": bias}
        items = []
        for name, p in block.named_parameters():
            spec = chosen[name.rsplit(".", 1)[-1]]  # every layer names them weight and bias
            if spec is not None:
                items.append((name, p, self.native_initializer(spec)))
        nn.initialize_parameters(items, force_reinit=force)

    def initialize_all(self, model: Model, init: Init, *, force: bool) -> None:
        self.require("explicit_initialize")
        model.initialize(init=self.native_initializer(init), force_reinit=force)

    # -- computing --
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        return model.forward(x)

    def zero_grad(self, model: Model) -> None:
        model.zero_grad()

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        model.forward(x)
        model.backward(upstream)

    def sgd_step(self, model: Model, lr: float) -> None:
        nn.SGD(model.parameters(), lr).step()

    # -- serialisation --
    def save_weights(self, model: Model, path: FsPath) -> None:
        nn.save(model.state_dict(), path)

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        model.load_state_dict(nn.load(path), strict=_STRICT[mode])
        return model

    def copy_by(self, model: Model, op: str) -> Model:
        return copy.deepcopy(model)  # the one copy_ops entry

    def get_state(self, model: Model) -> Any:
        return model.state_dict()

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        return [(k, np.array(v, copy=True)) for k, v in state.items()]

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        model.load_state_dict(state, strict=_STRICT[mode])
        return model

    def save_model(self, model: Model, path: FsPath) -> None:
        nn.save_model(model, path)

    def load_model(self, path: FsPath) -> Model:
        return nn.load_model(path)
