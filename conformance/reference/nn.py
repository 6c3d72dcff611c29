"""A small numpy deep-learning "framework": the reference every adapter's
behaviour can be read against.

It keeps to what the chapter uses: ``Dense``, ``ReLU``, ``Flatten`` and
``Sequential``; parameters with a gradient slot; torch-style names and state
dicts; Gluon-style ``initialize``/``collect_params``; deferred shapes; a tiny
reverse mode; plain SGD; weight and whole-model files. Everything is float32.

Tying is by object identity, as in torch and Gluon: adding the same
``Dense`` twice makes one layer used at two positions. Listings that name
*parameters* (``named_parameters``, ``collect_params``, ``parameters``) show a
tied parameter once, at its first use; the *state dict* keeps every position
(torch's behaviour), and loading writes every position into the one object.
"""

from __future__ import annotations

import json
import operator
import pickle
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from conformance.adapters.base import Uninitialized
from conformance.reference.init import DEFAULT_BIAS_INIT, DEFAULT_WEIGHT_INIT, Initializer

DTYPE = np.dtype(np.float32)
Shape = tuple[int | None, ...]  # None marks a dimension not known yet


def _fits(known: Shape, actual: tuple[int, ...]) -> bool:
    """Whether a concrete shape agrees with a possibly partial one."""
    return len(known) == len(actual) and all(k is None or k == a for k, a in zip(known, actual))


# -- parameters ---------------------------------------------------------------------


class Parameter:
    """A float32 array (``data``) and its gradient slot (``grad``).

    ``data`` is None until the parameter is initialised; while the shape has
    unknown (None) dimensions that lasts until the layer's first forward pass.
    ``grad`` is None until the first backward pass, then *accumulates* until
    :meth:`zero_grad` empties it again (torch's convention).

    ``init`` is the parameter's own initialiser (a bias's ``Zeros``); None
    means "whatever initialiser the block is initialised with" (Gluon's rule).
    """

    dtype = DTYPE

    def __init__(self, name: str, shape: Shape, init: Initializer | None = None) -> None:
        self.name = name
        self.init = init
        self.data: np.ndarray | None = None
        self.grad: np.ndarray | None = None
        self._shape: Shape = tuple(shape)
        # An initialiser requested before the shape was known, used once it is.
        self._pending: Initializer | None = None

    @property
    def shape(self) -> Shape:
        return self._shape if self.data is None else self.data.shape

    @property
    def initialized(self) -> bool:
        return self.data is not None

    def full_shape(self) -> tuple[int, ...]:
        """The shape, or :class:`Uninitialized` while part of it is unknown."""
        if any(d is None for d in self._shape):
            raise Uninitialized(
                f"parameter {self.name!r} has shape {self._shape} with unknown dimensions: "
                "run a forward pass first (deferred initialisation)"
            )
        return self._shape  # type: ignore[return-value]

    def value(self) -> np.ndarray:
        """The array itself (not a copy); :class:`Uninitialized` if there is none yet."""
        if self.data is None:
            raise Uninitialized(
                f"parameter {self.name!r} of shape {self._shape} is not initialised yet: "
                "run a forward pass first (deferred initialisation)"
            )
        return self.data

    def set_value(self, value: np.ndarray | float) -> None:
        """Copy ``value`` in (in place once there is an array, so every holder
        of this parameter sees it); fixes a deferred shape if it fits."""
        value = np.asarray(value, dtype=DTYPE)
        if self.data is None:
            if not _fits(self._shape, value.shape):
                raise ValueError(
                    f"value of shape {value.shape} does not fit {self.name!r} of shape {self._shape}"
                )
            self.data = value.copy()
            self._shape = self.data.shape
            self._pending = None
        else:
            if value.shape != self.data.shape:
                raise ValueError(
                    f"value of shape {value.shape} does not fit {self.name!r} of shape {self.data.shape}"
                )
            self.data[...] = value

    def initialize(
        self,
        init: Initializer | None = None,
        default_init: Initializer | None = None,
        force_reinit: bool = False,
    ) -> None:
        """Gluon's ``Parameter.initialize``; see :func:`initialize_parameters`."""
        initialize_parameters([(self.name, self, init)], default_init=default_init, force_reinit=force_reinit)

    def infer_shape(self, shape: tuple[int, ...]) -> None:
        """Called by the owning layer once the shape is known: fix it and, if
        the parameter has no value yet, initialise it with what was asked for
        (else its own initialiser, else the reference default)."""
        if not _fits(self.shape, shape):
            raise ValueError(f"{self.name!r} has shape {self.shape}; cannot use it with shape {shape}")
        self._shape = shape
        if self.data is None:
            self.data = (self._pending or self.init or DEFAULT_WEIGHT_INIT).sample(shape)
            self._pending = None

    def accumulate_grad(self, g: np.ndarray) -> None:
        g = np.asarray(g, dtype=DTYPE)
        self.grad = g.copy() if self.grad is None else self.grad + g

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape}, initialized={self.initialized})"


