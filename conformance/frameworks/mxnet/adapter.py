"""MXNet Gluon adapter: the idioms of the MXNet editions of the chapter.

MXNet 1.9.1 (the last release) with the legacy Gluon API the editions use
(``mxnet.gluon.nn``, ``mxnet.init``, ``nd``), not the numpy-style
``npx.set_np()`` API:

* building: ``nn.Sequential()`` whose children are created inside
  ``with net.name_scope():`` (the idiom of the ``nn.Sequential`` docstring,
  "use net's name_scope to give child Blocks appropriate names"); a named block
  gets ``prefix=name + '_'`` (``Block.name`` is documented as the prefix
  "without '_' in the end");
* tying: the same ``nn.Dense`` instance added at every position
  (``net.add(shared, ..., shared)``, as the PyTorch and Keras tabs of the
  chapter write it). The MXNet editions write
  ``nn.Dense(8, params=shared.params)`` instead, which makes a *second* block
  holding the same Parameter objects; but an ``Arch`` tie key means one layer
  object (``net[2] is net[4]``, clause access.indexing), and Gluon 1.x supports
  a block registered twice (``Sequential.add`` keys children by position), so
  the same-instance idiom is the one that builds what the Arch describes.
  tests/test_gluon_adapter.py checks that ``params=`` gives the same
  parameter identity, listing and summed gradients;
* sharing parameters between distinct layers (``Dense.weight_of`` /
  ``bias_of``): ``nn.Dense(units, params=other.params)`` where a layer takes
  both of another's parameters, the editions' idiom; one parameter only, or
  a weight applied transposed, through a user-defined block given the
  Parameter object (``params=`` shares by name, so it cannot share only one:
  see ``blocks.py``);
* user-defined layers and blocks (``blocks.py``): the custom-layer
  tutorial's ``HybridBlock`` with ``self.params.get`` and a deferred weight,
  and a ``Block`` holding its children as attributes;
* in-memory state: ``Parameter.data()`` of every listed parameter, loaded
  with ``ParameterDict.load_dict(..., restore_prefix=...)``;
* indexing ``net[i]``, ``net[0].weight``, ``net[0].params``;
  listing ``net.collect_params()``, selection ``net.collect_params('.*weight')``;
* values ``weight.data()``, gradients ``weight.grad()``, writes
  ``weight.set_data(...)`` and ``weight.data()[index] = ...``;
* initialisation ``net.initialize()`` (default ``init.Uniform(0.07)``, bias
  'zeros'), ``net.initialize(init=..., force_reinit=...)``,
  ``net[0].weight.initialize(init=..., force_reinit=True)``, the chapter's
  ``MyInit(init.Initializer)`` with ``_init_weight``;
* ``with autograd.record(): out = net(x)`` then ``out.backward(upstream)``;
  ``gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr}).step(1)``;
* ``save_parameters`` / ``load_parameters``; ``mx.random.seed``.

mxnet is imported lazily (see ``_mx`` and ``_blocks``): importing this
module must work where mxnet is not installed.
"""

from __future__ import annotations

import functools
import re
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
    Unbuildable,
    Uninitialized,
    lazy_import,
)
from conformance.arch import Arch, Dense, Flatten, Kind, Node, ReLU, Sequential

#: mxnet and the submodules used here, imported on first use only
_mx = lazy_import(
    mx="mxnet",
    autograd="mxnet.autograd",
    gluon="mxnet.gluon",
    init="mxnet.init",
    nd="mxnet.nd",
    nn="mxnet.gluon.nn",
    DeferredInitializationError="mxnet.gluon.parameter.DeferredInitializationError",
)
#: the user-defined blocks (conformance/frameworks/mxnet/blocks.py, which
#: imports mxnet at its top), imported on first use only
_blocks = lazy_import("conformance.frameworks.mxnet.blocks")


