"""The adapter protocol: a few primitives per framework, everything else shared.

A property test never names a framework. It talks to an :class:`Adapter`,
which turns framework-neutral requests (build this :class:`~conformance.arch.Arch`,
read this parameter, apply this initialiser to that sub-block) into the
framework's own documented idioms, and which carries the framework's
documented facts (:class:`Facts`) as data.

A new framework is one folder: a module subclassing :class:`Adapter` and,
beside it, its profile (``profile.toml``, :mod:`conformance.profile`), plus
one entry point in the ``conformance.adapters`` group. Primitives a framework cannot
express raise :class:`NotApplicable` (through :meth:`Adapter.require`) with
the reason; primitives a subclass forgot raise ``NotImplementedError``.

What every framework does alike is written here once, as template methods
over small hooks: :meth:`Adapter.build` walks the architecture (tie cache,
in-features per position, lazy shapes, node types) and calls
``make_dense`` / ``make_container`` / ``make_relu`` / ``make_flatten`` /
``finish_build``; :meth:`Adapter.native_initializer` dispatches an
:class:`Init` on its kind to ``init_normal`` ... ``init_mixture``;
:meth:`Adapter.load_weights` checks the load mode and calls ``load_in_mode``.
:func:`lazy_import` imports a framework on first use, so that listing the
adapters never imports one.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from types import SimpleNamespace
from typing import Any, ClassVar, Literal

import numpy as np

from conformance.arch import Arch, Dense, Flatten, Kind, Node, Path, ReLU, Sequential
from conformance.profile import CAPABILITIES, Facts, Profile, load_profile

Model = Any  # a framework's native model object
Block = Any  # a native container or layer inside a model
Param = Any  # a framework's native parameter object
Index = tuple[Any, ...]  # a numpy-style index: ints and slices


def _resolve(dotted: str) -> Any:
    """``a.b.c`` as ``from a.b import c`` finds it: an attribute, else a submodule
    (so aliases such as ``mxnet.nd`` and classes resolve too)."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[:i]))
    return obj


def lazy_import(dotted: str | None = None, /, **named: str) -> Callable[[], Any]:
    """A function that imports on its first call and then returns the same
    object: ``_torch = lazy_import("torch")`` makes ``_torch()`` torch; with
    keywords, a namespace of several (``lazy_import(nn="mxnet.gluon.nn",
    nd="mxnet.nd")().nn``). An adapter module imports its framework only
    through such functions, so importing the module (listing the registered
    adapters) works where the framework is not installed."""
    if (dotted is None) == (not named):
        raise TypeError("lazy_import takes one dotted name or keyword names, not both or neither")

    @functools.cache
    def load() -> Any:
        if dotted is not None:
            return _resolve(dotted)
        return SimpleNamespace(**{key: _resolve(name) for key, name in named.items()})

    return load


class NotInstalled(RuntimeError):
    """The adapter's framework cannot be imported in this environment."""


class NotApplicable(Exception):
    """The framework cannot express what a clause asks; the message says why."""


class Unbuildable(NotApplicable):
    """The framework refuses this architecture by a documented rule of its own
    (Keras: the layers of one Sequential have distinct names). The property's
    build helper discards such an example instead of making the clause not
    applicable; a clause about exactly that architecture still gets the
    not-applicable verdict with this message."""


class Uninitialized(Exception):
    """A parameter's value was read before its shape was known (deferred init)."""


@dataclass(frozen=True)
class Init:
    """A framework-neutral request for a built-in or custom initialiser.

    ``kind`` is one of ``normal`` (mean, std), ``zeros``, ``constant`` (value),
    ``uniform`` (low, high), ``xavier_uniform``, ``xavier_normal`` and
    ``mixture`` (the chapter's custom initialiser: U(5, 10) w.p. 1/4, 0 w.p.
    1/2, U(-10, -5) w.p. 1/4, written with the framework's own
    custom-initialiser mechanism).
    """

    kind: Literal["normal", "zeros", "constant", "uniform", "xavier_uniform", "xavier_normal", "mixture"]
    mean: float = 0.0
    std: float = 1.0
    value: float = 0.0
    low: float = 0.0
    high: float = 1.0


