"""The ``mirror`` adapter: param-conformance's numpy reference framework
(:mod:`conformance.reference.nn`) driven from a package of its own, written as
the maintainers of any framework would write theirs.

It uses only the public plug-in API: :class:`conformance.adapters.base.Adapter`
and its value types, the architecture description (:mod:`conformance.arch`),
and the framework itself. Its identity and documented facts are not in this
file: ``Adapter`` reads them from ``profile.toml`` beside this module when the
class is defined.

Two behaviours differ from the built-in ``reference`` adapter, each on purpose
and each declared in the profile:

* no whole-model save (``[unsupported]`` serialisation.whole-model): the
  mirror keeps to weight files;
* a layer's own parameters are listed sorted by name, bias before weight
  (``[[deviations]]`` access.dense-weight-and-bias).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from conformance.adapters.base import Adapter, Init
from conformance.arch import Arch, Dense, Flatten, Node, Path, ReLU, Sequential
from conformance.reference import init as rinit
from conformance.reference import nn

#: the documented load modes (profile.toml: load_modes) -> load_state_dict(strict=...)
STRICT = {"strict": True, "non-strict": False}

#: framework-neutral initialiser kinds -> the framework's initialiser classes
INITIALIZERS: dict[str, Callable[[Init], rinit.Initializer]] = {
    "zeros": lambda s: rinit.Zeros(),
    "constant": lambda s: rinit.Constant(s.value),
    "normal": lambda s: rinit.Normal(s.mean, s.std),
    "uniform": lambda s: rinit.Uniform(s.low, s.high),
    "xavier_uniform": lambda s: rinit.XavierUniform(),
    "xavier_normal": lambda s: rinit.XavierNormal(),
    "mixture": lambda s: rinit.Mixture(),  # the framework's own custom-initialiser mechanism
}


def initializer(spec: Init) -> rinit.Initializer:
    try:
        return INITIALIZERS[spec.kind](spec)
    except KeyError:
        raise ValueError(f"unknown initialiser kind {spec.kind!r}") from None


class MirrorAdapter(Adapter):
    """name, distribution, module and facts: see profile.toml."""

    # -- building ---------------------------------------------------------------
    def seed(self, seed: int) -> None:
        rinit.manual_seed(seed)

    def build(self, arch: Arch) -> Any:
        in_features = {use.path: use.in_features for use in arch.dense_uses()}
        shared: dict[str, nn.Dense] = {}  # tie key -> the one layer object

        def make(node: Node, path: Path) -> nn.Block:
            if isinstance(node, Sequential):
                seq = nn.Sequential()
                for i, child in enumerate(node.children):
                    seq.add(make(child, (*path, i)), name=child.name)
                return seq
            if isinstance(node, Dense):
                if node.tie is not None and node.tie in shared:
                    return shared[node.tie]
                layer = nn.Dense(node.units, None if arch.lazy else in_features[path])
                if node.tie is not None:
                    shared[node.tie] = layer
                return layer
            if isinstance(node, ReLU):
                return nn.ReLU()
            if isinstance(node, Flatten):
                return nn.Flatten()
            raise TypeError(f"the mirror cannot build a {type(node).__name__}")

        return make(arch.root, ())

    def child(self, block: Any, index: int) -> Any:
        return block[index]

    def num_children(self, block: Any) -> int:
        return len(block) if isinstance(block, nn.Sequential) else 0

    # -- parameters ---------------------------------------------------------------
    def layer_params(self, layer: Any) -> list[tuple[str, Any]]:
        # On purpose (profile.toml, [[deviations]]): sorted by name, so a dense
        # layer lists its bias before its weight, the order Flax NNX's
        # nnx.state gives. The model-wide listing below keeps the framework's.
        return sorted(layer.own_parameters(), key=lambda item: item[0])

    def all_params(self, model: Any) -> list[tuple[str, Any]]:
        return list(model.named_parameters())

    def state_dict(self, model: Any) -> list[tuple[str, np.ndarray]]:
        return list(model.state_dict().items())

    def lookup(self, model: Any, name: str) -> Any:
        return model.get_parameter(name)

    def select(self, model: Any, pattern: str) -> list[tuple[str, Any]]:
        self.require("pattern_selection")
        return list(model.collect_params(pattern))

    def read(self, param: Any) -> np.ndarray:
        return np.array(param.value(), copy=True)

    def dtype(self, param: Any) -> str:
        return str(param.dtype)

    def shape(self, param: Any) -> tuple[int | None, ...] | None:
        return tuple(param.shape)

    def grad(self, param: Any) -> np.ndarray | None:
        return None if param.grad is None else np.array(param.grad, copy=True)

    def write(self, param: Any, value: np.ndarray) -> None:
        param.set_value(value)

    def assign(self, param: Any, index: tuple[Any, ...], value: np.ndarray | float) -> None:
        param.value()[index] = value

    # -- initialisation -------------------------------------------------------------
    def initialize(
        self, block: Any, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        chosen = {"weight": weight, "bias": bias}
        items = [
            (name, p, initializer(spec))
            for name, p in block.named_parameters()
            if (spec := chosen[name.rsplit(".", 1)[-1]]) is not None
        ]
        nn.initialize_parameters(items, force_reinit=force)

    def initialize_all(self, model: Any, init: Init, *, force: bool) -> None:
        self.require("explicit_initialize")
        model.initialize(init=initializer(init), force_reinit=force)

    # -- computing --------------------------------------------------------------------
    def forward(self, model: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(model.forward(x))

    def zero_grad(self, model: Any) -> None:
        model.zero_grad()

    def backward(self, model: Any, x: np.ndarray, upstream: np.ndarray) -> None:
        model.forward(x)
        model.backward(upstream)

    def sgd_step(self, model: Any, lr: float) -> None:
        nn.SGD(model.parameters(), lr).step()

    # -- serialisation: weights only; save_model/load_model are left to the base,
    # which raises NotApplicable (no whole_model_save capability in the profile)
    def save_weights(self, model: Any, path: FsPath) -> None:
        nn.save(model.state_dict(), path)

    def load_weights(self, model: Any, path: FsPath, mode: str) -> Any:
        if mode not in STRICT:
            raise ValueError(f"unknown load mode {mode!r}; known modes: {', '.join(STRICT)}")
        model.load_state_dict(nn.load(path), strict=STRICT[mode])
        return model