@functools.cache
def _my_init_class() -> type:
    """The chapter's ``MyInit`` (003 4.2.3, 002 "Custom Initialization"),
    minus its print: only ``_init_weight`` is overridden."""
    m = _mx()
    Initializer: Any = m.init.Initializer  # a class of the lazily imported module

    class MyInit(Initializer):
        def _init_weight(self, name: str, data: Any) -> None:
            data[:] = m.nd.random.uniform(low=-10, high=10, shape=data.shape)
            data *= data.abs() >= 5

    return MyInit


def _deferred(param: Any) -> bool:
    """A parameter whose shape is still unknown (Gluon shows it as 0)."""
    shape = param.shape
    return shape is None or any(int(d) == 0 for d in shape)


def _uninitialized(what: str, exc: BaseException | None = None) -> Uninitialized:
    detail = f" ({exc})" if exc is not None else ""
    return Uninitialized(
        f"{what}: the parameter's shape is not known yet (deferred initialisation; Gluon raises "
        f"DeferredInitializationError until the first forward pass){detail}"
    )


def _nd(value: np.ndarray | float) -> Any:
    return _mx().nd.array(np.array(value, dtype=np.float32, copy=True), dtype="float32")


#: the prefixes Gluon generates for the blocks built here (Block._alias(), the
#: class name in lower case, + counter), the user-defined ones of blocks.py too
_GENERATED_NAME = re.compile(r"(dense|sequential|activation|flatten|userdense|tieddense|userblock)[0-9]+")

#: load mode -> keyword arguments of ``Block.load_parameters``
_LOAD_KWARGS: dict[str, dict[str, bool]] = {
    "strict": {},
    "allow_missing": {"allow_missing": True},
    "ignore_extra": {"ignore_extra": True},
}


@functools.cache
def _block_attributes() -> frozenset[str]:
    """Every attribute name of a user-defined block (class and instance).
    The probe is given a prefix, so it takes no name from Gluon's counter."""
    return frozenset(dir(_blocks().UserBlock(iter(()), prefix="probe_")))