#: every ``Init.kind``, in the order the docstring lists them
INIT_KINDS: tuple[str, ...] = (
    "normal", "zeros", "constant", "uniform", "xavier_uniform", "xavier_normal", "mixture",
)


class Adapter:
    """Base of every adapter. Subclasses override the primitives; the helpers
    below them are written once, here. A subclass's identity and documented
    facts come from its profile, ``profile.toml`` beside the module that
    defines it (or the file ``profile_file`` names), loaded when the class is
    created; a subclass without a profile of its own inherits its base's."""

    #: the profile's file name, looked up beside the module defining the class
    profile_file: ClassVar[str] = "profile.toml"
    _profile: ClassVar[Profile | None] = None
    name: ClassVar[str]
    #: distribution whose version is reported (``importlib.metadata`` name)
    distribution: ClassVar[str]
    #: the module whose import proves the framework is installed
    module: ClassVar[str]
    #: the version-independent facts; an instance has those of the installed version
    facts: Facts
    #: why the framework cannot build layers of unknown input dimensions, for
    #: :meth:`build` to say when asked for ``arch.lazy`` without ``deferred_init``
    no_lazy_reason: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        path = FsPath(inspect.getfile(cls)).with_name(cls.profile_file)
        if path.is_file():
            profile = load_profile(path)
            cls._profile = profile
            cls.name, cls.distribution, cls.module = profile.name, profile.distribution, profile.module
            cls.facts = profile.facts

    def __init__(self, profile: Profile | None = None) -> None:
        """``profile`` replaces the class's own (``--profile FILE``); its facts
        are resolved for the installed version and backend."""
        self.profile = profile if profile is not None else self.default_profile()
        facts = self.profile.facts_for(self.version(), self.backend())
        observed = self.observed_capabilities() - facts.capabilities
        if observed:
            facts = dataclasses.replace(facts, capabilities=facts.capabilities | observed)
        self.facts = facts

    @classmethod
    def default_profile(cls) -> Profile:
        if cls._profile is None:
            raise TypeError(f"{cls.__qualname__} has no profile: put {cls.profile_file} beside its module")
        return cls._profile

    # -- identity ------------------------------------------------------------
    @classmethod
    def installed(cls) -> bool:
        try:
            importlib.import_module(cls.module)
        except ImportError:
            return False
        return True

    @classmethod
    def version(cls) -> str:
        try:
            return importlib.metadata.version(cls.distribution)
        except importlib.metadata.PackageNotFoundError as exc:
            raise NotInstalled(f"{cls.distribution} is not installed") from exc

    def observed_capabilities(self) -> frozenset[str]:
        """Capabilities observed on the installed framework, added to the
        profile's (Keras: whether a Sequential keeps a layer added twice)."""
        return frozenset()

    def backend(self) -> str | None:
        """The compute backend, for frameworks that have several."""
        return None

    def block_name_ok(self, name: str, *, in_custom_block: bool = False) -> bool:
        """Whether the framework documents ``name`` as acceptable for a child
        block: by default, no forbidden character. Adapters add the names their
        framework reserves (PyTorch: the container's own attribute names).
        ``in_custom_block``: the child is set as an attribute of a user-defined
        block (:meth:`make_custom_block`), where a name that is already an
        attribute of every block cannot be a child's."""
        return not (set(name) & set(self.facts.forbidden_name_chars))

    def require(self, capability: str) -> None:
        """Raise :class:`NotApplicable` unless the framework has ``capability``."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        if capability not in self.facts.capabilities:
            raise NotApplicable(f"{self.name} has no {capability.replace('_', ' ')}")

    # -- primitives: building ------------------------------------------------
    def seed(self, seed: int) -> None:
        """Seed the framework's global random state, with its documented call."""
        raise NotImplementedError

    def build(self, arch: Arch) -> Model:
        """A native model computing ``arch``; tied nodes are one layer object.
        With ``arch.lazy`` the input dimensions are left for the first forward.

        The template: the walk is written here once, in forward order (so the
        default initialisers draw in that order), and the framework supplies
        the hooks ``make_dense``, ``make_container``, ``make_relu``,
        ``make_flatten`` and ``finish_build``. Every :class:`Dense` carrying
        one tie key is made once, at its first position, and the same object
        is reused at every later one."""
        if arch.lazy and "deferred_init" not in self.facts.capabilities:
            raise NotApplicable(self.no_lazy_reason or f"{self.name} has no deferred init")
        for needed, cap in ((arch.shares_params(), "param_sharing"),
                            (arch.shares_transposed(), "transposed_sharing"),
                            (arch.has_custom(), "custom_layers")):
            if needed:
                self.require(cap)
        in_features = {u.path: u.in_features for u in arch.dense_uses()}
        tied: dict[str, Block] = {}  # tie key -> the one layer object used at every position

        def children(node: Sequential, path: Path) -> Iterator[tuple[str | None, Block]]:
            for i, child in enumerate(node.children):
                yield child.name, make(child, path + (i,))

        def make(node: Node, path: Path) -> Block:
            if isinstance(node, Sequential):
                if node.custom:
                    return self.make_custom_block(node, children(node, path))
                return self.make_container(node, children(node, path))
            if isinstance(node, Dense):
                if node.tie is not None and node.tie in tied:
                    return tied[node.tie]
                n_in = None if arch.lazy else in_features[path]
                if node.shares:
                    pairs: tuple[tuple[Kind, str | None], ...] = (
                        ("weight", node.weight_of), ("bias", node.bias_of))
                    sources = {k: tied[src] for k, src in pairs if src is not None}
                    layer = self.make_sharing_dense(node.units, n_in, node, sources)
                elif node.custom:
                    layer = self.make_custom_dense(node.units, n_in, node)
                else:
                    layer = self.make_dense(node.units, n_in, node)
                if node.tie is not None:
                    tied[node.tie] = layer
                return layer
            if isinstance(node, ReLU):
                return self.make_relu(node)
            if isinstance(node, Flatten):
                return self.make_flatten(node)
            raise TypeError(f"unknown node type {type(node).__name__} at {path}")

        return self.finish_build(make(arch.root, ()), arch)

    # -- hooks of build ------------------------------------------------------
    def make_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        """A new dense layer with ``units`` outputs; ``in_features`` is ``None``
        for a lazy build (shape left to the first forward). ``node`` carries
        the optional ``name``."""
        raise NotImplementedError

    def make_custom_dense(self, units: int, in_features: int | None, node: Dense) -> Block:
        """A user-defined dense layer (capability ``custom_layers``), written as
        the framework documents custom layers: its bias created at
        construction, its weight once the input shape is known (at
        construction when ``in_features`` is given and the framework has no
        separate build step). It computes ``x W^T + b`` like the built-in one."""
        self.require("custom_layers")
        raise NotImplementedError

    def make_custom_block(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        """A user-defined block (capability ``custom_layers``) holding the
        children as attributes (a named child under its name, an unnamed one
        as ``layer<i>``) and applying them in order in its forward method."""
        self.require("custom_layers")
        raise NotImplementedError

    def make_sharing_dense(self, units: int, in_features: int | None, node: Dense,
                           sources: dict[Kind, Block]) -> Block:
        """A new dense layer (built-in, or user-defined for ``node.custom``)
        whose parameters of the kinds in ``sources`` are those of the given
        earlier layers (capability ``param_sharing``), made with the
        framework's documented idiom; ``node.transposed``: it applies the
        source's weight transposed (capability ``transposed_sharing``).

        The default builds the layer, then hands each shared parameter to
        :meth:`share_param`; a framework that shares at construction (Gluon's
        ``params=``) overrides this instead."""
        self.require("param_sharing")
        if node.transposed:
            self.require("transposed_sharing")
            return self.make_transposed_dense(units, in_features, node, sources)
        layer = (self.make_custom_dense if node.custom else self.make_dense)(units, in_features, node)
        for kind, source in sources.items():
            self.share_param(layer, kind, dict(self.layer_params(source))[kind])
        return layer

    def share_param(self, layer: Block, kind: Kind, param: Param) -> None:
        """Make ``param`` (another layer's) the ``kind`` parameter of ``layer``,
        with the framework's idiom (torch: ``layer.weight = param``)."""
        raise NotImplementedError

    def make_transposed_dense(self, units: int, in_features: int | None, node: Dense,
                              sources: dict[Kind, Block]) -> Block:
        """A user-defined layer applying ``sources['weight']``'s weight
        transposed, ``y = x W_src + b``, with a bias of its own unless
        ``sources`` has one (capability ``transposed_sharing``)."""
        self.require("transposed_sharing")
        raise NotImplementedError

    def make_container(self, node: Sequential, children: Iterator[tuple[str | None, Block]]) -> Block:
        """A container holding ``children``, each with its optional name, in
        order. The children are built as the iterator is consumed, so a
        framework that builds children inside a scope of the container (Gluon's
        ``name_scope``) consumes it there. ``node`` carries the container's own
        optional ``name``."""
        raise NotImplementedError

    def make_relu(self, node: ReLU) -> Block:
        raise NotImplementedError

    def make_flatten(self, node: Flatten) -> Block:
        raise NotImplementedError

    def finish_build(self, model: Model, arch: Arch) -> Model:
        """The built root, after the walk: a framework's build or initialise
        step (Keras ``build(input_shape)``, Gluon ``initialize()``)."""
        return model

    def child(self, block: Block, index: int) -> Block:
        """The ``index``-th child, through the framework's indexing idiom."""
        raise NotImplementedError

    def num_children(self, block: Block) -> int:
        raise NotImplementedError

    # -- primitives: parameters ------------------------------------------------
    def layer_params(self, layer: Block) -> list[tuple[str, Param]]:
        """The layer's own parameters as the framework lists them, each with its
        role (``weight`` or ``bias``); empty for parameter-free layers."""
        raise NotImplementedError

    def all_params(self, model: Model) -> list[tuple[str, Param]]:
        """The framework's listing of every parameter, with the framework's names."""
        raise NotImplementedError

    def state_dict(self, model: Model) -> list[tuple[str, np.ndarray]]:
        """The framework's state-dict view: keys and (native layout) values."""
        raise NotImplementedError

    def lookup(self, model: Model, name: str) -> Param:
        """The parameter called ``name``, found by the framework's lookup idiom."""
        raise NotImplementedError

    def select(self, model: Model, pattern: str) -> list[tuple[str, Param]]:
        """Parameters whose names match ``pattern`` (capability ``pattern_selection``)."""
        self.require("pattern_selection")
        raise NotImplementedError

    def read(self, param: Param) -> np.ndarray:
        """A copy of the value, native layout; :class:`Uninitialized` if unknown yet."""
        raise NotImplementedError

    def dtype(self, param: Param) -> str:
        raise NotImplementedError

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        """The shape, with ``None`` for a dimension not known yet; ``None`` when
        nothing is known about the shape (deferred initialisation)."""
        raise NotImplementedError

    def grad(self, param: Param) -> np.ndarray | None:
        """The gradient slot: ``None`` when empty, else a copy (native layout)."""
        raise NotImplementedError

    def write(self, param: Param, value: np.ndarray) -> None:
        """Replace the whole value (native layout) with the framework's idiom."""
        raise NotImplementedError

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        """Slice or element assignment, ``data[index] = value``, through the
        documented idiom (``.data[...]``, ``[...].assign``, ``data()[...]``)."""
        raise NotImplementedError

    def same(self, p: Param, q: Param) -> bool:
        """Whether two handles are one parameter object."""
        return p is q

    # -- primitives: initialisation ------------------------------------------
    def initialize(
        self, block: Block, *, weight: Init | None = None, bias: Init | None = None, force: bool = True
    ) -> None:
        """Apply initialisers to every dense layer in ``block`` (a model or a
        sub-block) with the framework's mechanism; ``None`` leaves that role
        alone. ``force`` is Gluon's ``force_reinit`` where the framework has an
        explicit initialise step."""
        raise NotImplementedError

    def native_initializer(self, spec: Init) -> Any:
        """The framework's own initialiser for ``spec``: the one dispatch over
        :attr:`Init.kind` (an unknown kind is a ``ValueError``), to the hooks
        ``init_<kind>``. What it returns (an initialiser object, a function) is
        the framework's; :meth:`initialize` applies it with its mechanism."""
        if spec.kind == "normal":
            return self.init_normal(spec.mean, spec.std)
        if spec.kind == "zeros":
            return self.init_zeros()
        if spec.kind == "constant":
            return self.init_constant(spec.value)
        if spec.kind == "uniform":
            return self.init_uniform(spec.low, spec.high)
        if spec.kind == "xavier_uniform":
            return self.init_xavier_uniform()
        if spec.kind == "xavier_normal":
            return self.init_xavier_normal()
        if spec.kind == "mixture":
            return self.init_mixture()
        raise ValueError(f"unknown initialiser kind {spec.kind!r}; known kinds: {', '.join(INIT_KINDS)}")

    # -- hooks of native_initializer -------------------------------------------
    def init_normal(self, mean: float, std: float) -> Any:
        raise NotImplementedError

    def init_zeros(self) -> Any:
        raise NotImplementedError

    def init_constant(self, value: float) -> Any:
        raise NotImplementedError

    def init_uniform(self, low: float, high: float) -> Any:
        raise NotImplementedError

    def init_xavier_uniform(self) -> Any:
        raise NotImplementedError

    def init_xavier_normal(self) -> Any:
        raise NotImplementedError

    def init_mixture(self) -> Any:
        """The chapter's custom initialiser (see :class:`Init`), written with
        the framework's own custom-initialiser mechanism."""
        raise NotImplementedError

    def initialize_all(self, model: Model, init: Init, *, force: bool) -> None:
        """The model-wide initialise step of frameworks that have one (Gluon's
        ``net.initialize(init, force_reinit=force)``): ``init`` is the global
        initialiser, each parameter's own initialiser (a Dense bias's 'zeros')
        taking precedence as the framework documents. Capability
        ``explicit_initialize``."""
        self.require("explicit_initialize")
        raise NotImplementedError

    # -- primitives: computing -------------------------------------------------
    def forward(self, model: Model, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def zero_grad(self, model: Model) -> None:
        raise NotImplementedError

    def backward(self, model: Model, x: np.ndarray, upstream: np.ndarray) -> None:
        """Run one backward pass of ``sum(forward(x) * upstream)``, leaving the
        gradients in the parameters' gradient slots as the framework does."""
        raise NotImplementedError

    def sgd_step(self, model: Model, lr: float) -> None:
        """One step of the framework's own plain SGD optimiser over the model's
        parameters, using the gradients currently in the slots."""
        raise NotImplementedError

    # -- primitives: serialisation -----------------------------------------------
    def save_weights(self, model: Model, path: FsPath) -> None:
        raise NotImplementedError

    def load_weights(self, model: Model, path: FsPath, mode: str) -> Model:
        """Load weights saved by :meth:`save_weights` into ``model`` using one of
        ``facts.load_modes``; returns the model to use afterwards. A mode the
        profile does not list is a ``ValueError``; a listed one goes to
        :meth:`load_in_mode`."""
        if mode not in self.facts.load_modes:
            raise ValueError(
                f"unknown load mode {mode!r} for {self.name}; known modes: {', '.join(self.facts.load_modes)}"
            )
        return self.load_in_mode(model, path, mode)

    def load_in_mode(self, model: Model, path: FsPath, mode: str) -> Model:
        """:meth:`load_weights` for a ``mode`` already checked against ``facts.load_modes``."""
        raise NotImplementedError

    def save_model(self, model: Model, path: FsPath) -> None:
        self.require("whole_model_save")
        raise NotImplementedError

    def load_model(self, path: FsPath) -> Model:
        self.require("whole_model_save")
        raise NotImplementedError

    # -- primitives: copying and in-memory state ----------------------------------
    def copy_model(self, model: Model, op: str) -> Model:
        """A model made from ``model`` by the documented operation ``op``, one
        of ``facts.copy_ops`` (``deepcopy``: ``copy.deepcopy(model)``;
        ``clone_model``; ``split_merge``). An unknown ``op`` is a ``ValueError``."""
        if op not in self.facts.copy_ops:
            known = list(self.facts.copy_ops)
            raise ValueError(f"unknown copy operation {op!r} for {self.name}; known: {known}")
        return self.copy_by(model, op)

    def copy_by(self, model: Model, op: str) -> Model:
        """:meth:`copy_model` for an ``op`` already checked against ``facts.copy_ops``."""
        raise NotImplementedError

    def get_state(self, model: Model) -> Any:
        """The model's parameters as the framework's in-memory state object
        (``state_dict()``, ``get_weights()``, ``nnx.state(model)``), exactly
        as the framework returns it (capability ``in_memory_state``)."""
        self.require("in_memory_state")
        raise NotImplementedError

    def state_arrays(self, state: Any) -> list[tuple[str, np.ndarray]]:
        """Copies of every array in a state object from :meth:`get_state`, with
        a key each, in the state's order: what tells whether it changed."""
        self.require("in_memory_state")
        raise NotImplementedError

    def load_state(self, model: Model, state: Any, mode: str) -> Model:
        """Load a state object from :meth:`get_state` into ``model`` in one of
        ``facts.state_load_modes``; returns the model to use afterwards."""
        self.require("in_memory_state")
        if mode not in self.facts.state_load_modes:
            raise ValueError(
                f"unknown state load mode {mode!r} for {self.name}; "
                f"known: {list(self.facts.state_load_modes)}"
            )
        return self.load_state_in_mode(model, state, mode)

    def load_state_in_mode(self, model: Model, state: Any, mode: str) -> Model:
        """:meth:`load_state` for a ``mode`` already checked against ``facts.state_load_modes``."""
        raise NotImplementedError

    # -- built once on the primitives -------------------------------------------
    def block_at(self, model: Model, path: Path) -> Block:
        """Structural indexing: ``block_at(net, (0, 1, 0))`` is ``net[0][1][0]``."""
        block = model
        for i in path:
            block = self.child(block, i)
        return block

    def param_at(self, model: Model, path: Path, kind: Kind) -> Param:
        """The ``kind`` parameter of the dense layer at ``path``."""
        params = dict(self.layer_params(self.block_at(model, path)))
        if kind not in params:
            raise KeyError(f"layer at {path} has no {kind}; it has {sorted(params)}")
        return params[kind]

    def to_canonical(self, kind: Kind, value: np.ndarray) -> np.ndarray:
        """Native layout -> the reference's (out, in) layout."""
        if kind == "weight" and self.facts.weight_layout == "in_out":
            return np.ascontiguousarray(value.T)
        return value

    def to_native(self, kind: Kind, value: np.ndarray) -> np.ndarray:
        """The reference's (out, in) layout -> native layout."""
        return self.to_canonical(kind, value)  # a transpose is its own inverse

    def native_shape(self, kind: Kind, fan_in: int, fan_out: int) -> tuple[int, ...]:
        if kind == "bias":
            return (fan_out,)
        return (fan_out, fan_in) if self.facts.weight_layout == "out_in" else (fan_in, fan_out)

    def read_params(self, model: Model, arch: Arch) -> dict[tuple[Path, Kind], np.ndarray]:
        """Every parameter of ``model`` in canonical layout, keyed by (path, kind)."""
        return {
            (p, k): self.to_canonical(k, self.read(self.param_at(model, p, k))) for p, k in arch.param_refs()
        }

    def write_params(self, model: Model, values: dict[tuple[Path, Kind], np.ndarray]) -> None:
        """Write canonical-layout values into ``model`` with :meth:`write`."""
        for (p, k), v in values.items():
            self.write(self.param_at(model, p, k), self.to_native(k, np.asarray(v, dtype=np.float32)))

    def read_grads(self, model: Model, arch: Arch) -> dict[tuple[Path, Kind], np.ndarray | None]:
        out: dict[tuple[Path, Kind], np.ndarray | None] = {}
        for p, k in arch.param_refs():
            g = self.grad(self.param_at(model, p, k))
            out[(p, k)] = None if g is None else self.to_canonical(k, g)
        return out

    def describe(self) -> dict[str, Any]:
        """Framework identity for the report header."""
        return {"name": self.name, "version": self.version(), "backend": self.backend()}

