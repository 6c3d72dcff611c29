"""PaddlePaddle adapter: the idioms of the Paddle tab of the chapter (d2l-zh).

Every primitive is written the way the Paddle edition or Paddle's own API
documentation writes it: ``net[2]`` for indexing, ``named_parameters()`` /
``state_dict()`` for listings, ``net.state_dict()['2.bias']`` for lookup by
name, ``param.numpy()`` for reading, ``param.set_value(...)`` for writing
(the edition: ``val = net[0].weight.numpy(); val[0, 0] = 42;
net[0].weight.set_value(val)``), ``net.apply(fn)`` with ``type(m) ==
nn.Linear`` for initialisation (``Layer.apply``'s own docstring example),
``add_sublayer(name, layer)`` for named blocks (the edition's ``block2()``),
and one shared ``nn.Linear`` object for tying.

Paddle stores a Linear weight as (in_features, out_features) and computes
``y = x W + b``: the layout is ``in_out``.

paddle is imported lazily (``_paddle = lazy_import("paddle")``): importing this
module, and so listing the registered adapters, must work where paddle is not
installed.
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
    NotApplicable,
    Param,
    lazy_import,
)
from conformance.arch import Dense, Flatten, Kind, ReLU, Sequential

#: paddle, imported on first use only
_paddle = lazy_import("paddle")
#: the user-defined layers (conformance/frameworks/paddle/layers.py, which
#: imports paddle at its top), imported on first use only
_layers = lazy_import("conformance.frameworks.paddle.layers")


def _as_tensor(value: np.ndarray | float) -> Any:
    # float32 is the parameters' dtype; Tensor.set_value asserts that the
    # dtype matches ("Variable dtype not match") rather than casting.
    return _paddle().to_tensor(np.array(value, dtype=np.float32, order="C", copy=True))


def _translated(block: Any) -> bool:
    """A layer loaded by ``paddle.jit.load`` (TranslatedLayer / PirTranslatedLayer)."""
    return "TranslatedLayer" in type(block).__name__


_NO_STRUCTURE = (
    "the model loaded by paddle.jit.load is a TranslatedLayer: a static program whose "
    "parameters are renamed param_0, param_1, ... with no sub-layers, so it cannot be indexed "
    "(TypeError: object is not subscriptable) and a shared layer's positions cannot be reached"
)

#: load mode -> keyword arguments of ``paddle.load``; the state dict is then
#: given to ``Layer.set_state_dict(state_dict, use_structured_name=True)``.
_LOAD_KWARGS: dict[str, dict[str, bool]] = {
    # paddle.load(path) -> a dict of paddle.Tensor (the documented default)
    "tensors": {},
    # paddle.load(path, return_numpy=True) -> a dict of numpy arrays
    # (documented config of paddle.load; set_state_dict accepts both)
    "numpy": {"return_numpy": True},
}


class PaddleAdapter(Adapter):
    # paddle.nn has no lazy layer (no LazyLinear): nn.Linear needs
    # in_features at construction. paddle.LazyGuard only delays
    # *allocating* parameters whose shapes are already given.
    no_lazy_reason = "paddle.nn.Linear needs in_features at construction; paddle has no lazy Linear"

    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        # Layer.add_sublayer (the built-in Sequential's) checks nothing: even
        # the separator and Layer attribute names are accepted. A user-defined
        # block sets each child as an attribute (Paddle's guide to custom
        # layers), so there a name that is already an attribute of every Layer
        # (`forward`, `training`, `__dict__`, ...) cannot name a child: the
        # attribute wins when the block reads it back, or is replaced.
        if not super().block_name_ok(name):
            return False
        return not (in_custom_block and hasattr(_layers().UserBlock(iter(())), name))

    # -- building --------------------------------------------------------------
    def seed(self, seed: int) -> None:
        _paddle().seed(seed)

    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # One nn.Linear per tie key, reused at every position (the base's tie cache).
        return _paddle().nn.Linear(in_features, units)

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        seq = _paddle().nn.Sequential()
        for i, (name, child) in enumerate(children):
            # The edition's block2(): add_sublayer(f'block {i}', block1());
            # str(i) is what nn.Sequential(*layers) itself uses.
            seq.add_sublayer(name if name is not None else str(i), child)
        return seq

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        assert in_features is not None  # paddle has no lazy build (no_lazy_reason)
        return _layers().UserLinear(in_features, units)

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        return _layers().UserBlock(children)

    def share_param(self, layer: Block, kind: Kind, param: Param) -> None:
        # Layer.add_parameter(name, parameter): documented, and it may replace
        # a parameter the layer already holds under that name.
        layer.add_parameter(kind, param)

    def make_transposed_dense(self, units: int, in_features: int | None, node: Dense,
                              sources: dict[Kind, Block]) -> Block:
        layer = _layers().TransposedLinear(sources["weight"].weight, units)
        if "bias" in sources:
            layer.add_parameter("bias", sources["bias"].bias)
        return layer

    def make_relu(self, node: ReLU) -> Block:
        return _paddle().nn.ReLU()

    def make_flatten(self, node: Flatten) -> Block:
        return _paddle().nn.Flatten()  # start_axis=1: the identity on (batch, features)

    def child(self, block: Block, index: int) -> Block:
        if _translated(block):
            raise NotApplicable(_NO_STRUCTURE)
        if isinstance(block, _layers().UserBlock):
            return getattr(block, block.order[index])  # a user-defined block: its attribute
        return block[index]  # net[2], rgnet[0][1][0]

    def num_children(self, block: Block) -> int:
        if _translated(block):
            raise NotApplicable(_NO_STRUCTURE)
        # len(nn.Sequential) counts positions (its _sub_layers keys), so a
        # tied layer counts at each use.
        if isinstance(block, _paddle().nn.Sequential):
            return len(block)
        if isinstance(block, _layers().UserBlock):
            return len(block.order)
        return len(list(block.children()))  # 0 for nn.Linear / nn.ReLU / nn.Flatten

    # -- parameters ------------------------------------------------------------
    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        # nn.Linear registers its parameters as "weight" and "bias".
        return list(layer.named_parameters(include_sublayers=False))

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        # remove_duplicate=True is the default: a shared layer is listed once.
        return list(model.named_parameters())

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        return [(k, np.array(v.numpy(), copy=True)) for k, v in model.state_dict().items()]

    def lookup(self, model: Model, name: str) -> Param:
        # The edition's `net.state_dict()['2.bias']`: Paddle's state dict holds
        # the live Parameter objects. (Layer.get_parameter exists too, but it
        # resolves the path with getattr, so a block named like an attribute
        # of Layer, e.g. "training", is not found.)
        return model.state_dict()[name]

    def read(self, param: Param) -> np.ndarray:
        return np.array(param.numpy(), copy=True)  # the edition's net[0].weight.numpy()

    def dtype(self, param: Param) -> str:
        return str(param.dtype).removeprefix("paddle.")  # paddle.float32 -> "float32"

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        return tuple(int(d) for d in param.shape)

    def grad(self, param: Param) -> np.ndarray | None:
        g = param.grad
        return None if g is None else np.array(g.numpy(), copy=True)

    def write(self, param: Param, value: np.ndarray) -> None:
        # Tensor.set_value docs: `linear.weight.set_value(custom_weight)  # change
        # existing weight`; the Parameter object (and every tied use) is kept and
        # autograd does not record the write. set_value itself asserts the shape.
        param.set_value(_as_tensor(value))

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        # The edition's idiom, verbatim in spirit:
        #   val = net[0].weight.numpy(); val[0, 0] = 42; net[0].weight.set_value(val)
        # (Observed: `param[0, 0] = 42` raises ValueError "Leaf Tensor ... that
        # doesn't stop gradient can't use inplace strategy" outside
        # paddle.no_grad(), and works inside it; the edition uses set_value.)
        val = np.array(param.numpy(), copy=True)
        val[index] = value
        param.set_value(_as_tensor(val))

    # -- initialisation ----------------------------------------------------------
    # A paddle.nn.initializer object called on an existing parameter
    # (Initializer.__call__(param, block=None)) fills it in place in dynamic
    # mode; PaddleSeg's param_init.py uses exactly this.
    def init_normal(self, mean: float, std: float) -> Any:
        return _paddle().nn.initializer.Normal(mean=mean, std=std)

    def init_zeros(self) -> Any:
        return _paddle().nn.initializer.Constant(0.0)

    def init_constant(self, value: float) -> Any:
        return _paddle().nn.initializer.Constant(value)

    def init_uniform(self, low: float, high: float) -> Any:
        return _paddle().nn.initializer.Uniform(low=low, high=high)

    def init_xavier_uniform(self) -> Any:
        return _paddle().nn.initializer.XavierUniform()

    def init_xavier_normal(self) -> Any:
        return _paddle().nn.initializer.XavierNormal()

    def init_mixture(self) -> Any:
        paddle = _paddle()

        def my_init(p: Any) -> None:
            # The chapter's my_init, applied with Layer.apply like the
            # edition's paddle tab ("we implement a my_init function to
            # apply to net"): U(-10, 10), then zero every |w| < 5.
            paddle.nn.initializer.Uniform(low=-10.0, high=10.0)(p)
            with paddle.no_grad():
                p.set_value(p * (p.abs() >= 5).astype(p.dtype))

        return my_init

    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        # `force` is Gluon's force_reinit; Paddle has no separate initialise
        # step (parameters are initialised when created), so it is ignored.
        del force
        nn = _paddle().nn

        def fn(m: Any) -> None:
            # the exact-type test of Layer.apply's docs, type(m) == nn.Linear,
            # naming the user-defined layers too, as their user would
            if type(m) not in (nn.Linear, _layers().UserLinear, _layers().TransposedLinear):
                return
            # A fresh initialiser object for each parameter.
            if weight is not None:
                self.native_initializer(weight)(m.weight)
            if bias is not None:
                self.native_initializer(bias)(m.bias)

        # Layer.apply visits each sublayer object once (sublayers() removes
        # duplicates), so a shared layer is initialised once, then the block.
        block.apply(fn)

    # -- computing -----------------------------------------------------------------
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        paddle = _paddle()
        with paddle.no_grad():
            y = model(_as_tensor(x))
        return np.array(y.numpy(), copy=True)

    def zero_grad(self, model: Model) -> None:
        # Tensor.clear_gradient(set_to_zero=False) empties the slot (grad is
        # None again, as before any backward); the default set_to_zero=True
        # fills it with zeros. Per parameter because Layer.clear_gradients
        # only gained its set_to_zero argument in Paddle 3 (2.6: no argument,
        # zeros), while Tensor.clear_gradient takes it positionally in both.
        for p in model.parameters():
            p.clear_gradient(False)

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        (model(_as_tensor(x)) * _as_tensor(upstream)).sum().backward()

    def sgd_step(self, model: Model, lr: float) -> None:
        # model.parameters() lists a shared Parameter once, so it steps once.
        paddle = _paddle()
        paddle.optimizer.SGD(learning_rate=lr, parameters=model.parameters()).step()

    # -- serialisation -----------------------------------------------------------------
    def save_weights(self, model: Model, path: FsPath) -> None:
        _paddle().save(model.state_dict(), str(path))  # paddle.save(layer.state_dict(), "x.pdparams")

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        state = _paddle().load(str(path), **_LOAD_KWARGS[mode])
        # set_state_dict copies into the existing parameters (same objects);
        # it does not raise on missing or unexpected keys but returns them, so
        # a partial load is reported here rather than passing silently.
        missing, unexpected = model.set_state_dict(state)
        if missing or unexpected:
            raise KeyError(f"set_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        return model

    def copy_by(self, model: Model, op: str) -> Model:
        return copy.deepcopy(model)  # the one copy_ops entry, "deepcopy"

    def get_state(self, model: Model) -> Any:
        return model.state_dict()  # name -> the layer's own Parameter objects

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        return [(k, np.array(v.numpy(), copy=True)) for k, v in state.items()]

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        missing, unexpected = model.set_state_dict(state)  # the one mode, "set_state_dict"
        if missing or unexpected:
            raise KeyError(f"set_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        return model

    def save_model(self, model: Model, path: FsPath) -> None:
        # paddle.save refuses a Layer ("paddle do not support saving
        # `paddle.nn.Layer` object"); the documented whole-model format is
        # paddle.jit.save, which needs the input signature.
        paddle = _paddle()
        kinds = (paddle.nn.Linear, _layers().UserLinear)
        linears = [m for m in model.sublayers(include_self=True) if isinstance(m, kinds)]
        if not linears:
            raise NotApplicable(
                "paddle.jit.save needs an InputSpec; this model has no Linear to read its width from"
            )
        # sublayers() is registration order, which is forward order here; the
        # first Linear's in_features is the model's input width (ReLU and
        # Flatten before it keep the width of 2-D inputs).
        n_in = int(linears[0].weight.shape[0])
        spec = paddle.static.InputSpec(shape=[None, n_in], dtype="float32")
        paddle.jit.save(model, str(path), input_spec=[spec])

    def load_model(self, path: FsPath) -> Model:
        return _paddle().jit.load(str(path))
