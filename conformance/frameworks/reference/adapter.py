"""Adapter for the suite's own numpy reference framework (:mod:`conformance.reference`).

It is the framework every property is first run against, so each primitive
is the most direct use of the reference's API. Only numpy is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path as FsPath

import numpy as np

from conformance.adapters.base import (
    Adapter,
    Block,
    Index,
    Init,
    Model,
    Param,
)
from conformance.arch import Dense, Flatten, ReLU, Sequential
from conformance.reference import init as rinit
from conformance.reference import nn

#: load mode -> ``strict`` argument of ``Block.load_state_dict``
_STRICT: dict[str, bool] = {"strict": True, "non-strict": False}


class ReferenceAdapter(Adapter):
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

    def make_relu(self, node: ReLU) -> Block:
        return nn.ReLU()

    def make_flatten(self, node: Flatten) -> Block:
        return nn.Flatten()

    def child(self, block: Block, index: int) -> Block:
        return block[index]

    def num_children(self, block: Block) -> int:
        return len(block) if isinstance(block, nn.Sequential) else 0

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
            spec = chosen[name.rsplit(".", 1)[-1]]
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

    def save_model(self, model: Model, path: FsPath) -> None:
        nn.save_model(model, path)

    def load_model(self, path: FsPath) -> Model:
        return nn.load_model(path)
