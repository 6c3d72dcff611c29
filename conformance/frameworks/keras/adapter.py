"""Keras adapter: Keras 2 (``tf.keras`` in TensorFlow <= 2.15) and Keras 3 on
every backend (``tensorflow``, ``jax``, ``torch``), with the idioms of the
TensorFlow editions of the chapter.

Which Keras is used is *observed*, never configured: if ``import keras`` gives
a Keras 3, that is it (on the backend ``KERAS_BACKEND`` selects, read by
Keras itself); otherwise ``tf.keras`` (Keras 2). Everything below that differs
between the two is *mechanics* (an API spelled differently, a file suffix
Keras 3 requires), kept as small branches with a comment; no branch decides a
verdict.

The idioms, as the editions write them: ``net.layers[i]`` for indexing,
``layer.weights`` / ``net.weights`` / ``net.get_weights()`` for listings,
``Sequential(..., name=...)`` for named blocks, the same ``Dense`` instance
added twice for tying, ``kernel_initializer=`` / ``bias_initializer=`` and a
``keras.initializers.Initializer`` subclass with ``__call__(shape, dtype)``
(the chapter's ``MyInit``), ``weights[0][:].assign(...)`` and
``weights[0][0, 0].assign(42)`` for writing, building on the first call,
``keras.utils.set_random_seed``, ``save_weights`` / ``load_weights`` and
``save`` / ``load_model``. User-defined layers and blocks are the subclassing
guide's (``conformance/frameworks/keras/layers.py``); a parameter shared by
distinct layers is another layer's variable set as an attribute of a
user-defined layer; copies are ``keras.models.clone_model`` and
``from_config``, each followed by ``set_weights(get_weights())``; the
in-memory state is ``get_weights()`` / ``set_weights``.

Keras is imported lazily (see :func:`_keras`): importing this module, and so
listing the registered adapters, must work where Keras is not installed.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import weakref
from collections.abc import Iterator
from pathlib import Path as FsPath
from types import ModuleType
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
from conformance.profile import Profile

#: TensorFlow (Keras 2's, and Keras 3's tensorflow backend), imported on first use
_tf = lazy_import("tensorflow")
#: torch, for Keras 3's torch backend, imported on first use
_torch = lazy_import("torch")
#: the user-defined layers (conformance/frameworks/keras/layers.py, which
#: imports Keras at its top), imported on first use only
_layers = lazy_import("conformance.frameworks.keras.layers")


@functools.cache
def _keras() -> ModuleType:
    """The Keras in use, imported on first use only: standalone ``keras`` when it
    is Keras 3, else ``tf.keras`` (Keras 2, as TensorFlow 2.15 ships it)."""
    try:
        import keras

        if int(keras.__version__.split(".")[0]) >= 3:
            return keras
    except ImportError:
        pass
    import tensorflow as tf  # Keras 2: tf.keras, the editions' spelling

    return tf.keras


@functools.cache
def _major() -> int:
    """Keras' major version, observed from the imported module."""
    k = _keras()
    version = getattr(k, "__version__", None)
    if version is None:  # tf.keras of TF 2.15 proxies keras 2.15, which has __version__; be safe
        version = importlib.metadata.version("keras")
    return int(str(version).split(".")[0])


@functools.cache
def _backend() -> str:
    # Keras 3: keras.backend.backend() is what KERAS_BACKEND selected. Keras 2
    # (tf.keras) has only TensorFlow; its keras.backend.backend() says so too.
    return str(_keras().backend.backend())


@functools.cache
def _keeps_repeated_layer() -> bool:
    """Whether a Sequential given one layer at two positions lists it at both,
    observed on the installed Keras (the chapter's repeated layer: Keras 2
    lists it once, "tf.keras removes the duplicate layer"). Where it does not,
    a layer cannot stand at two positions of one container, so the strategies
    draw no such network for the clauses that are about something else; the
    two repeated-layer clauses build it anyway and report what Keras does."""
    k = _keras()
    shared = k.layers.Dense(1)
    return len(k.Sequential([k.layers.Flatten(), shared, shared]).layers) == 3