class GluonAdapter(Adapter):
    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        # Gluon generates a block's prefix from a per-name-scope counter of its
        # class ("dense0_", "dense1_", ...: the naming tutorial, "they will be
        # named with incrementing suffixes"). A caller-chosen prefix equal to a
        # generated one makes two different Parameters share a name, and
        # collect_params() then fails ("Cannot update self with other because
        # they have different Parameters with the same name"), so such names
        # are the framework's own.
        if not super().block_name_ok(name) or _GENERATED_NAME.fullmatch(name):
            return False
        # A user-defined block sets each child as an attribute (the Block
        # docstring's idiom), so a name that is already an attribute of every
        # block (`params`, `prefix`, `forward`, `__dict__`, ...) cannot name a
        # child there: Block.__setattr__ registers it, then setting the
        # attribute fails or replaces one the block needs. The built-in
        # Sequential keys children by position and takes any name.
        return not (in_custom_block and name in _block_attributes())

    # -- building --------------------------------------------------------------
    def seed(self, seed: int) -> None:
        _mx().mx.random.seed(seed)

    @staticmethod
    def _prefix(node: Node) -> dict[str, str]:
        return {} if node.name is None else {"prefix": f"{node.name}_"}

    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # One nn.Dense per tie key, added at every position (the base's tie cache).
        kwargs: dict[str, Any] = dict(self._prefix(node))
        if in_features is not None:
            kwargs["in_units"] = in_features
        return _mx().nn.Dense(units, **kwargs)

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        seq = _mx().nn.Sequential(**self._prefix(node))
        # The children are created inside the container's name scope (the
        # iterator builds each as it is drawn): the nn.Sequential docstring's idiom.
        with seq.name_scope():
            for _, child in children:
                seq.add(child)
        return seq

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # The tutorial's custom layer: with in_features unknown (a lazy
        # build) its weight is (units, 0), inferred at the first forward pass.
        return _blocks().UserDense(units, in_features or 0, **self._prefix(node))

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        # The block consumes the iterator inside its own name_scope().
        return _blocks().UserBlock(children, **self._prefix(node))

    def make_sharing_dense(self, units: int, in_features: int | None, node: Dense,
                           sources: dict[Kind, Block]) -> Block:
        self.require("param_sharing")
        kwargs: dict[str, Any] = dict(self._prefix(node))
        owners = list({id(src): src for src in sources.values()}.values())
        if not node.transposed and set(sources) == {"weight", "bias"} and len(owners) == 1:
            # The editions' idiom, 003 4.2.4 and 002's mxnet tab:
            # nn.Dense(8, params=shared.params), every Parameter the new layer
            # asks for found by name in the other layer's ParameterDict.
            cls = _blocks().UserDense if node.custom else _mx().nn.Dense
            return cls(units, in_units=in_features or 0, params=owners[0].params, **kwargs)
        if node.transposed:
            self.require("transposed_sharing")
        # One parameter, or each from another layer, or transposed: params=
        # cannot express it (see blocks.py); a user-defined layer takes the
        # Parameter objects.
        given = {kind: dict(self.layer_params(src))[kind] for kind, src in sources.items()}
        return _blocks().TiedDense(units, in_features or 0, transposed=node.transposed, **given, **kwargs)

    def make_relu(self, node: ReLU) -> Block:
        return _mx().nn.Activation("relu", **self._prefix(node))

    def make_flatten(self, node: Flatten) -> Block:
        return _mx().nn.Flatten(**self._prefix(node))

    def finish_build(self, model: Model, arch: Arch) -> Model:
        # The default initialisation, net.initialize(): init.Uniform(0.07) for
        # weights, each bias its own 'zeros'; deferred for unknown shapes.
        try:
            model.initialize()
        except AssertionError as exc:
            # Prefixes join block names with "_", so a block "a_b" beside a
            # block "a" holding "b" names two Parameters alike
            # (sequential0_a_b_weight); collect_params() refuses such a model
            # ("Cannot update self with other because they have different
            # Parameters with the same name"). Gluon enforces unique names by
            # refusing to build it: a rule of its own, as Keras' distinct layer
            # names are (naming tutorial: names are prefix + counter).
            if "different Parameters with the same name" in str(exc):
                raise Unbuildable(f"Gluon refuses a model whose prefixed names collide: {exc}") from exc
            raise
        return model

    def child(self, block: Block, index: int) -> Block:
        if isinstance(block, _blocks().UserBlock):
            return getattr(block, block.order[index])  # a user-defined block: its attribute
        return block[index]  # net[0], rgnet[0][1][0]

    def num_children(self, block: Block) -> int:
        if isinstance(block, _mx().nn.Sequential):
            return len(block)
        if isinstance(block, _blocks().UserBlock):
            return len(block.order)
        return 0

    # -- parameters ------------------------------------------------------------
    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        # net[0].params is the layer's ParameterDict, keyed by full names
        # (dense0_weight); the role is which attribute holds the object
        # (net[0].weight, net[0].bias), which also works for a layer built with
        # params=shared.params (whose dict is keyed by the shared layer's names).
        out = []
        for name, p in layer.params.items():
            role = next((r for r in ("weight", "bias") if getattr(layer, r, None) is p), name)
            out.append((role, p))
        return out

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        return list(model.collect_params().items())

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        # What save_parameters writes by default (deduplicate=False): the
        # structural keys of Block._collect_params_with_prefix ('0.weight'),
        # one per position of a shared parameter.
        out = []
        for k, p in model._collect_params_with_prefix().items():
            out.append((k, self.read(p)))
        return out

    def lookup(self, model: Model, name: str) -> Param:
        return model.collect_params()[name]  # net.collect_params()['dense1_bias']

    def select(self, model: Model, pattern: str) -> list[tuple[str, Param]]:
        self.require("pattern_selection")
        return list(model.collect_params(pattern).items())  # net.collect_params('.*weight')

    def read(self, param: Param) -> np.ndarray:
        try:
            return param.data().asnumpy().copy()
        except _mx().DeferredInitializationError as exc:
            raise _uninitialized("read", exc) from None

    def dtype(self, param: Param) -> str:
        return np.dtype(param.dtype).name

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        # Gluon 1.x prints an unknown dimension as 0: Parameter dense0_weight (shape=(8, 0)).
        if param.shape is None:
            return None
        return tuple(None if int(d) == 0 else int(d) for d in param.shape)

    def grad(self, param: Param) -> np.ndarray | None:
        if param.grad_req == "null":
            return None
        try:
            return param.grad().asnumpy().copy()
        except _mx().DeferredInitializationError as exc:
            raise _uninitialized("grad", exc) from None

    def write(self, param: Param, value: np.ndarray) -> None:
        # The edition's net[0].weight.set_data(...): keeps the Parameter object.
        if _deferred(param):
            raise _uninitialized("write")
        value = np.asarray(value)
        if tuple(value.shape) != tuple(param.shape):
            raise ValueError(f"write of shape {value.shape} into a parameter of shape {tuple(param.shape)}")
        param.set_data(_nd(value))

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        # net[0].weight.data()[:] += 1, net[0].weight.data()[0, 0] = 42: an
        # in-place write into the NDArray the Parameter holds.
        try:
            data = param.data()
        except _mx().DeferredInitializationError as exc:
            raise _uninitialized("assign", exc) from None
        if isinstance(value, np.ndarray) and value.ndim > 0:
            data[index] = _nd(value)
        else:
            data[index] = float(np.float32(value))

    # -- initialisation ----------------------------------------------------------
    def init_normal(self, mean: float, std: float) -> Any:
        if mean != 0.0:
            # mxnet.init.Normal(sigma=0.01) has no mean parameter: "Initializes
            # weights with random values sampled from a normal distribution
            # with a mean of zero and standard deviation of sigma."
            raise NotApplicable(
                f"mxnet.init.Normal(sigma) samples with mean zero only; mean={mean!r} cannot be "
                "expressed with a built-in initialiser"
            )
        return _mx().init.Normal(sigma=std)

    def init_zeros(self) -> Any:
        return _mx().init.Zero()

    def init_constant(self, value: float) -> Any:
        return _mx().init.Constant(value)

    def init_uniform(self, low: float, high: float) -> Any:
        if low != -high:
            raise NotApplicable(
                f"mxnet.init.Uniform(scale) samples U(-scale, scale) only; U({low!r}, {high!r}) "
                "cannot be expressed with a built-in initialiser"
            )
        return _mx().init.Uniform(scale=high)

    def init_xavier_uniform(self) -> Any:
        # Xavier() defaults: rnd_type='uniform', factor_type='avg', magnitude=3:
        # bound sqrt(3 / ((n_in + n_out) / 2)) = sqrt(6 / (n_in + n_out)).
        return _mx().init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)

    def init_xavier_normal(self) -> Any:
        # gaussian: sigma = sqrt(magnitude / ((n_in + n_out) / 2)); magnitude=1
        # gives Glorot's sqrt(2 / (n_in + n_out)).
        return _mx().init.Xavier(rnd_type="gaussian", factor_type="avg", magnitude=1)

    def init_mixture(self) -> Any:
        return _my_init_class()()

    def _dense_layers(self, block: Block) -> list[Any]:
        nn, blocks = _mx().nn, _blocks()
        if isinstance(block, (nn.Dense, blocks.UserDense, blocks.TiedDense)):
            return [block]
        if isinstance(block, (nn.Sequential, blocks.UserBlock)):
            children = (self.child(block, i) for i in range(self.num_children(block)))
            return [d for c in children for d in self._dense_layers(c)]
        return []

    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        # The editions' per-parameter idiom:
        #   net[0].weight.initialize(init=init.Xavier(), force_reinit=True)
        # On a deferred parameter this records the initialiser, which Gluon
        # applies when the shape is inferred at the first forward pass.
        done: set[int] = set()  # a shared Parameter reached at several positions: once
        for layer in self._dense_layers(block):
            for role, spec in (("weight", weight), ("bias", bias)):
                if spec is None:
                    continue
                p = getattr(layer, role)
                if id(p) in done:
                    continue
                done.add(id(p))
                p.initialize(init=self.native_initializer(spec), force_reinit=force)

    def initialize_all(self, model: Model, init: Init, *, force: bool) -> None:
        self.require("explicit_initialize")
        model.initialize(init=self.native_initializer(init), force_reinit=force)

    # -- computing -----------------------------------------------------------------
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        return model(_nd(x)).asnumpy().copy()

    def zero_grad(self, model: Model) -> None:
        model.collect_params().zero_grad()

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        m = _mx()
        with m.autograd.record():
            out = model(_nd(x))
        out.backward(_nd(upstream))

    def sgd_step(self, model: Model, lr: float) -> None:
        # Trainer.step(batch_size) rescales the gradient by 1/batch_size:
        # batch_size=1 makes the step W - lr * g. collect_params() lists a
        # shared Parameter once, so it is stepped once.
        trainer = _mx().gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": lr})
        trainer.step(batch_size=1)

    # -- serialisation -----------------------------------------------------------------
    def save_weights(self, model: Model, path: FsPath) -> None:
        for k, p in model._collect_params_with_prefix().items():
            if _deferred(p):
                raise _uninitialized(f"save_weights ({k!r})")
        model.save_parameters(str(path))  # deduplicate=False, the default

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        model.load_parameters(str(path), **_LOAD_KWARGS[mode])
        return model

    # -- in-memory state -------------------------------------------------------------
    # Gluon 1.x has no state-dict method (Block.load_dict is Gluon 2.0's). It
    # documents ParameterDict.load_dict(param_dict, ..., restore_prefix):
    # a dict of Parameter names (without the prefix restore_prefix adds back)
    # to NDArrays, loaded in the modes of load_parameters. The state is what
    # Parameter.data() returns for each parameter collect_params() lists,
    # keyed without the model's own prefix: Gluon names a model's Parameters
    # after its prefix, which a second model of the same architecture does
    # not share ("sequential0_" and "sequential1_"; the naming tutorial), as
    # ParameterDict.save(strip_prefix=...) and load(restore_prefix=...) do.
    def get_state(self, model: Model) -> Any:
        return {name.removeprefix(model.prefix): p.data() for name, p in model.collect_params().items()}

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        return [(k, v.asnumpy().copy()) for k, v in state.items()]

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        model.collect_params().load_dict(state, restore_prefix=model.prefix, **_LOAD_KWARGS[mode])
        return model

    # Whole-model saving is not a capability: in Gluon 1.x only a hybridized
    # HybridBlock can be saved whole (HybridBlock.export writes symbol JSON +
    # params, SymbolBlock.imports reads them back), and nn.Sequential, the
    # editions' container, is a plain Block without export. Even for a
    # HybridSequential the loaded SymbolBlock has no children (net[i] fails)
    # and its parameters are keyed by Parameter name, so the clause's "shared
    # layer still one object at every position" cannot be asked of it.
    _NO_WHOLE_MODEL = (
        "Gluon 1.x saves a whole model only through HybridBlock.export / SymbolBlock.imports; "
        "nn.Sequential (the editions' container) is a plain Block with no export, and the SymbolBlock "
        "that imports returns has no child blocks to index, so positions of a shared layer cannot be checked"
    )

    def save_model(self, model: Model, path: FsPath) -> None:
        raise NotApplicable(self._NO_WHOLE_MODEL)

    def load_model(self, path: FsPath) -> Model:
        raise NotApplicable(self._NO_WHOLE_MODEL)