def initialize_parameters(
    items: Iterable[tuple[str, Parameter, Initializer | None]],
    *,
    default_init: Initializer | None = None,
    force_reinit: bool = False,
) -> None:
    """Gluon's initialisation rule over ``(name, parameter, initialiser)`` items.

    The initialiser used is the item's own if given, else the parameter's own
    ``init`` (so a bias keeps its zeros under a global initialiser), else
    ``default_init``, else the reference default. A parameter that already
    has a value is left untouched unless ``force_reinit``; one ``UserWarning``
    names all of those, after all the work is done (so that warnings turned
    into errors still leave every other parameter initialised). A parameter
    whose shape is still unknown keeps the initialiser for its first forward.
    A parameter listed twice (tied) is initialised once.
    """
    skipped: list[str] = []
    seen: set[int] = set()
    for name, p, init in items:
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p.data is not None and not force_reinit:
            skipped.append(name)
            continue
        chosen = init or p.init or default_init or DEFAULT_WEIGHT_INIT
        if any(d is None for d in p.shape):
            p._pending = chosen
        else:
            p.set_value(chosen.sample(p.full_shape()))
    if skipped:
        warnings.warn(
            f"parameters {', '.join(map(repr, skipped))} are already initialized, ignoring. "
            "Set force_reinit=True to re-initialize.",
            UserWarning,
            stacklevel=3,
        )


# -- blocks ---------------------------------------------------------------------------