@functools.cache
def _block_attributes() -> frozenset[str]:
    """The attributes every user-defined block has (Keras' Model API, and on
    the torch backend torch.nn.Module's), observed on an empty one that has
    been called, so that those created by the first call are included."""
    probe = _layers().UserBlock((), name="conformance_probe")  # a given name: no name counter moves
    probe(np.zeros((1, 1), dtype=np.float32))
    return frozenset(dir(probe))


def _named_nodes(root: Sequential) -> Iterator[tuple[Node, bool]]:
    """Every node below ``root`` with whether its parent is a user-defined block."""
    for child in root.children:
        yield child, root.custom
        if isinstance(child, Sequential):
            yield from _named_nodes(child)


def _to_numpy(x: Any) -> np.ndarray:
    if _major() >= 3:
        return np.array(_keras().ops.convert_to_numpy(x), copy=True)
    return np.array(x.numpy(), copy=True)


class _Pending:
    """Handle on the kernel or bias of a Dense that has not been built yet.

    Keras creates a layer's variables when the layer first sees an input
    (``build``); before that ``layer.weights`` is ``[]`` and ``layer.kernel``
    does not exist. The handle knows its layer and role: its shape is unknown
    and reading it raises :class:`Uninitialized`; once the layer is built it
    stands for the variable Keras created."""

    __slots__ = ("attr", "layer")

    def __init__(self, layer: Any, attr: str) -> None:
        self.layer = layer
        self.attr = attr  # "kernel" or "bias"

    def resolve(self) -> Any | None:
        return getattr(self.layer, self.attr, None) if self.layer.built else None

    def __repr__(self) -> str:
        return f"<unbuilt {self.layer.name}.{self.attr}>"


def _unbuilt(what: str) -> Uninitialized:
    return Uninitialized(
        f"{what}: the Dense layer has not been built, so its variables do not exist yet; Keras creates "
        "them on the first call (https://keras.io/guides/making_new_layers_and_models_via_subclassing/"
        "#best-practice-deferring-weight-creation-until-the-shape-of-the-inputs-is-known)"
    )


def _var(param: Param, what: str) -> Any:
    """The Keras variable behind a handle; :class:`Uninitialized` if not built."""
    if isinstance(param, _Pending):
        v = param.resolve()
        if v is None:
            raise _unbuilt(what)
        return v
    return param


def _make_mixture_class() -> type:
    """The chapter's MyInit: a ``keras.initializers.Initializer`` subclass with
    ``__call__(shape, dtype=None)``. The chapter writes it with ``tf.random`` /
    ``tf.abs`` / ``tf.cast``; on Keras 3 the same lines are written with
    ``keras.random`` / ``keras.ops`` so they run on every backend (mechanics:
    tf ops do not exist on the jax and torch backends)."""
    k = _keras()
    Initializer: Any = k.initializers.Initializer  # a class of the lazily imported module

    if _major() >= 3:

        class MyInit(Initializer):
            def __call__(self, shape, dtype=None):  # type: ignore[no-untyped-def]
                data = k.random.uniform(shape, -10, 10, dtype=dtype)
                factor = k.ops.cast(k.ops.abs(data) >= 5, data.dtype)
                return data * factor

    else:
        tf = _tf()

        class MyInit(Initializer):  # type: ignore[no-redef]
            def __call__(self, shape, dtype=None):  # type: ignore[no-untyped-def]
                data = tf.random.uniform(shape, -10, 10, dtype=dtype)
                factor = tf.abs(data) >= 5
                factor = tf.cast(factor, tf.float32)
                return data * factor

    return MyInit


_MIXTURE: dict[int, type] = {}


