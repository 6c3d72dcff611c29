"""Flax NNX adapter: parameter management the way Flax NNX documents it.

NNX is not covered by the book's editions; it is here because it is what
people now use for the same jobs, and it manages parameters differently
enough to test the catalogue's generality. Every primitive uses NNX's own
documented idiom:

* model: ``nnx.Sequential(*layers)`` of ``nnx.Linear(in, out, rngs=rngs)``,
  ``nnx.relu`` and a flatten function; ``net.layers[i]`` for indexing (the
  container keeps its children in an ``nnx.List``; it has no ``__getitem__``);
  a shared layer is the same ``nnx.Linear`` object at several positions;
* user-defined layers and blocks: ``nnx.Module`` subclasses as the "Flax
  basics" guide writes them (:mod:`conformance.frameworks.flax.layers`);
  distinct layers share a parameter by holding the one ``nnx.Param``, the
  "Variable sharing (weight-tying)" of the "Model surgery" guide
  (``model.linear1.kernel = model.linear2.kernel``);
* parameters are ``nnx.Param`` variables; their values are read with
  ``param[...]`` and written with ``param[...] = v`` / ``param[i, j] = v``
  (the ``.value`` property is deprecated since flax 0.12: "For
  Variable[Array] instances use: variable[...]"); jax arrays are immutable,
  and ``Variable.__setitem__`` is ``value.at[index].set(v)`` stored back into
  the same ``Param`` object;
* listing and names: ``nnx.state(model, nnx.Param)`` flattened
  (``nnx.to_flat_state``), the names being the state paths joined with "/"
  (``layers/0/kernel``); see :meth:`NnxAdapter.all_params` for why this and
  not ``nnx.iter_graph``;
* gradients: ``nnx.grad`` returns them as a state; NNX variables have no
  gradient slot, so :meth:`NnxAdapter.backward` keeps the last result for
  :meth:`NnxAdapter.grad`;
* optimiser: ``nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)`` then
  ``optimizer.update(model, grads)`` (the flax >= 0.11 signature);
* seeding: ``nnx.Rngs(seed)``; initialisers: ``jax.nn.initializers``;
* saving: Orbax, as the flax "Save and load checkpoints" guide shows;
* copies and in-memory state: ``nnx.clone``, ``nnx.split`` / ``nnx.merge``
  (with and without ``copy=True``), ``nnx.state`` / ``nnx.update`` and the
  pure-dict recipe (``nnx.to_pure_dict`` / ``nnx.replace_by_pure_dict``); see
  :meth:`NnxAdapter.copy_by` and :meth:`NnxAdapter.load_state_in_mode` for
  which of them share ``Variable`` objects with their source.

flax, jax, optax and orbax are imported lazily (see ``_fw`` and ``_ocp``):
importing this module, and so listing the registered adapters, must work where
flax is not installed.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from conformance.adapters.base import Adapter, Block, Index, Init, Model, Param, lazy_import
from conformance.arch import Dense, Flatten, Kind, ReLU, Sequential
from conformance.profile import Profile

#: flax.nnx, jax, jax.numpy and optax, imported on first use only
_fw = lazy_import(jax="jax", jnp="jax.numpy", nnx="flax.nnx", optax="optax")
#: orbax.checkpoint, the library the flax checkpointing guide uses (imported on first use)
_ocp = lazy_import("orbax.checkpoint")
#: the user-defined modules (conformance/frameworks/flax/layers.py, which
#: imports flax at its top), imported on first use only
_layers = lazy_import("conformance.frameworks.flax.layers")


@functools.cache
def _empty_block() -> Any:
    """A user-defined block without children: what every one of them has as attributes."""
    return _layers().UserBlock(iter(()))


def _flatten(x: Any) -> Any:
    """Per-example flatten, ``x.reshape(batch, -1)``. NNX has no Flatten layer;
    ``nnx.Sequential`` takes any callable, so a function is the idiom (as
    ``nnx.relu`` is for the activation)."""
    return x.reshape((x.shape[0], -1))


#: role of each nnx.Linear attribute in the catalogue's vocabulary (the
#: user-defined modules name theirs alike)
_ROLES = {"kernel": "weight", "bias": "bias"}
#: ... and the attribute holding each role
_ATTRS: dict[Kind, str] = {"weight": "kernel", "bias": "bias"}

#: how many models' gradients are kept (a property holds at most two models at
#: once, the lifecycle machine three)
_GRAD_MODELS = 8
#: how many parameters' gradient slots are kept (a few models' worth)
_GRAD_SLOTS = 512


def _path_name(path: tuple[Any, ...]) -> str:
    return "/".join(str(k) for k in path)


def _name_path(name: str) -> tuple[Any, ...]:
    # nnx.List keys are ints (flax PR #3802: "List now emits int keys"); attribute keys are str.
    return tuple(int(s) if s.isdigit() else s for s in name.split("/"))


class NnxAdapter(Adapter):
    no_lazy_reason = (
        "Flax NNX has no lazy layers: nnx.Linear(in_features, out_features, rngs=...) "
        "creates its kernel in the constructor, so the input dimension must be known"
    )

    def __init__(self, profile: Profile | None = None) -> None:
        super().__init__(profile)
        self._seed = 0
        self._rngs: Any = None
        # NNX has no gradient slot: the adapter keeps one per Param object, as
        # torch keeps .grad on a Parameter, so a Param two models hold (nnx.merge
        # of one model's state, documented to alias) has one slot, and zero_grad
        # through either model empties it.
        # id(param) -> (param, its gradient from the last backward through it)
        self._slots: OrderedDict[int, tuple[Any, np.ndarray]] = OrderedDict()
        # id(model) -> (model, the State nnx.grad returned), the tree Optimizer.update takes
        self._grads: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

    def backend(self) -> str | None:
        jax = _fw().jax
        return f"jax{jax.__version__}-{jax.default_backend()}"

    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        # nnx.Sequential takes no child names (they are dropped), so any name
        # is fine there. A user-defined block sets each child as an attribute,
        # as the "Flax basics" guide's MLP does: a name that is already an
        # attribute of every nnx.Module (`eval`, `sow`, `__dict__`, ...) or of
        # the block (`order`) cannot name a child, and a name holding "/", the
        # separator this adapter joins state paths with, would make two
        # parameters' names collide ("a/b" beside "a" holding "b").
        if not super().block_name_ok(name):
            return False
        if not in_custom_block:
            return True
        return "/" not in name and not hasattr(_empty_block(), name)

    # -- building --------------------------------------------------------------
    def seed(self, seed: int) -> None:
        # NNX has no global random state: every random draw takes an explicit
        # key, and modules get theirs from the nnx.Rngs passed to their
        # constructor (flax "Randomness" guide). So seeding is creating the
        # nnx.Rngs(seed) that the next build (and initialize) draw from; a
        # second build without re-seeding continues that stream, as a global
        # generator would.
        self._seed = int(seed)
        self._rngs = _fw().nnx.Rngs(self._seed)

    def _stream(self) -> Any:
        if self._rngs is None:
            self._rngs = _fw().nnx.Rngs(self._seed)
        return self._rngs

    # The base builds children in forward order, so the default draws follow it.
    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # One nnx.Linear per tie key, used at every position (the base's tie
        # cache); its kernel is drawn from the seeded nnx.Rngs stream. A lazy
        # build never gets here (no_lazy_reason).
        return _fw().nnx.Linear(in_features, units, rngs=self._stream())

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        # nnx.Sequential(*fns) has no child names: Arch names are not
        # expressible and are dropped (block_names is not a capability).
        return _fw().nnx.Sequential(*(child for _, child in children))

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        # A lazy build never gets here (no_lazy_reason): NNX creates every
        # parameter in the constructor, from the input width it is given.
        assert in_features is not None
        return _layers().UserLinear(in_features, units, rngs=self._stream())

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        return _layers().UserBlock(children)

    def share_param(self, layer: Block, kind: Kind, param: Param) -> None:
        # The "Model surgery" guide's Variable sharing (weight-tying):
        # `model.linear1.kernel = model.linear2.kernel`, the one nnx.Param
        # then an attribute of both modules (one node of the graph).
        setattr(layer, _ATTRS[kind], param)

    def make_transposed_dense(self, units: int, in_features: int | None, node: Dense,
                              sources: dict[Kind, Block]) -> Block:
        layer = _layers().TransposedLinear(dict(self.layer_params(sources["weight"]))["weight"], units)
        if "bias" in sources:
            self.share_param(layer, "bias", dict(self.layer_params(sources["bias"]))["bias"])
        return layer

    def make_relu(self, node: ReLU) -> Block:
        return _fw().nnx.relu

    def make_flatten(self, node: Flatten) -> Block:
        return _flatten

    def child(self, block: Block, index: int) -> Block:
        if isinstance(block, _layers().UserBlock):
            return getattr(block, block.order[index])  # a user-defined block: its attribute
        return block.layers[index]  # net.layers[2], rgnet.layers[0].layers[1].layers[0]

    def num_children(self, block: Block) -> int:
        if isinstance(block, _fw().nnx.Sequential):
            return len(block.layers)  # positions: a shared layer counts at each
        if isinstance(block, _layers().UserBlock):
            return len(block.order)
        return 0  # nnx.Linear, the user-defined layers, nnx.relu, the flatten function

    # -- parameters ------------------------------------------------------------
    def _param_state(self, node: Any) -> Any:
        return _fw().nnx.state(node, _fw().nnx.Param)

    def _flat(self, node: Any) -> list[tuple[tuple[Any, ...], Any]]:
        return list(_fw().nnx.to_flat_state(self._param_state(node)))

    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        # As NNX lists them: nnx.state(layer, nnx.Param), whose keys are sorted
        # (bias before kernel, as the nnx.Linear docstring's example shows).
        if not isinstance(layer, _fw().nnx.Module):
            return []  # nnx.relu and the flatten function are plain functions
        return [(_ROLES[path[-1]], p) for path, p in self._flat(layer)]

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        # The listing is nnx.state(model, nnx.Param), flattened: it is what the
        # NNX docs use to show "all parameters" and what nnx.split / nnx.grad /
        # nnx.Optimizer / checkpoints operate on, its values are the model's own
        # Param objects (flax >= 0.12), and a shared module appears once, under
        # the path of its first use. nnx.iter_graph lists the same Params under
        # the same paths but mixed with every other node and static attribute,
        # so it is a graph walk, not a parameter listing.
        return [(_path_name(path), p) for path, p in self._flat(model)]

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        # nnx.to_pure_dict(nnx.state(model, nnx.Param)): the plain nested dict
        # of arrays flax documents for checkpoints, flattened with the same names.
        out: list[tuple[str, np.ndarray]] = []

        def walk(d: Any, prefix: tuple[Any, ...]) -> None:
            for k, v in d.items():
                if isinstance(v, dict):
                    walk(v, prefix + (k,))
                else:
                    out.append((_path_name(prefix + (k,)), np.array(v)))

        walk(_fw().nnx.to_pure_dict(self._param_state(model)), ())
        return out

    def lookup(self, model: Model, name: str) -> Param:
        # The state is indexed by its path: nnx.state(model, nnx.Param)['layers'][0]['kernel'].
        node = self._param_state(model)
        for key in _name_path(name):
            node = node[key]
        return node

    def read(self, param: Param) -> np.ndarray:
        return np.array(param[...])  # a copy, native (in, out) layout

    def dtype(self, param: Param) -> str:
        return str(param[...].dtype)

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        return tuple(int(d) for d in param[...].shape)

    def grad(self, param: Param) -> np.ndarray | None:
        # No gradient slot on an nnx.Param: the gradient is what the last
        # backward (nnx.grad) through a model holding it returned for this Param
        # object, unless a zero_grad through such a model emptied it since.
        entry = self._slots.get(id(param))
        return entry[1].copy() if entry is not None and entry[0] is param else None

    def write(self, param: Param, value: np.ndarray) -> None:
        # param[...] = v: Variable.__setitem__ -> set_value(v, index=...), which
        # stores a same-shape, same-dtype jax array as the new value of the
        # same Param object (a value of another shape would be broadcast by
        # .at[...].set, so the shape is checked here). The value is copied
        # first: on the CPU jnp.asarray adopts a suitably aligned numpy buffer
        # without copying (jax-ml/jax#4486), and set_value keeps a full-size
        # jax array as it is, so the parameter would otherwise change when
        # the caller later changes its array.
        jnp = _fw().jnp
        dtype = np.dtype(param[...].dtype)
        value = np.array(value, dtype=dtype, copy=True)
        want = tuple(param[...].shape)
        if tuple(value.shape) != want:
            raise ValueError(f"write of shape {value.shape} into a parameter of shape {want}")
        param[...] = jnp.asarray(value)

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        # jax arrays are immutable; the documented update is value.at[index].set(v).
        # In flax 0.12 `param[index] = v` is exactly that (Variable.__setitem__ ->
        # set_value(v, index=index) -> self.raw_value = raw_value.at[index].set(v)),
        # stored back into the same Param object; `param.value = ...` is deprecated.
        # Copied first, as in write: an index of `...` keeps the array as it is.
        dtype = np.dtype(param[...].dtype)
        param[index] = _fw().jnp.asarray(np.array(value, dtype=dtype, copy=True))

    # -- initialisation ----------------------------------------------------------
    # A jax initialiser, ``(key, shape, dtype) -> array`` (jax.nn.initializers).
    def init_normal(self, mean: float, std: float) -> Any:
        fw = _fw()
        normal = fw.jax.nn.initializers.normal(stddev=std)
        if mean == 0.0:
            return normal
        # jax.nn.initializers.normal has no mean argument; a shifted normal
        # is a custom initialiser built on it.
        return lambda key, shape, dtype: normal(key, shape, dtype) + fw.jnp.asarray(mean, dtype)

    def init_zeros(self) -> Any:
        return _fw().jax.nn.initializers.zeros

    def init_constant(self, value: float) -> Any:
        return _fw().jax.nn.initializers.constant(value)

    def init_uniform(self, low: float, high: float) -> Any:
        # jax.nn.initializers.uniform(scale) is U[0, scale); U(low, high) is a custom initialiser.
        jax = _fw().jax
        return lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, low, high)

    def init_xavier_uniform(self) -> Any:
        return _fw().jax.nn.initializers.glorot_uniform()  # = xavier_uniform

    def init_xavier_normal(self) -> Any:
        # = xavier_normal (variance_scaling(1, fan_avg, truncated_normal))
        return _fw().jax.nn.initializers.glorot_normal()

    def init_mixture(self) -> Any:
        fw = _fw()

        def mixture(key: Any, shape: Any, dtype: Any = fw.jnp.float32) -> Any:
            # The chapter's my_init as a jax initialiser: U(-10, 10), then
            # every entry with |w| < 5 set to 0.
            w = fw.jax.random.uniform(key, shape, dtype, -10.0, 10.0)
            return w * (fw.jnp.abs(w) >= 5)

        return mixture

    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        # `force` is Gluon's force_reinit; NNX has no initialise step (the
        # constructor initialises), and assigning a value always overwrites.
        del force
        nnx = _fw().nnx
        if not isinstance(block, nnx.Module):
            return  # nnx.relu / the flatten function: no parameters to initialise
        inits = {"weight": None if weight is None else self.native_initializer(weight),
                 "bias": None if bias is None else self.native_initializer(bias)}
        rngs = self._stream()
        layers = _layers()
        dense = (nnx.Linear, layers.UserLinear, layers.TransposedLinear)
        # nnx.iter_graph visits every node once ("Repeated nodes are visited only
        # once"), so a shared nnx.Linear is initialised once; the block itself too.
        # A parameter two distinct layers hold is reached from both: it is
        # initialised once as well.
        done: set[int] = set()
        for _, node in nnx.iter_graph(block):
            if not isinstance(node, dense):
                continue
            for role, p in self.layer_params(node):
                fn = inits[role]
                if fn is not None and id(p) not in done:
                    done.add(id(p))
                    value = p[...]
                    p[...] = fn(rngs.params(), value.shape, value.dtype)

    # -- computing -----------------------------------------------------------------
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        jnp = _fw().jnp
        return np.array(model(jnp.asarray(np.asarray(x, dtype=np.float32))))

    def zero_grad(self, model: Model) -> None:
        # Nothing to zero in NNX; forget the gradients kept for this model and
        # empty the slot of every Param it holds (also where another model holds it).
        self._grads.pop(id(model), None)
        for _, p in self._flat(model):
            self._slots.pop(id(p), None)

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        fw = _fw()
        jnp, nnx = fw.jnp, fw.nnx
        xs = jnp.asarray(np.asarray(x, dtype=np.float32))
        us = jnp.asarray(np.asarray(upstream, dtype=np.float32))
        # nnx.grad differentiates with respect to the model's nnx.Param state,
        # where a shared layer's Params appear once: their gradient is the
        # total derivative, the sum over the uses.
        grads = nnx.grad(lambda m: jnp.sum(m(xs) * us))(model)
        flat_grads = dict(nnx.to_flat_state(grads))
        for path, p in self._flat(model):
            self._slots.pop(id(p), None)
            self._slots[id(p)] = (p, np.array(flat_grads[path][...]))
        while len(self._slots) > _GRAD_SLOTS:
            self._slots.popitem(last=False)
        self._grads.pop(id(model), None)
        self._grads[id(model)] = (model, grads)
        while len(self._grads) > _GRAD_MODELS:
            self._grads.popitem(last=False)

    def sgd_step(self, model: Model, lr: float) -> None:
        fw = _fw()
        entry = self._grads.get(id(model))
        if entry is None or entry[0] is not model:
            raise RuntimeError(
                "sgd_step before backward: NNX gradients come from nnx.grad, none kept for this model"
            )
        # The step uses what each Param's slot holds now: the gradient nnx.grad
        # gave it, or zeros where a zero_grad through another model holding the
        # same Param emptied the slot since (as torch's step skips a None .grad).
        nnx, jnp = fw.nnx, fw.jnp
        grads = entry[1]
        params = dict(self._flat(model))
        leaves = []
        for path, leaf in nnx.to_flat_state(grads):
            slot = self._slots.get(id(params[path]))
            if slot is not None and slot[0] is params[path]:
                value = slot[1]
            else:
                value = np.zeros(np.shape(leaf[...]), np.float32)
            leaves.append((path, leaf.replace(jnp.asarray(np.array(value)))))
        # flax >= 0.11: Optimizer(model, tx, wrt=...) and update(model, grads);
        # it updates the model's Params in place (same objects), each once.
        optimizer = nnx.Optimizer(model, fw.optax.sgd(lr), wrt=nnx.Param)
        optimizer.update(model, nnx.from_flat_state(leaves))

    # -- serialisation -----------------------------------------------------------------
    def save_weights(self, model: Model, path: FsPath) -> None:
        # The flax checkpointing guide: `_, state = nnx.split(model)` saved with
        # orbax's StandardCheckpointer, and, for restoring into a different
        # structure, `nnx.to_pure_dict(state)` saved the same way. Both are
        # written (path/state, path/pure_dict), one per restore recipe.
        nnx, ocp = _fw().nnx, _ocp()
        path = FsPath(path).absolute()
        path.mkdir(parents=True, exist_ok=True)
        _, state = nnx.split(model)
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(path / "state", state)
            ckptr.save(path / "pure_dict", nnx.to_pure_dict(state))
            ckptr.wait_until_finished()

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        # Every mode is a recipe of the flax checkpointing guide:
        # "merge": checkpointer.restore(path, abstract_state), then
        #   nnx.merge(graphdef, state): a new model;
        # "update": the same restore, then nnx.update(model, state): the given
        #   model, updated in place;
        # "pure-dict" ("Restore when checkpoint structures differ"): the
        #   nnx.to_pure_dict checkpoint, nnx.replace_by_pure_dict, then nnx.merge.
        nnx, ocp = _fw().nnx, _ocp()
        path = FsPath(path).absolute()
        # The guide's target is nnx.split(nnx.eval_shape(lambda: Model(...)));
        # the freshly built model has that structure already.
        graphdef, state = nnx.split(model)
        with ocp.StandardCheckpointer() as ckptr:
            if mode == "pure-dict":
                restored = ckptr.restore(path / "pure_dict")
                nnx.replace_by_pure_dict(state, restored)
                return nnx.merge(graphdef, state)
            abstract = _fw().jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
            restored = ckptr.restore(path / "state", abstract)
        if mode == "merge":
            return nnx.merge(graphdef, restored)
        nnx.update(model, restored)  # "update"
        return model

    # -- copies and in-memory state ------------------------------------------------------
    def copy_by(self, model: Model, op: str) -> Model:
        # Every op is documented on the graph API page
        # (https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/graph.html):
        # "clone": nnx.clone(model): "the cloned Variable wrappers are new
        #   objects but share their underlying jax.Array buffers with the
        #   original" (writes replace a Variable's array, so they stay apart:
        #   the docstring's own example);
        # "clone-shared": nnx.clone(model, variables=False): "otherwise the
        #   Variables are shared between the original and cloned node";
        # "split-merge": nnx.merge(*nnx.split(model)), merge's copy=False
        #   default: the new model holds the state's Variables, which nnx.split
        #   returns as the model's own;
        # "split-merge-copy": nnx.merge(graphdef, state, copy=True), "create new
        #   copies of the Variables in the states".
        nnx = _fw().nnx
        if op == "clone":
            return nnx.clone(model)
        if op == "clone-shared":
            return nnx.clone(model, variables=False)
        graphdef, state = nnx.split(model)
        return nnx.merge(graphdef, state, copy=op == "split-merge-copy")

    def get_state(self, model: Model) -> Any:
        # nnx.state(model): a State whose leaves are the model's own Variables
        # (flax >= 0.12; the "Flax basics" guide: "State is a Mapping from
        # strings to Variables or nested States").
        return _fw().nnx.state(model)

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        return [(_path_name(path), np.array(v[...])) for path, v in _fw().nnx.to_flat_state(state)]

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        # "update": nnx.update(model, state), "update the given graph node
        #   with a new state in-place": each Variable of the model takes the
        #   state's array (the same immutable jax.Array);
        # "merge": nnx.merge(nnx.graphdef(model), state), the checkpointing
        #   guide's restore recipe with an in-memory state: with merge's
        #   copy=False default the new model holds the state's own Variables;
        # "merge-copy": the same with copy=True: copies of them;
        # "pure-dict": the guide's "Save and restore as pure dictionaries":
        #   nnx.to_pure_dict(state), nnx.replace_by_pure_dict into the model's
        #   split state, then nnx.merge.
        nnx = _fw().nnx
        if mode == "update":
            nnx.update(model, state)
            return model
        graphdef, own = nnx.split(model)
        if mode == "merge":
            return nnx.merge(graphdef, state)
        if mode == "merge-copy":
            return nnx.merge(graphdef, state, copy=True)
        nnx.replace_by_pure_dict(own, nnx.to_pure_dict(state))  # "pure-dict"
        return nnx.merge(graphdef, own)
