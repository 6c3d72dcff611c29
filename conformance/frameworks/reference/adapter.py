"""Adapter for the suite's own numpy reference framework (:mod:`conformance.reference`).

It is the framework every property is first run against, so each primitive
is the most direct use of the reference's API. Only numpy is imported.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import ClassVar

import numpy as np

from conformance.adapters.base import (
    Adapter,
    Block,
    Index,
    Init,
    Model,
    Param,
)
from conformance.arch import Arch, Dense, Flatten, Node, Path, ReLU, Sequential
from conformance.reference import init as rinit
from conformance.reference import nn

#: load mode -> ``strict`` argument of ``Block.load_state_dict``
_LOAD_MODES: dict[str, bool] = {"strict": True, "non-strict": False}


def _initializer(spec: Init) -> rinit.Initializer:
    """The reference initialiser for a framework-neutral request."""
    if spec.kind == "normal":
        return rinit.Normal(spec.mean, spec.std)
    if spec.kind == "zeros":
        return rinit.Zeros()
    if spec.kind == "constant":
        return rinit.Constant(spec.value)
    if spec.kind == "uniform":
        return rinit.Uniform(spec.low, spec.high)
    if spec.kind == "xavier_uniform":
        return rinit.XavierUniform()
    if spec.kind == "xavier_normal":
        return rinit.XavierNormal()
    if spec.kind == "mixture":
        return rinit.Mixture()
    raise ValueError(f"unknown initialiser kind {spec.kind!r}")


class ReferenceAdapter(Adapter):
    # -- building --
    def seed(self, seed: int) -> None:
        rinit.manual_seed(seed)

    def build(self, arch: Arch) -> Model:
        # Dense layers are constructed in forward order, so with a known
        # in_features the default initialisation draws in that order too.
        in_features = {u.path: u.in_features for u in arch.dense_uses()}
        tied: dict[str, nn.Dense] = {}

        def make(node: Node, path: Path) -> nn.Block:
            if isinstance(node, Sequential):
                seq = nn.Sequential()
                for i, c in enumerate(node.children):
                    seq.add(make(c, path + (i,)), name=c.name)
                return seq
            if isinstance(node, Dense):
                if node.tie is not None and node.tie in tied:
                    return tied[node.tie]
                layer = nn.Dense(node.units, None if arch.lazy else in_features[path])
                if node.tie is not None:
                    tied[node.tie] = layer
                return layer
            if isinstance(node, ReLU):
                return nn.ReLU()
            if isinstance(node, Flatten):
                return nn.Flatten()
            raise TypeError(f"unknown node type {type(node).__name__}")

        return make(arch.root, ())

    def child(self, block: Block, index: int) -> Block:
        return block[index]

    def num_children(self, block: Block) -> int:
        return len(block) if isinstance(block, nn.Sequential) else 0

    # -- parameters --
    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        return layer.own_parameters()  # type: ignore[no-any-return]

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        return model.named_parameters()  # type: ignore[no-any-return]

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        return list(model.state_dict().items())

    def lookup(self, model: Model, name: str) -> Param:
        return model.get_parameter(name)

    def select(self, model: Model, pattern: str) -> list[tuple[str, Param]]:
        self.require("pattern_selection")
        return model.collect_params(pattern)  # type: ignore[no-any-return]

    def read(self, param: Param) -> np.ndarray:
        return param.value().copy()  # type: ignore[no-any-return]

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
                items.append((name, p, _initializer(spec)))
        nn.initialize_parameters(items, force_reinit=force)

    def initialize_all(self, model: Model, init: Init, *, force: bool) -> None:
        self.require("explicit_initialize")
        model.initialize(init=_initializer(init), force_reinit=force)

    # -- computing --
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        return model.forward(x)  # type: ignore[no-any-return]

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

    def load_weights(self, model: Model, path: FsPath, mode: str) -> Model:
        if mode not in _LOAD_MODES:
            raise ValueError(f"unknown load mode {mode!r}; known modes: {', '.join(_LOAD_MODES)}")
        model.load_state_dict(nn.load(path), strict=_LOAD_MODES[mode])
        return model

    def save_model(self, model: Model, path: FsPath) -> None:
        nn.save_model(model, path)

    def load_model(self, path: FsPath) -> Model:
        return nn.load_model(path)