class Block:
    """Base of every layer and container.

    A forward pass returns the output and a *tape*: what the backward pass
    needs, nested like the blocks. The tape is kept per call, not per layer,
    because a tied layer sees two different inputs in one forward pass.
    """

    _params: dict[str, Parameter]
    _blocks: dict[str, Block]

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_blocks", {})
        self._tape: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        """A :class:`Parameter` or :class:`Block` set as an attribute is
        registered under the attribute's name, in the order first set (torch's
        rule): this is how a user-defined block declares its parameters and
        children. Setting another layer's parameter shares it (``b.weight =
        a.weight``); the name keeps its place."""
        if "_params" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if isinstance(value, Parameter):
            self._blocks.pop(name, None)
            self._params[name] = value  # an existing name keeps its place
        elif isinstance(value, Block):
            self._params.pop(name, None)
            self._blocks[name] = value
        else:
            self._params.pop(name, None)
            self._blocks.pop(name, None)
        object.__setattr__(self, name, value)

    # -- structure (what a subclass registers; Sequential overrides) --
    def named_children(self) -> list[tuple[str, Block]]:
        return list(self._blocks.items())

    def own_parameters(self) -> list[tuple[str, Parameter]]:
        return list(self._params.items())

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def _back(self, g: np.ndarray, tape: Any) -> np.ndarray:
        raise NotImplementedError

    # -- naming --
    def _every_use(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) at every position, a tied parameter at each of its uses."""
        for n, p in self.own_parameters():
            yield prefix + n, p
        for n, c in self.named_children():
            yield from c._every_use(prefix + n + ".")

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """Every parameter once, at its first use: layer order, weight before bias."""
        seen: set[int] = set()
        out = []
        for n, p in self._every_use():
            if id(p) not in seen:
                seen.add(id(p))
                out.append((n, p))
        return out

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def get_parameter(self, name: str) -> Parameter:
        """Resolve a dotted name by walking the children (torch's ``get_parameter``)."""
        *path, leaf = name.split(".")
        block: Block = self
        for part in path:
            children = dict(block.named_children())
            if part not in children:
                raise KeyError(f"{name!r}: {type(block).__name__} has no child {part!r}")
            block = children[part]
        own = dict(block.own_parameters())
        if leaf not in own:
            raise KeyError(f"{name!r}: {type(block).__name__} has no parameter {leaf!r}")
        return own[leaf]

    def collect_params(self, pattern: str | None = None) -> list[tuple[str, Parameter]]:
        """Parameters (once each) whose name matches ``pattern``.

        Matching is ``re.compile(pattern).match``, as in MXNet's
        ``collect_params``: anchored at the start but *not* at the end, so
        ``"0"`` selects ``"0.weight"`` and ``".*weight"`` selects every weight.
        """
        params = self.named_parameters()
        if pattern is None:
            return params
        rx = re.compile(pattern)
        return [(n, p) for n, p in params if rx.match(n)]

    # -- state dict --
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Name -> copy of the value, with a key for every position (ties repeat)."""
        return OrderedDict((n, p.value().copy()) for n, p in self._every_use())

    def load_state_dict(
        self, state: Mapping[str, np.ndarray], strict: bool = True
    ) -> tuple[list[str], list[str]]:
        """Copy values into the existing parameters; returns (missing, unexpected).

        ``strict`` raises ``KeyError`` naming missing and unexpected keys.
        Values go *into* the parameter objects, so ties survive; the keys of a
        tied parameter must then agree (``ValueError`` otherwise). Everything
        is checked before anything is written.
        """
        uses = list(self._every_use())
        names = {n for n, _ in uses}
        missing = [n for n, _ in uses if n not in state]
        unexpected = [k for k in state if k not in names]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        plan: dict[int, tuple[Parameter, str, np.ndarray]] = {}
        for n, p in uses:
            if n not in state:
                continue
            v = np.asarray(state[n], dtype=DTYPE)
            if not _fits(p.shape, v.shape):
                raise ValueError(
                    f"{n!r}: a value of shape {v.shape} does not fit a parameter of shape {p.shape}"
                )
            if id(p) in plan:
                first = plan[id(p)]
                if not np.array_equal(first[2], v, equal_nan=True):
                    raise ValueError(
                        f"{first[1]!r} and {n!r} are one tied parameter but hold different values"
                    )
            else:
                plan[id(p)] = (p, n, v)
        for p, _, v in plan.values():
            p.set_value(v)
        return missing, unexpected

    # -- initialisation --
    def apply(self, fn: Callable[[Block], None]) -> Block:
        """Call ``fn`` on every block below and including this one, children
        first (torch's post-order); a block used twice (tied) is visited once."""
        seen: set[int] = set()

        def visit(block: Block) -> None:
            for _, c in block.named_children():
                if id(c) not in seen:
                    seen.add(id(c))
                    visit(c)
            fn(block)

        visit(self)
        return self

    def initialize(self, init: Initializer | None = None, force_reinit: bool = False) -> None:
        """Gluon's ``Block.initialize``: ``init`` is a *global* initialiser, used
        for parameters without their own (weights); biases keep their zeros.
        See :func:`initialize_parameters` for the force_reinit rule."""
        items = [(n, p, None) for n, p in self.named_parameters()]
        initialize_parameters(items, default_init=init, force_reinit=force_reinit)

    # -- computing --
    def forward(self, x: np.ndarray) -> np.ndarray:
        y, tape = self._run(np.asarray(x, dtype=DTYPE))
        self._tape = (tape, y.shape)
        return y

    __call__ = forward

    def backward(self, upstream: np.ndarray) -> np.ndarray:
        """Gradient of ``sum(output * upstream)`` for the last forward pass:
        added into every parameter's ``grad``; returns the input gradient."""
        if self._tape is None:
            raise RuntimeError("backward() needs a forward() first")
        tape, out_shape = self._tape
        g = np.asarray(upstream, dtype=DTYPE)
        if g.shape != out_shape:
            raise ValueError(f"upstream gradient has shape {g.shape}, the output has {out_shape}")
        return self._back(g, tape)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def __getstate__(self) -> dict[str, Any]:
        # A saved model carries no activations from its last forward pass.
        state = self.__dict__.copy()
        state["_tape"] = None
        return state


class Dense(Block):
    """``y = x @ W.T + b`` with ``W`` of shape (units, in_features), torch's layout.

    ``in_features=None`` defers: the first batch fixes it, and the parameters
    are initialised then. A known ``in_features`` initialises at once with
    the default (weights Xavier-uniform, biases zero).

    ``transposed=True`` applies ``y = x @ W + b`` with ``W`` of shape
    (in_features, units): the decoder of a tied autoencoder, given the
    encoder's weight with ``decoder.weight = encoder.weight``.
    """

    def __init__(self, units: int, in_features: int | None = None, *, transposed: bool = False) -> None:
        super().__init__()
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.units = units
        self.transposed = transposed
        self.weight = Parameter("weight", (in_features, units) if transposed else (units, in_features))
        self.bias = Parameter("bias", (units,), init=DEFAULT_BIAS_INIT)
        if in_features is not None:
            self._infer(in_features)

    @property
    def in_features(self) -> int | None:
        return self.weight.shape[0 if self.transposed else 1]

    def _infer(self, in_features: int) -> None:
        shape = (in_features, self.units) if self.transposed else (self.units, in_features)
        if not self.weight.initialized:
            self.weight.infer_shape(shape)
        if not self.bias.initialized:
            self.bias.infer_shape((self.units,))


    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        if x.ndim != 2:
            raise ValueError(f"Dense expects (batch, features) input, got shape {x.shape}")
        if self.weight.data is None or self.bias.data is None:
            self._infer(x.shape[1])
        w = self.weight.value()
        w = w if self.transposed else w.T  # (in, units)
        if x.shape[1] != w.shape[0]:
            raise ValueError(f"Dense has in_features={w.shape[0]}, input has {x.shape[1]} features")
        return x @ w + self.bias.value(), x

    def _back(self, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        gw = x.T @ g  # (in, units)
        self.weight.accumulate_grad(gw if self.transposed else gw.T)
        self.bias.accumulate_grad(g.sum(axis=0))
        w = self.weight.value()
        return g @ (w.T if self.transposed else w)

    def __repr__(self) -> str:
        extra = ", transposed=True" if self.transposed else ""
        return f"Dense({self.units}, in_features={self.in_features}{extra})"


class ReLU(Block):
    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.maximum(x, 0), x > 0  # derivative 0 at 0, as torch

    def _back(self, g: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return g * mask

    def __repr__(self) -> str:
        return "ReLU()"


class Flatten(Block):
    """(batch, ...) -> (batch, prod(...)); the identity on 2-D input."""

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return x.reshape(x.shape[0], -1), x.shape

    def _back(self, g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return g.reshape(shape)

    def __repr__(self) -> str:
        return "Flatten()"


def check_name(name: object, taken: Iterable[str]) -> str:
    """A child name: a non-empty str without ``"."`` (the name separator),
    unique among its siblings. Anything else (spaces, dashes, non-ASCII) is fine."""
    if not isinstance(name, str):
        raise TypeError(f"a block name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("a block name may not be empty")
    if "." in name:
        raise ValueError(f"a block name may not contain '.', got {name!r}")
    if name in set(taken):
        raise ValueError(f"a sibling is already named {name!r}")
    return name


class Sequential(Block):
    """Children applied in order; each has a name (default: its index as a str)."""

    def __init__(self, *blocks: Block) -> None:
        super().__init__()
        self._children: list[tuple[str, Block]] = []  # a list, not attributes: one block may be at two places
        for b in blocks:
            self.add(b)

    def add(self, block: Block, name: str | None = None) -> None:
        if not isinstance(block, Block):
            raise TypeError(f"can only add a Block, got {type(block).__name__}")
        taken = [n for n, _ in self._children]
        self._children.append((check_name(str(len(taken)) if name is None else name, taken), block))

    def named_children(self) -> list[tuple[str, Block]]:
        return list(self._children)

    def __getitem__(self, index: int) -> Block:
        """Structural indexing: every use counts, a tied layer at each position."""
        return self._children[operator.index(index)][1]

    def __len__(self) -> int:
        return len(self._children)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        tapes = []
        for _, child in self._children:
            x, tape = child._run(x)
            tapes.append(tape)
        return x, tapes

    def _back(self, g: np.ndarray, tapes: list[Any]) -> np.ndarray:
        for (_, child), tape in reversed(list(zip(self._children, tapes))):
            g = child._back(g, tape)
        return g

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {c!r}" for n, c in self._children)
        return f"Sequential({inner})"


# -- optimiser ------------------------------------------------------------------------


class SGD:
    """Plain SGD, ``w -= lr * grad``, once per distinct parameter object (a
    tied parameter listed twice is still stepped once)."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        seen: set[int] = set()
        self.params: list[Parameter] = []
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                self.params.append(p)
        self.lr = lr

    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:  # torch skips parameters without a gradient
                p.value()[...] -= DTYPE.type(self.lr) * p.grad

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()


# -- files ------------------------------------------------------------------------------

_KEYS = "__keys__"


def save(state: Mapping[str, np.ndarray], path: str | FsPath) -> None:
    """Write a state dict as an ``.npz`` file at exactly ``path``.

    Keys may contain anything (dots, spaces, non-ASCII), so they are not used
    as npz member names: the arrays are stored as ``v0, v1, ...`` and the
    keys, in order, as a JSON document in the ``__keys__`` member (uint8
    bytes, so loading needs no pickle)."""
    keys = list(state)
    members = {f"v{i}": np.asarray(state[k]) for i, k in enumerate(keys)}
    members[_KEYS] = np.frombuffer(json.dumps(keys).encode("ascii"), dtype=np.uint8)
    with open(path, "wb") as f:  # a file object, so numpy does not append ".npz"
        np.savez(f, **members)  # type: ignore[arg-type]  # numpy's stubs fear allow_pickle in **


def load(path: str | FsPath) -> OrderedDict[str, np.ndarray]:
    """Read a state dict written by :func:`save`, keys in their saved order."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
        keys = json.loads(z[_KEYS].tobytes().decode("ascii"))
        return OrderedDict((k, z[f"v{i}"]) for i, k in enumerate(keys))


def save_model(model: Block, path: str | FsPath) -> None:
    """Pickle the whole model. Pickle keeps object identity, so a tied layer
    comes back as one object used at each of its positions."""
    with open(path, "wb") as f:
        pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(path: str | FsPath) -> Block:
    """Unpickle a model saved by :func:`save_model` (only load trusted files)."""
    with open(path, "rb") as f:
        model = pickle.load(f)
    if not isinstance(model, Block):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a model")
    return model