# Keras 2 (tf.keras) builds layers inside TensorFlow name scopes, and TF
# rejects scope names outside these patterns (tf.Graph.name_scope docs: "[A-Za-z0-9.][A-Za-z0-9_.\-/]*
# (for scopes at the root) / [A-Za-z0-9_.\-/]* (for other scopes)"); observed:
# Sequential(name='block 0') raises "'block 0/' is not a valid root scope name".
# The chapter's Keras tab names its blocks 'block-{i}' for this reason.
_TF_SCOPE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*\Z")


class KerasAdapter(Adapter):
    def __init__(self, profile: Profile | None = None) -> None:
        # The per-version facts (load modes by major version) are variants of
        # the profile; whether a Sequential keeps a repeated layer is observed.
        super().__init__(profile)
        # Keras variables have no gradient slot: backward() keeps the last
        # gradients here, keyed by variable identity (the variable is kept so
        # its id cannot be reused).
        self._grads: dict[int, tuple[Any, np.ndarray]] = {}
        # Sequential -> the number of positions it was built with, to tell
        # when `layers[i]` no longer reaches position i (Keras 2 de-duplicates).
        self._positions: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        # model -> its input width, to build a copy before set_weights
        self._input_dim: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    @classmethod
    def installed(cls) -> bool:
        try:
            _keras()
        except ImportError:
            return False
        return True

    def observed_capabilities(self) -> frozenset[str]:
        return frozenset({"repeated_child"}) if _keeps_repeated_layer() else frozenset()

    def backend(self) -> str | None:
        return _backend()

    def major(self) -> int:
        """Keras' major version (2 or 3), observed."""
        return _major()

    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        if not super().block_name_ok(name):
            return False
        # A user-defined block sets each child as an attribute under its name
        # (the subclassing guide's `self.d1 = Dense(...)`): a name that is
        # already an attribute of every block (`layers`, `weights`, `call`,
        # `__dict__`, and on the torch backend torch.nn.Module's `training`,
        # `forward`, ...) would replace it or be shadowed by it.
        if in_custom_block and name in _block_attributes():
            return False
        if _major() < 3:
            return bool(_TF_SCOPE_NAME.match(name))
        # On the torch backend every Keras layer is a torch.nn.Module and
        # registers its sub-layers and variables under their names; torch
        # raises KeyError "... name can't contain \".\"" (observed, Keras 3.15 /
        # torch 2.13; torch.nn.Module.add_module / register_parameter docs).
        return not (_backend() == "torch" and "." in name)

    # -- building --------------------------------------------------------------
    def seed(self, seed: int) -> None:
        _keras().utils.set_random_seed(seed)

    def build(self, arch: Arch) -> Model:
        # The base's walk, with what Keras adds around it: a check of the block
        # names Keras rejects, and its unique-name rule turned into Unbuildable.
        bad = [n.name for n, in_custom in _named_nodes(arch.root)
               if n.name is not None and not self.block_name_ok(n.name, in_custom_block=in_custom)]
        if bad:
            # Keras 2 builds inside TF name scopes and raises ValueError ("... is
            # not a valid scope name") for these; Keras 3 for a name with "/".
            raise NotApplicable(
                f"Keras {_major()} does not accept the block name(s) {bad!r}: "
                + ("TensorFlow name scopes must match [A-Za-z0-9.][A-Za-z0-9_.\\-/]* (tf.Graph.name_scope), "
                   "which is why the Keras tab of the chapter names its blocks 'block-{i}'"
                   if _major() < 3 else "Layer(name=...) rejects '/', and on the torch backend "
                   "torch.nn.Module rejects '.' in the names Keras registers")
            )

        try:
            return super().build(arch)
        except ValueError as exc:
            if "unique" not in str(exc):
                raise
            # Keras requires the layers of one Sequential to have distinct names
            # (Sequential.add: "All layers added to a Sequential model should have
            # unique names"). A layer's name travels with the layer object, so a
            # shared layer named 'A' reused in a Sequential that has another child
            # named 'A' cannot be built, although the architecture is well formed.
            raise Unbuildable(f"Keras refuses this architecture: {str(exc).splitlines()[0]}") from exc

    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # Keras infers the input width when the layer is built: in_features is
        # not passed. A tied node reuses this instance (the base's tie cache):
        # the same Dense added again, the chapter's `shared`.
        return _keras().layers.Dense(units, name=node.name)

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        # Sequential([...], name=...); a child's name travels with the layer object.
        seq = _keras().Sequential([child for _, child in children], name=node.name)
        self._positions[seq] = len(node.children)
        return seq

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # The subclassing guide's layer: bias in __init__, kernel in build();
        # Keras passes the input shape to build(), so in_features is not used.
        return _layers().UserDense(units, name=node.name)

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        # class Linear(tf.keras.Model): each child an attribute, a named one
        # under its name, an unnamed one as layer<i>.
        return _layers().UserBlock(
            [(name if name is not None else f"layer{i}", child) for i, (name, child) in enumerate(children)],
            name=node.name,
        )

    def make_sharing_dense(self, units: int, in_features: int | None, node: Dense,
                           sources: dict[Kind, Block]) -> Block:
        # Keras has no argument or setter giving a built-in layer another
        # layer's variable (Dense.kernel is a read-only property; sharing a
        # variable between built-in layers is the open feature request
        # keras-team/keras#18821). What it documents is that "variables set as
        # attributes of a layer are tracked as weights of the layer": a
        # user-defined layer that sets the source's variable as its attribute
        # holds that very variable. So every layer sharing a parameter is the
        # user-defined SharingDense, whether or not node.custom.
        self.require("param_sharing")
        if node.transposed:
            self.require("transposed_sharing")
        return _layers().SharingDense(units, weight_of=sources.get("weight"), bias_of=sources.get("bias"),
                                      transposed=node.transposed, name=node.name)

    def make_relu(self, node: ReLU) -> Block:
        return _keras().layers.ReLU(name=node.name)

    def make_flatten(self, node: Flatten) -> Block:
        return _keras().layers.Flatten(name=node.name)

    def finish_build(self, model: Model, arch: Arch) -> Model:
        self._input_dim[model] = arch.input_dim
        if not arch.lazy:  # otherwise Keras builds on the first call
            self._build_for(model, arch.input_dim)
        return model

    @staticmethod
    def _build_for(model: Model, input_dim: int) -> None:
        """Create every variable of ``model`` for inputs of width ``input_dim``."""
        if isinstance(model, _keras().Sequential) or _major() < 3:
            # Sequential.build(input_shape); Keras 2's Model.build is documented
            # for subclassed models too ("a substitute for calling the model on
            # real data to build it").
            model.build((None, input_dim))
        else:
            # Keras 3's Model.build(input_shape) does not build the sub-layers
            # of a subclassed model without a build() of its own (it warns so);
            # the guide's way is to call it: "Call the subclassed model once
            # to create the weights" ("Serialization and saving").
            model(np.zeros((1, input_dim), dtype=np.float32))

    def child(self, block: Block, index: int) -> Block:
        if isinstance(block, _layers().UserBlock):
            return getattr(block, block.order[index])  # a user-defined block: its attribute
        layers = block.layers  # net.layers[i], rgnet.layers[0].layers[1]
        given = self._positions.get(block)
        if given is not None and len(layers) != given:
            raise NotApplicable(
                f"`{block.name}.layers` lists {len(layers)} layers for the {given} positions the Sequential "
                f"was built with (Keras {_major()} de-duplicates a layer added twice), so `layers[{index}]` "
                f"cannot reach position {index}; structural paths do not exist in this model"
            )
        return layers[index]

    def num_children(self, block: Block) -> int:
        if isinstance(block, _keras().Sequential):
            return len(block.layers)
        if isinstance(block, _layers().UserBlock):
            return len(block.order)
        return 0

    # -- parameters ------------------------------------------------------------
    @staticmethod
    def _is_dense(layer: Any) -> bool:
        """A built-in Dense or one of the user-defined dense layers (each has
        `kernel` and `bias` attributes, as Dense has)."""
        return isinstance(layer, (_keras().layers.Dense, _layers().UserDense, _layers().SharingDense))

    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        if self._is_dense(layer):
            if not layer.built:
                return [("weight", _Pending(layer, "kernel")), ("bias", _Pending(layer, "bias"))]
            roles = []
            # the chapter's net.layers[2].weights: [kernel, bias] (a user-defined
            # layer lists them in the order it created or set them)
            for v in layer.weights:
                role = "weight" if v is layer.kernel else "bias" if v is layer.bias else None
                if role is None:
                    raise AssertionError(f"{layer.name}.weights holds {v!r}, neither kernel nor bias")
                roles.append((role, v))
            return roles
        return [(self._role_name(v), v) for v in layer.weights]

    @staticmethod
    def _role_name(v: Any) -> str:
        return str(getattr(v, "path", v.name))

    def _name(self, v: Any) -> str:
        # Keras 3: `variable.path` ("sequential/block 0/dense_2/kernel") is the
        # unique identifier, `variable.name` is only "kernel". Keras 2:
        # `variable.name` ("dense_2/kernel:0") is all there is.
        return str(v.path) if _major() >= 3 else str(v.name)

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        return [(self._name(v), v) for v in model.weights]

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        # Keras has no keyed state dict; the chapter's view of all values is
        # `net.get_weights()`, a list in the order of `net.weights`: key each
        # array by the name of the variable at the same position.
        names = [n for n, _ in self.all_params(model)]
        values = model.get_weights()
        if len(names) != len(values):
            raise AssertionError(f"get_weights() has {len(values)} arrays for {len(names)} weights")
        return [(n, np.array(v, copy=True)) for n, v in zip(names, values)]

    def lookup(self, model: Model, name: str) -> Param:
        # Keras' lookup idiom is Model.get_layer(name); a variable name is
        # layer names joined by "/" ending in the attribute ("kernel"/"bias",
        # Keras 2 with a ":0" suffix). Walk it with get_layer, starting at the
        # model (whose own name leads a Keras 3 path).
        *layers, attr = name.split("/")
        attr = attr.split(":")[0]
        block = model
        if layers and layers[0] == model.name:
            layers = layers[1:]
        for seg in layers:
            if not hasattr(block, "get_layer"):
                raise KeyError(f"{name!r}: {block.name!r} has no sub-layers, cannot look up {seg!r}")
            try:
                block = block.get_layer(seg)
            except ValueError as exc:
                raise KeyError(f"{name!r}: {block.name}.get_layer({seg!r}) failed: {exc}") from exc
        if not hasattr(block, attr):
            raise KeyError(f"{name!r}: layer {block.name!r} has no attribute {attr!r}")
        return getattr(block, attr)

    def read(self, param: Param) -> np.ndarray:
        return _to_numpy(_var(param, "read"))

    def dtype(self, param: Param) -> str:
        if isinstance(param, _Pending):
            v = param.resolve()
            if v is None:
                return str(param.layer.dtype)  # the variable dtype the layer will create
            param = v
        dt = param.dtype
        return str(getattr(dt, "name", dt))  # Keras 3: "float32"; tf.Variable: tf.float32

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        if isinstance(param, _Pending):
            v = param.resolve()
            if v is None:
                return None
            param = v
        return tuple(None if d is None else int(d) for d in param.shape)

    def grad(self, param: Param) -> np.ndarray | None:
        if isinstance(param, _Pending):
            param = param.resolve()
            if param is None:
                return None
        hit = self._grads.get(id(param))
        return None if hit is None else hit[1].copy()

    def same(self, p: Param, q: Param) -> bool:
        if isinstance(p, _Pending) and p.resolve() is not None:
            p = p.resolve()
        if isinstance(q, _Pending) and q.resolve() is not None:
            q = q.resolve()
        if isinstance(p, _Pending) and isinstance(q, _Pending):
            return p.layer is q.layer and p.attr == q.attr
        return p is q

    def write(self, param: Param, value: np.ndarray) -> None:
        v = _var(param, "write")
        # A copy of its own: on the jax backend Variable.assign keeps the array
        # it is given, and jax on the CPU adopts an aligned numpy buffer without
        # copying (jax-ml/jax#4486), so the caller's array would become the
        # parameter's storage.
        value = np.array(value, dtype=np.float32, copy=True)
        if tuple(value.shape) != tuple(v.shape):
            raise ValueError(f"write of shape {value.shape} into a variable of shape {tuple(v.shape)}")
        v.assign(value)  # Variable.assign: the variable object is kept

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        v = _var(param, "assign")
        value = np.asarray(value, dtype=np.float32)
        if _backend() == "tensorflow":
            # The chapter's idiom: weights[0][:].assign(...), weights[0][0, 0].assign(42).
            # Slicing a tf.Variable (Keras 2) or a Keras 3 Variable on the TF
            # backend gives a tensor with an `assign` that writes the slice.
            v[index].assign(value)
        elif _backend() == "jax":
            # On jax `variable[i, j]` is an immutable jax.Array without
            # `assign` (AttributeError, observed). JAX documents functional
            # updates, `x.at[idx].set(v)`, and Keras documents Variable.assign.
            v.assign(v.value.at[index].set(value))
        elif _backend() == "torch":
            # On torch `variable[i, j]` is a torch.Tensor without `assign`.
            # Torch documents in-place index assignment on a tensor; the
            # variable's value is a leaf Parameter, so write a copy and assign it.
            t = v.value.detach().clone()
            t[index] = _torch().as_tensor(value, device=t.device)
            v.assign(t)
        else:
            raise NotApplicable(f"no documented slice-assignment idiom known for backend {_backend()!r}")

    # -- initialisation ----------------------------------------------------------
    # keras.initializers objects; native_initializer makes a fresh one for each
    # variable (Keras 3 initialisers with a fixed seed repeat their values).
    def init_normal(self, mean: float, std: float) -> Any:
        return _keras().initializers.RandomNormal(mean=mean, stddev=std)

    def init_zeros(self) -> Any:
        return _keras().initializers.Zeros()

    def init_constant(self, value: float) -> Any:
        return _keras().initializers.Constant(value)

    def init_uniform(self, low: float, high: float) -> Any:
        return _keras().initializers.RandomUniform(minval=low, maxval=high)

    def init_xavier_uniform(self) -> Any:
        return _keras().initializers.GlorotUniform()

    def init_xavier_normal(self) -> Any:
        return _keras().initializers.GlorotNormal()

    def init_mixture(self) -> Any:
        if 0 not in _MIXTURE:
            _MIXTURE[0] = _make_mixture_class()
        return _MIXTURE[0]()

    def _dense_layers(self, block: Block) -> list[Any]:
        """Every dense layer (built-in or user-defined) reachable from
        ``block``, each object once, in order."""
        k = _keras()
        out: list[Any] = []
        seen: set[int] = set()

        def walk(b: Any) -> None:
            if self._is_dense(b):
                if id(b) not in seen:
                    seen.add(id(b))
                    out.append(b)
            elif isinstance(b, k.Sequential):
                for c in b.layers:
                    walk(c)
            elif isinstance(b, _layers().UserBlock):
                for attr in b.order:
                    walk(getattr(b, attr))

        walk(block)
        return out

    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        # `force` is Gluon's force_reinit; Keras has no separate initialise step.
        del force
        # Keras chooses initialisers at construction (kernel_initializer=,
        # bias_initializer=), and a layer's build() calls them. So:
        # * an unbuilt Dense gets the initialiser set as its kernel_initializer /
        #   bias_initializer attribute, exactly what the constructor argument
        #   sets, and build() on the first call uses it;
        # * a variable that exists (every one of a built layer; the bias a
        #   user-defined layer creates in __init__) is re-initialised as Keras
        #   users do it: assigning `initializer(shape, dtype)` to it.
        for layer in self._dense_layers(block):
            for spec, attr in ((weight, "kernel"), (bias, "bias")):
                if spec is None:
                    continue
                init = self.native_initializer(spec)
                # an unbuilt Dense has no `kernel` (Keras 3's property raises AttributeError)
                v = getattr(layer, attr, None)
                if v is None:
                    setattr(layer, f"{attr}_initializer", init)
                else:
                    v.assign(init(tuple(v.shape), dtype=self.dtype(v)))

    # -- computing -------------------------------------------------------------
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        return _to_numpy(model(np.asarray(x, dtype=np.float32), training=False))

    def zero_grad(self, model: Model) -> None:
        for v in model.weights:
            self._grads.pop(id(v), None)

    def _gradients(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> list[tuple[Any, Any]]:
        """(variable, gradient) of sum(model(x) * upstream) for every trainable
        variable (each once), with the backend's own autodiff."""
        b = _backend()
        x = np.asarray(x, dtype=np.float32)
        up = np.asarray(upstream, dtype=np.float32)
        variables = list(model.trainable_variables)
        if b == "tensorflow":
            tf = _tf()
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x, training=True) * up)
            return list(zip(variables, tape.gradient(loss, variables)))
        if b == "jax":
            # keras.io "Writing a training loop from scratch in JAX": a pure
            # function of the variables' values through Model.stateless_call,
            # differentiated by jax.value_and_grad.
            import jax
            import jax.numpy as jnp

            trainable = [v.value for v in variables]
            non_trainable = [v.value for v in model.non_trainable_variables]

            def loss_fn(tv: list[Any]) -> Any:
                y, _ = model.stateless_call(tv, non_trainable, x, training=True)
                return jnp.sum(y * up)

            _, grads = jax.value_and_grad(loss_fn)(trainable)
            return list(zip(variables, grads))
        if b == "torch":
            # keras.io "Writing a training loop from scratch in PyTorch":
            # model.zero_grad(); loss.backward(); [v.value.grad for v in trainable_weights].
            torch = _torch()
            model.zero_grad()
            y = model(torch.as_tensor(x), training=True)
            (y * torch.as_tensor(up, device=y.device)).sum().backward()
            return [(v, v.value.grad) for v in variables]
        raise NotApplicable(f"no autodiff known for backend {b!r}")

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        for v, g in self._gradients(model, x, upstream):
            if g is None:
                continue
            self._grads[id(v)] = (v, _to_numpy(g) if _major() >= 3 else np.array(g.numpy(), copy=True))

    def sgd_step(self, model: Model, lr: float) -> None:
        k = _keras()
        pairs = []
        for v in model.trainable_variables:
            hit = self._grads.get(id(v))
            if hit is not None:
                grad = k.ops.convert_to_tensor(hit[1]) if _major() >= 3 else _tf().constant(hit[1])
                pairs.append((grad, v))
        if not pairs:
            return
        # Keras' own plain SGD: optimizer.apply_gradients(zip(grads, vars));
        # model.trainable_variables lists a shared variable once, so it steps once.
        k.optimizers.SGD(learning_rate=lr).apply_gradients(pairs)

    # -- serialisation -------------------------------------------------------------
    @staticmethod
    def _weights_file(path: FsPath, fmt: str) -> str:
        # Keras 3 requires the suffix ".weights.h5" (ValueError otherwise);
        # Keras 2 picks HDF5 for ".h5" and the TF checkpoint format otherwise.
        if fmt == "h5":
            return str(path) + ".weights.h5"
        return str(path) + ".ckpt"

    def save_weights(self, model: Model, path: FsPath) -> None:
        # Building is what creates variables: an unbuilt model has nothing to save.
        if not all(layer.built for layer in self._dense_layers(model)):
            raise _unbuilt("save_weights")
        model.save_weights(self._weights_file(path, "h5"))
        if _major() < 3:
            model.save_weights(self._weights_file(path, "tf_checkpoint"))  # Keras 2's default format

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        if mode == "default":
            model.load_weights(self._weights_file(path, "h5"))
        elif mode == "skip_mismatch":
            model.load_weights(self._weights_file(path, "h5"), skip_mismatch=True)
        elif mode == "h5":
            model.load_weights(self._weights_file(path, "h5"))
        else:  # tf_checkpoint
            status = model.load_weights(self._weights_file(path, "tf_checkpoint"))
            status.assert_existing_objects_matched()
        return model

    @staticmethod
    def _model_file(path: FsPath) -> str:
        return str(path) + ".keras"  # the native format of Keras 3 and of Keras >= 2.13

    def save_model(self, model: Model, path: FsPath) -> None:
        model.save(self._model_file(path))

    def load_model(self, path: FsPath) -> Model:
        # The user-defined layers are registered (keras.saving.register_keras_serializable),
        # so load_model finds them without custom_objects.
        return _keras().models.load_model(self._model_file(path))

    # -- copies and in-memory state ----------------------------------------------
    def _children(self, block: Any) -> list[Any]:
        if isinstance(block, _keras().Sequential):
            return list(block.layers)
        if isinstance(block, _layers().UserBlock):
            return [getattr(block, attr) for attr in block.order]
        return []

    def _shares_objects(self, model: Model) -> bool:
        """Whether some variable is reached at two positions of ``model`` (a
        layer used twice, or distinct layers holding one variable)."""
        seen: set[int] = set()

        def walk(b: Any) -> bool:
            if self._is_dense(b):
                ids = {id(v) for v in b.weights}
                if ids & seen:
                    return True
                seen.update(ids)
                return False
            return any(walk(c) for c in self._children(b))

        return walk(model)

    def copy_by(self, model: Model, op: str) -> Model:
        # Both operations rebuild the model from its config, which holds no
        # weights: keras.models.clone_model "creates new layers (and thus new
        # weights)", and from_config "does not handle ... weights (handled by
        # set_weights)". The documented way to give the new model the source's
        # values is the in-memory weight transfer, set_weights(get_weights())
        # (guide "Serialization and saving"), which is what makes it a copy.
        if self._shares_objects(model):
            raise Unbuildable(
                "keras.models.clone_model documents that it 'will not preserve the uniqueness of shared "
                "objects within the model (e.g. a single variable attached to two distinct layers will be "
                "restored as two separate variables)', and in-memory cloning 'is equivalent to getting the "
                "config then recreating the model from its config' (https://keras.io/api/models/model_saving_apis/"
                "model_config_serialization/, https://keras.io/guides/serialization_and_saving/): neither "
                "operation is documented to copy a model with shared layers or variables"
            )
        k = _keras()
        if op == "clone_model":
            # A user-defined root too: its docs say "subclassed models cannot be
            # cloned by default" and name from_config as the equivalent, which
            # clone_model itself does for one (Keras 2.15 calls from_config,
            # Keras 3 serialises and deserialises it).
            copy = k.models.clone_model(model)
        else:  # "from_config": Sequential.from_config(config), model.__class__.from_config(...)
            copy = type(model).from_config(model.get_config())
        if not all(layer.built for layer in self._dense_layers(copy)):
            self._build_for(copy, self._input_dim[model])
        copy.set_weights(model.get_weights())
        self._input_dim[copy] = self._input_dim[model]
        return copy

    def get_state(self, model: Model) -> Any:
        # The guide's in-memory weight transfer: model.get_weights(), a list of
        # numpy arrays in the order of model.weights.
        return model.get_weights()

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        return [(str(i), np.array(a, copy=True)) for i, a in enumerate(state)]

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        model.set_weights(state)  # the one mode, "set_weights"
        return model
