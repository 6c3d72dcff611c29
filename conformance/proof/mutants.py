"""Mutants of the reference implementation, and a runner that tells which
clauses kill them.

A *mutant* is one small, realistic bug in :mod:`conformance.reference`
(the kind the chapter's frameworks have had or could have: a listing that
repeats a tied parameter, a Xavier bound computed from fan_in alone, a seed
that reseeds a local generator), applied by monkeypatching with
:func:`unittest.mock.patch.object` for the duration of a ``with`` block. Each
names the clause(s) meant to kill it. The catalogue is :data:`MUTANTS`.

A mutant is **killed by clause C** when C's verdict in the report of a run
against the mutated reference is ``violated``: a property's assertion failed.
An ``error`` verdict (the check itself crashed, e.g. an ``IndexError`` inside
the adapter) does not count: a crash is not evidence that the clause
recognises the bug, and a property that only crashes on it would report
nothing useful to a framework's maintainers.

Runs happen in a fresh interpreter each (``python -m conformance.proof.mutants
run ID``), so a patch can never leak into another run:

* *intended* mode runs only the intended clauses' tests (``-k``); its wall
  time is the mutant's time to kill. A statistical test there shares the
  false-alarm budget with no other, so it is somewhat more powerful than in
  a whole-catalogue run;
* *full* mode runs the whole catalogue and lists every clause that kills it.

``python -m conformance.proof.mutants table --out reports/proof/mutation.md``
runs every mutant on several seeds (and once in full mode) and writes the
Markdown table and ``mutation.json`` beside it.
"""

from __future__ import annotations

import argparse
import copy
import io
import itertools
import json
import operator
import pickle
import re
import subprocess
import sys
import tempfile
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np

from conformance.reference import init as rinit
from conformance.reference import nn

Patchers = list[Any]  # unittest.mock patchers, entered in order
PatchFn = Callable[[], Patchers]


@dataclass(frozen=True)
class Mutant:
    """One bug: its id, the clause(s) meant to kill it, a one-line
    description, and the function returning its patchers."""

    id: str
    clauses: tuple[str, ...]
    bug: str
    patches: PatchFn

    @property
    def area(self) -> str:
        """The spec area of the (first) intended clause."""
        return self.clauses[0].split(".", 1)[0]

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The reference with this bug, until the block exits."""
        with ExitStack() as stack:
            for p in self.patches():
                stack.enter_context(p)
            yield


#: The catalogue, by id, in the order written below.
MUTANTS: dict[str, Mutant] = {}


def _mutant(mid: str, clauses: str | tuple[str, ...], bug: str) -> Callable[[PatchFn], PatchFn]:
    def register(fn: PatchFn) -> PatchFn:
        if mid in MUTANTS:
            raise ValueError(f"mutant {mid!r} defined twice")
        MUTANTS[mid] = Mutant(mid, (clauses,) if isinstance(clauses, str) else clauses, bug, fn)
        return fn

    return register


def _set(target: Any, name: str, value: Any) -> Any:
    return patch.object(target, name, value)


def _f32(a: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(a, dtype=np.float32), shape).copy()


# -- access ---------------------------------------------------------------------------


@_mutant("relu-holds-slope", "access.activation-no-params",
         "ReLU registers a parameter it never uses (a PReLU slope left in)")
def _relu_slope() -> Patchers:
    def own_parameters(self: nn.ReLU) -> list[tuple[str, nn.Parameter]]:
        slope = self.__dict__.get("_slope")
        if slope is None:  # the mutant's own attribute, not one of nn.ReLU's
            slope = self.__dict__["_slope"] = nn.Parameter("slope", (1,), init=rinit.Zeros())
            slope.infer_shape((1,))
        return [("slope", slope)]

    return [_set(nn.ReLU, "own_parameters", own_parameters)]


@_mutant("bias-before-weight", "access.dense-weight-and-bias",
         "a dense layer lists its bias before its weight")
def _bias_first() -> Patchers:
    return [_set(nn.Dense, "own_parameters", lambda self: [("bias", self.bias), ("weight", self.weight)])]


@_mutant("float64-default", "access.float32-default",
         "parameters use numpy's default dtype, float64, instead of float32")
def _float64() -> Patchers:
    return [_set(nn, "DTYPE", np.dtype(np.float64)), _set(nn.Parameter, "dtype", np.dtype(np.float64))]


@_mutant("index-skips-parameter-free", "access.index-counts-parameter-free-layers",
         "net[i] counts only layers holding parameters (ReLU and Flatten are skipped)")
def _index_skips() -> Patchers:
    def getitem(self: nn.Sequential, index: int) -> nn.Block:
        holding = [c for _, c in self._children if not isinstance(c, (nn.ReLU, nn.Flatten))]
        return holding[operator.index(index)]

    return [_set(nn.Sequential, "__getitem__", getitem)]


@_mutant("len-counts-distinct", "access.index-order",
         "len(net) counts distinct layers, so a layer added twice is counted once")
def _len_distinct() -> Patchers:
    return [_set(nn.Sequential, "__len__", lambda self: len({id(c) for _, c in self._children}))]


@_mutant("grad-slot-zeros", "access.grad-before-backward",
         "the gradient slot is allocated as zeros when the shape is fixed (documented: None until backward)")
def _grad_zeros() -> Patchers:
    original = nn.Parameter.infer_shape

    def infer_shape(self: nn.Parameter, shape: tuple[int, ...]) -> None:
        original(self, shape)
        if self.grad is None:
            self.grad = np.zeros(shape, dtype=nn.DTYPE)

    return [_set(nn.Parameter, "infer_shape", infer_shape)]


@_mutant("forward-reinitialises", "access.parameter-value",
         "every forward pass re-runs the weight's deferred initialisation (an 'initialised' flag never set)")
def _forward_reinit() -> Patchers:
    original = nn.Dense._run

    def run(self: nn.Dense, x: np.ndarray) -> tuple[np.ndarray, Any]:
        self.weight.data = None
        return original(self, x)

    return [_set(nn.Dense, "_run", run)]


@_mutant("bias-snapshot", "access.nested-indexing",
         "a dense layer computes with a copy of its bias taken at construction, so later writes are not used")
def _bias_snapshot() -> Patchers:
    init, run = nn.Dense.__init__, nn.Dense._run

    def __init__(self: nn.Dense, units: int, in_features: int | None = None) -> None:
        init(self, units, in_features)
        self.__dict__["_bias0"] = None if self.bias.data is None else self.bias.data.copy()

    def _run(self: nn.Dense, x: np.ndarray) -> tuple[np.ndarray, Any]:
        y, tape = run(self, x)
        b0 = self.__dict__.get("_bias0")
        return (y if b0 is None else y - self.bias.value() + b0), tape

    return [_set(nn.Dense, "__init__", __init__), _set(nn.Dense, "_run", _run)]


# -- naming ---------------------------------------------------------------------------


@_mutant("flat-names", "naming.unique-names",
         "a parameter's name keeps only its innermost block's name, so names collide under nesting")
def _flat_names() -> Patchers:
    return _naming_by(lambda block, prefix, child: child + ".")


def _naming_by(child_prefix: Callable[[nn.Block, str, str], str]) -> Patchers:
    """``Block._every_use`` (where every name is made) with the prefix of a
    child's names computed by ``child_prefix(block, prefix, child_name)``
    instead of ``prefix + child_name + "."``."""

    def every_use(self: nn.Block, prefix: str = "") -> Iterator[tuple[str, nn.Parameter]]:
        for n, p in self.own_parameters():
            yield prefix + n, p
        for n, c in self.named_children():
            yield from c._every_use(child_prefix(self, prefix, n))

    return [_set(nn.Block, "_every_use", every_use)]


@_mutant("block-names-ignored", "naming.block-names",
         "caller-chosen block names are dropped: every child is named by its index")
def _names_ignored() -> Patchers:
    return [_set(nn.Sequential, "named_children",
                 lambda self: [(str(i), c) for i, (_, c) in enumerate(self._children)])]


@_mutant("names-innermost-first", "naming.hierarchical",
         "a parameter's name lists its enclosing blocks innermost first")
def _innermost_first() -> Patchers:
    return _naming_by(lambda block, prefix, child: child + "." + prefix)


@_mutant("lookup-returns-copy", "naming.lookup-by-name",
         "lookup by name returns a detached copy of the parameter, not the parameter")
def _lookup_copy() -> Patchers:
    original = nn.Block.get_parameter
    return [_set(nn.Block, "get_parameter", lambda self, name: copy.copy(original(self, name)))]


@_mutant("state-dict-sanitised-keys", "naming.state-dict-agrees",
         "the state dict sanitises its keys for file formats (spaces, dashes, non-ASCII -> '_')")
def _sanitised_keys() -> Patchers:
    def state_dict(self: nn.Block) -> OrderedDict[str, np.ndarray]:
        return OrderedDict((re.sub(r"[^0-9A-Za-z_.]", "_", n), p.value().copy())
                           for n, p in self._every_use())

    return [_set(nn.Block, "state_dict", state_dict)]


@_mutant("pattern-search", "naming.pattern-selection",
         "selection by pattern uses re.search (unanchored) instead of re.match")
def _pattern_search() -> Patchers:
    def collect_params(self: nn.Block, pattern: str | None = None) -> list[tuple[str, nn.Parameter]]:
        params = self.named_parameters()
        return params if pattern is None else [(n, p) for n, p in params if re.search(pattern, n)]

    return [_set(nn.Block, "collect_params", collect_params)]


@_mutant("counter-names", "naming.positional-names-stable",
         "unnamed children are named from a process-wide counter, not by position")
def _counter_names() -> Patchers:
    counter = itertools.count()

    def add(self: nn.Sequential, block: nn.Block, name: str | None = None) -> None:
        taken = [n for n, _ in self._children]
        self._children.append((nn.check_name(str(next(counter)) if name is None else name, taken), block))

    return [_set(nn.Sequential, "add", add)]


@_mutant("listing-reversed", "naming.listing-order",
         "the all-parameters listing visits layers from the output back (the backward pass's order)")
def _listing_reversed() -> Patchers:
    original = nn.Block.named_parameters

    def named_parameters(self: nn.Block) -> list[tuple[str, nn.Parameter]]:
        out = original(self)
        layers = [out[i:i + 2] for i in range(0, len(out), 2)]  # (weight, bias) of each dense layer
        return [item for layer in reversed(layers) for item in layer]

    return [_set(nn.Block, "named_parameters", named_parameters)]


# -- default-init ---------------------------------------------------------------------


@dataclass(frozen=True)
class _FanInUniform(rinit.Initializer):
    """LeCun uniform: U(-b, b), b = sqrt(3 / fan_in)."""

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        bound = np.sqrt(3.0 / rinit.fans(shape)[0])
        return _f32(rinit.generator().uniform(-bound, bound, size=shape), shape)


@_mutant("default-bias-normal", "default-init.documented-bias",
         "default biases are drawn N(0, 0.01^2) like the weights, not zeros")
def _bias_normal() -> Patchers:
    return [_set(nn, "DEFAULT_BIAS_INIT", rinit.Normal(0.0, 0.01))]


@_mutant("default-bias-1e-7", "default-init.bias-zero",
         "default biases are 1e-7, not exactly zero")
def _bias_tiny() -> Patchers:
    return [_set(nn, "DEFAULT_BIAS_INIT", rinit.Constant(1e-7))]


@_mutant("default-weight-glorot-normal", "default-init.documented-weight",
         "default weights are Glorot normal instead of the documented Glorot uniform")
def _default_normal() -> Patchers:
    return [_set(nn, "DEFAULT_WEIGHT_INIT", rinit.XavierNormal())]


@_mutant("default-weight-lecun-uniform", "default-init.range-from-in-and-out",
         "default weights are LeCun uniform, sqrt(3 / fan_in): the range ignores n_out")
def _default_lecun() -> Patchers:
    return [_set(nn, "DEFAULT_WEIGHT_INIT", _FanInUniform())]


# -- builtin-init ---------------------------------------------------------------------


def _xavier_uniform(bound: Callable[[int, int], float]) -> Callable[[Any, tuple[int, ...]], np.ndarray]:
    def sample(self: Any, shape: tuple[int, ...]) -> np.ndarray:
        b = bound(*rinit.fans(shape))
        return _f32(rinit.generator().uniform(-b, b, size=shape), shape)

    return sample


def _xavier_normal(std: Callable[[int, int], float]) -> Callable[[Any, tuple[int, ...]], np.ndarray]:
    def sample(self: Any, shape: tuple[int, ...]) -> np.ndarray:
        return _f32(rinit.generator().normal(0.0, std(*rinit.fans(shape)), size=shape), shape)

    return sample


def _normal(mean: Callable[[float], float], std: Callable[[float], float]) -> Callable[..., np.ndarray]:
    def sample(self: rinit.Normal, shape: tuple[int, ...]) -> np.ndarray:
        return _f32(rinit.generator().normal(mean(self.mean), std(self.std), size=shape), shape)

    return sample


@_mutant("xavier-uniform-fan-in", "builtin-init.xavier-uniform",
         "Xavier uniform bound sqrt(6 / fan_in): fan_out dropped from the sum")
def _xu_fan_in() -> Patchers:
    return [_set(rinit.XavierUniform, "sample", _xavier_uniform(lambda fi, fo: np.sqrt(6.0 / fi)))]


@_mutant("xavier-uniform-10pct-wide", "builtin-init.xavier-uniform",
         "Xavier uniform range 10 % too wide")
def _xu_wide() -> Patchers:
    wide = _xavier_uniform(lambda fi, fo: 1.1 * np.sqrt(6.0 / (fi + fo)))
    return [_set(rinit.XavierUniform, "sample", wide)]


@_mutant("xavier-normal-he", "builtin-init.xavier-normal",
         "Xavier normal with He scaling, std sqrt(2 / fan_in)")
def _xn_he() -> Patchers:
    return [_set(rinit.XavierNormal, "sample", _xavier_normal(lambda fi, fo: np.sqrt(2.0 / fi)))]


@_mutant("xavier-normal-lecun", "builtin-init.xavier-normal",
         "Xavier normal with LeCun scaling, std sqrt(1 / fan_in)")
def _xn_lecun() -> Patchers:
    return [_set(rinit.XavierNormal, "sample", _xavier_normal(lambda fi, fo: np.sqrt(1.0 / fi)))]


@_mutant("normal-std-squared", "builtin-init.normal",
         "normal(mean, sigma) draws with standard deviation sigma**2 (the variance passed as the std)")
def _normal_squared() -> Patchers:
    return [_set(rinit.Normal, "sample", _normal(lambda m: m, lambda s: s**2))]


@_mutant("normal-std-5pct", "builtin-init.normal",
         "normal(mean, sigma) draws with standard deviation 1.05 sigma")
def _normal_5pct() -> Patchers:
    return [_set(rinit.Normal, "sample", _normal(lambda m: m, lambda s: 1.05 * s))]


@_mutant("normal-mean-ignored", "builtin-init.normal",
         "normal(mean, sigma) ignores the mean and draws around 0")
def _normal_mean() -> Patchers:
    return [_set(rinit.Normal, "sample", _normal(lambda m: 0.0, lambda s: s))]


@_mutant("constant-flushes-subnormals", "builtin-init.constant",
         "constant(c) flushes a subnormal c to zero (a flush-to-zero float mode)")
def _constant_ftz() -> Patchers:
    def sample(self: rinit.Constant, shape: tuple[int, ...]) -> np.ndarray:
        c = np.float32(self.value)
        return _f32(0.0 if abs(c) < np.finfo(np.float32).tiny else c, shape)

    return [_set(rinit.Constant, "sample", sample)]


def _initialize_parameters(rule: Callable[[Any, nn.Parameter, Any], Any] | None = None, *,
                           force: bool | None = None) -> Callable[..., None]:
    """:func:`nn.initialize_parameters` with one rule changed: each item's
    initialiser becomes ``rule(own, parameter, default_init)`` (an item whose
    rule gives ``False`` is dropped), or force_reinit is always ``force``."""
    original = nn.initialize_parameters

    def initialize_parameters(items: Iterable[tuple[str, nn.Parameter, Any]], *,
                              default_init: Any = None, force_reinit: bool = False) -> None:
        if rule is not None:
            items = [(n, p, rule(own, p, default_init)) for n, p, own in items]
            items = [(n, p, own) for n, p, own in items if own is not False]
        original(items, default_init=default_init, force_reinit=force_reinit if force is None else force)

    return initialize_parameters


@_mutant("own-init-wins", "builtin-init.constant",
         "a parameter's own initialiser (a bias's zeros) overrides the one explicitly asked for")
def _own_wins() -> Patchers:
    return [_set(nn, "initialize_parameters", _initialize_parameters(lambda own, p, d: p.init or own))]


@_mutant("zeros-cached-array", "builtin-init.sub-block-isolation",
         "zeros() returns one cached array per shape, so equally wide biases share memory")
def _zeros_cached() -> Patchers:
    cache: dict[tuple[int, ...], np.ndarray] = {}

    def sample(self: rinit.Zeros, shape: tuple[int, ...]) -> np.ndarray:
        return cache.setdefault(tuple(shape), np.zeros(shape, dtype=np.float32))

    return [_set(rinit.Zeros, "sample", sample)]


@_mutant("reinit-ignores-force", "builtin-init.reinit-needs-force",
         "initialize() re-initialises parameters that already have values, force_reinit or not")
def _reinit_force() -> Patchers:
    return [_set(nn, "initialize_parameters", _initialize_parameters(force=True))]


@_mutant("global-init-overrides-bias", "builtin-init.global-init-spares-bias",
         "a model-wide initialiser overrides the bias's own zeros")
def _global_bias() -> Patchers:
    return [_set(nn, "initialize_parameters", _initialize_parameters(lambda own, p, d: own or d))]


# -- custom-init ----------------------------------------------------------------------


def _mixture(draw: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]) -> Callable[..., np.ndarray]:
    def sample(self: rinit.Mixture, shape: tuple[int, ...]) -> np.ndarray:
        return _f32(draw(rinit.generator(), shape), shape)

    return sample


def _thirds(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    sign = rng.choice([-1.0, 0.0, 1.0], size=shape)
    return sign * rng.uniform(5.0, 10.0, size=shape)


def _sign_lost(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.uniform(-10.0, 10.0, size=shape)
    return w * (w >= 5)


@_mutant("mixture-thirds", "custom-init.mixture",
         "the mixture's proportions are 1/3, 1/3, 1/3 instead of 1/4, 1/2, 1/4")
def _mix_thirds() -> Patchers:
    return [_set(rinit.Mixture, "sample", _mixture(_thirds))]


@_mutant("mixture-sign-lost", "custom-init.mixture",
         "the mixture zeroes w < 5 instead of |w| < 5, losing the negative branch")
def _mix_sign() -> Patchers:
    return [_set(rinit.Mixture, "sample", _mixture(_sign_lost))]


@_mutant("custom-init-reaches-bias", "custom-init.weights-only",
         "Block.initialize hands the global initialiser to every parameter as its own, biases included")
def _custom_bias() -> Patchers:
    def initialize(self: nn.Block, init: Any = None, force_reinit: bool = False) -> None:
        items = [(n, p, init) for n, p in self.named_parameters()]
        nn.initialize_parameters(items, force_reinit=force_reinit)

    return [_set(nn.Block, "initialize", initialize)]


# -- assignment -----------------------------------------------------------------------


@_mutant("value-returns-copy", "assignment.slice",
         "the value accessor returns a copy, so slice assignment writes to the copy")
def _value_copy() -> Patchers:
    original = nn.Parameter.value
    return [_set(nn.Parameter, "value", lambda self: original(self).copy())]


@_mutant("write-ignored-once-initialised", "assignment.whole-value",
         "replacing a whole value is silently ignored once the parameter has one")
def _write_ignored() -> Patchers:
    original = nn.Parameter.set_value

    def set_value(self: nn.Parameter, value: Any) -> None:
        if self.data is None:
            original(self, value)

    return [_set(nn.Parameter, "set_value", set_value)]


@_mutant("backward-stale-weight", "assignment.then-gradients",
         "the backward pass multiplies by a copy of the weight cached at the first backward")
def _stale_backward() -> Patchers:
    def back(self: nn.Dense, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        w = self.__dict__.setdefault("_w_cached", self.weight.value().copy())
        self.weight.accumulate_grad(g.T @ x)
        self.bias.accumulate_grad(g.sum(axis=0))
        return g @ w

    return [_set(nn.Dense, "_back", back)]


# -- deferred -------------------------------------------------------------------------


@_mutant("deferred-square-guess", "deferred.shape-unknown-before-forward",
         "a deferred dense layer guesses in_features = units at construction (shape fixed too early)")
def _square_guess() -> Patchers:
    init = nn.Dense.__init__

    def __init__(self: nn.Dense, units: int, in_features: int | None = None) -> None:
        init(self, units, units if in_features is None else in_features)

    return [_set(nn.Dense, "__init__", __init__)]


@_mutant("deferred-shape-not-updated", "deferred.shape-inferred",
         "a parameter reports its declared shape, never the inferred one")
def _shape_stale() -> Patchers:
    def infer_shape(self: nn.Parameter, shape: tuple[int, ...]) -> None:
        if self.data is None:
            self.data = (self._pending or self.init or nn.DEFAULT_WEIGHT_INIT).sample(shape)
            self._pending = None

    return [_set(nn.Parameter, "shape", property(lambda self: self._shape)),
            _set(nn.Parameter, "infer_shape", infer_shape)]


@_mutant("deferred-pending-dropped", "deferred.initializer-applied-on-inference",
         "an initialiser requested before the shape is known is dropped; the default is used")
def _pending_dropped() -> Patchers:
    known = _initialize_parameters(lambda own, p, d: own if None not in p.shape else False)
    return [_set(nn, "initialize_parameters", known)]


def _add_copying(when: Callable[[nn.Block], bool]) -> Callable[..., None]:
    """``Sequential.add`` that adds a deep copy of a block already added
    somewhere, when ``when(block)``."""
    added: weakref.WeakSet[nn.Block] = weakref.WeakSet()
    original = nn.Sequential.add

    def add(self: nn.Sequential, block: nn.Block, name: str | None = None) -> None:
        if block in added and when(block):
            block = copy.deepcopy(block)
        added.add(block)
        original(self, block, name)

    return add


@_mutant("deferred-clone-uninitialised", "deferred.tied-lazy-layer",
         "a block added again before its shapes are known is cloned, so each position infers its own")
def _clone_lazy() -> Patchers:
    return [_set(nn.Sequential, "add", _add_copying(lambda b: any(p.data is None for p in b.parameters())))]


# -- tied -----------------------------------------------------------------------------


@_mutant("listing-repeats-tied", "tied.listing-once",
         "the all-parameters listing repeats a tied parameter at each of its uses")
def _listing_repeats() -> Patchers:
    return [_set(nn.Block, "named_parameters", lambda self: list(self._every_use()))]


@_mutant("state-dict-drops-tied-keys", "tied.state-dict-every-key",
         "the state dict drops the keys of a tied parameter's later positions")
def _state_dict_drops() -> Patchers:
    return [_set(nn.Block, "state_dict",
                 lambda self: OrderedDict((n, p.value().copy()) for n, p in self.named_parameters()))]


@_mutant("tied-grad-overwritten", "tied.gradients-summed",
         "backward overwrites a gradient instead of adding to it: a shared layer keeps its last use's")
def _grad_overwritten() -> Patchers:
    def accumulate_grad(self: nn.Parameter, g: np.ndarray) -> None:
        self.grad = np.array(g, dtype=nn.DTYPE)

    return [_set(nn.Parameter, "accumulate_grad", accumulate_grad)]


@_mutant("tied-stepped-twice", "tied.single-step",
         "parameters() yields every use and SGD keeps duplicates: a tied parameter is stepped per use")
def _stepped_twice() -> Patchers:
    def sgd_init(self: nn.SGD, params: Iterable[nn.Parameter], lr: float) -> None:
        self.params, self.lr = list(params), lr

    return [_set(nn.Block, "parameters", lambda self: [p for _, p in self._every_use()]),
            _set(nn.SGD, "__init__", sgd_init)]


@_mutant("tie-by-copy", "tied.one-object",
         "adding a layer a second time adds a copy of it (a tie by value, not by identity)")
def _tie_copy() -> Patchers:
    return [_set(nn.Sequential, "add", _add_copying(lambda b: True))]


def _untie_layers(block: nn.Block, seen: set[int]) -> None:
    """Give every later position of a layer used twice its own deep copy."""
    if isinstance(block, nn.Sequential):
        for i, (n, c) in enumerate(block._children):
            if id(c) in seen:
                c = copy.deepcopy(c)
                block._children[i] = (n, c)
            seen.add(id(c))
            _untie_layers(c, seen)


def _untie_params(root: nn.Block) -> None:
    """Give a layer holding another layer's parameter (params=shared.params)
    its own copy of it; a layer used twice is one layer, left alone."""
    owner: dict[int, nn.Block] = {}
    seen: set[int] = set()

    def visit(block: nn.Block) -> None:
        if id(block) in seen:
            return
        seen.add(id(block))
        for name, param in block.own_parameters():
            if owner.setdefault(id(param), block) is not block:
                setattr(block, name, copy.deepcopy(param))
        for _, child in block.named_children():
            visit(child)

    visit(root)


@_mutant("tie-broken-on-load", "tied.save-load-keeps-tie",
         "loading weights gives every later position of a shared layer its own copy")
def _untie_on_load() -> Patchers:
    original = nn.Block.load_state_dict

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        _untie_layers(self, set())
        return original(self, state, strict)

    return [_set(nn.Block, "load_state_dict", load_state_dict)]


@_mutant("param-tie-broken-on-load", "tied.save-load-keeps-tie",
         "loading weights gives a layer holding another layer's parameter (params=shared.params) "
         "its own copy")
def _untie_params_on_load() -> Patchers:
    original = nn.Block.load_state_dict

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        _untie_params(self)
        return original(self, state, strict)

    return [_set(nn.Block, "load_state_dict", load_state_dict)]


@_mutant("repeated-layer-dropped", "tied.repeated-layer-kept",
         "Sequential.add silently ignores a layer it already holds (tf.keras 2's deduplication)")
def _dedup() -> Patchers:
    original = nn.Sequential.add

    def add(self: nn.Sequential, block: nn.Block, name: str | None = None) -> None:
        if all(c is not block for _, c in self._children):
            original(self, block, name)

    return [_set(nn.Sequential, "add", add)]


@_mutant("sgd-momentum-on", "tied.training-keeps-tie",
         "SGD applies momentum 0.9 by default, its state kept per parameter")
def _momentum() -> Patchers:
    velocity: weakref.WeakKeyDictionary[nn.Parameter, np.ndarray] = weakref.WeakKeyDictionary()

    def step(self: nn.SGD) -> None:
        for p in self.params:
            if p.grad is not None:
                v = velocity[p] = 0.9 * velocity.get(p, 0) + p.grad
                p.value()[...] -= nn.DTYPE.type(self.lr) * v

    return [_set(nn.SGD, "step", step)]


# -- serialisation --------------------------------------------------------------------


@_mutant("save-float16", "serialisation.weights-round-trip",
         "weights are saved in float16 (a half-precision checkpoint)")
def _save_f16() -> Patchers:
    original = nn.save
    return [_set(nn, "save", lambda state, path: original(
        OrderedDict((k, np.asarray(v).astype(np.float16)) for k, v in state.items()), path))]


@_mutant("non-strict-load-noop", "serialisation.weights-round-trip",
         "non-strict loading returns before writing anything")
def _non_strict() -> Patchers:
    original = nn.Block.load_state_dict

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        return original(self, state, strict) if strict else ([], [])

    return [_set(nn.Block, "load_state_dict", load_state_dict)]


@_mutant("save-model-per-child", "serialisation.whole-model",
         "a whole model is pickled child by child, so a layer shared by two children comes back twice")
def _per_child() -> Patchers:
    def save_model(model: nn.Block, path: Any) -> None:
        children = [(n, pickle.dumps(c)) for n, c in model.named_children()]
        Path(path).write_bytes(pickle.dumps(children))

    def load_model(path: Any) -> nn.Block:
        seq = nn.Sequential()
        for n, blob in pickle.loads(Path(path).read_bytes()):
            seq.add(pickle.loads(blob), name=n)
        return seq

    return [_set(nn, "save_model", save_model), _set(nn, "load_model", load_model)]


# -- custom layers ----------------------------------------------------------------------


@_mutant("build-weight-untracked", "custom.params-tracked",
         "a user-defined layer's weight, created once the input shape is known, is not registered "
         "(set past the block's attribute tracking)")
def _untracked_build() -> Patchers:
    from conformance.frameworks.reference.adapter import UserDense

    def build(self: UserDense, in_features: int) -> None:
        if "weight" not in self.__dict__:
            weight = nn.Parameter("weight", (self.units, in_features), init=rinit.XavierUniform())
            weight.infer_shape((self.units, in_features))
            object.__setattr__(self, "weight", weight)

    return [_set(UserDense, "build", build)]


@_mutant("nested-name-loses-prefix", "custom.nested-names",
         "a layer held by a user-defined block is named without its attribute's name "
         "(the block's prefix dropped)")
def _lost_prefix() -> Patchers:
    def child_prefix(block: nn.Block, prefix: str, child: str) -> str:
        return prefix + child + "." if isinstance(block, nn.Sequential) else prefix

    return _naming_by(child_prefix)


# -- aliasing -------------------------------------------------------------------------


@_mutant("copy-shares-params", "aliasing.copy-independent",
         "copying a model gives a new structure over the source's parameter objects (a shallow merge)")
def _shallow_copy() -> Patchers:
    def deepcopy(self: nn.Block, memo: dict[int, Any]) -> nn.Block:
        for _, param in self.named_parameters():
            memo[id(param)] = param
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            object.__setattr__(new, key, copy.deepcopy(value, memo))
        return new

    return [patch.object(nn.Block, "__deepcopy__", deepcopy, create=True)]


def _adopting_load(*, live_state: bool, consume: bool = False) -> Patchers:
    """``load_state_dict`` that adopts the state's arrays as the parameters'
    storage (no copy); with ``live_state``, ``state_dict`` returns the
    parameters' own arrays; with ``consume``, loading zeroes what it read."""
    original = nn.Block.load_state_dict

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        result = original(self, state, strict)
        for name, param in self._every_use():
            if name in state and isinstance(state[name], np.ndarray) and state[name].dtype == nn.DTYPE:
                if consume:
                    state[name][...] = 0
                else:
                    param.data = state[name]
        return result

    patches = [_set(nn.Block, "load_state_dict", load_state_dict)]
    if live_state:
        patches.append(_set(nn.Block, "state_dict",
                            lambda self: OrderedDict((n, p.value()) for n, p in self._every_use())))
    return patches


@_mutant("load-adopts-state", "aliasing.load-leaves-state-unchanged",
         "loading a state object adopts its arrays, so writing to the loaded model writes into the state")
def _adopts() -> Patchers:
    return _adopting_load(live_state=False)


@_mutant("state-load-aliases-source", ("aliasing.load-state-independent",),
         "state_dict returns the parameters' own arrays and loading adopts them: "
         "the loaded model aliases its source")
def _aliases_source() -> Patchers:
    return _adopting_load(live_state=True)


@_mutant("load-consumes-state", "aliasing.load-twice-same",
         "loading moves the values out of the state object (zeroing what it read), "
         "so a second load gets zeros")
def _consumes() -> Patchers:
    return _adopting_load(live_state=False, consume=True)


# -- seeding --------------------------------------------------------------------------


@_mutant("seed-not-global", "seeding.same-seed-same-values",
         "manual_seed rebinds a local generator ('global' forgotten): seeding has no effect")
def _seed_local() -> Patchers:
    def manual_seed(seed: int) -> None:
        _rng = np.random.default_rng(seed)  # the bug: a local, not init._rng

    return [_set(rinit, "manual_seed", manual_seed)]


@_mutant("seed-argument-ignored", "seeding.different-seeds-differ",
         "manual_seed reseeds with a fixed seed, whatever it is given")
def _seed_fixed() -> Patchers:
    original = rinit.manual_seed
    return [_set(rinit, "manual_seed", lambda seed: original(0))]


# -- compute --------------------------------------------------------------------------


@_mutant("leaky-relu", "compute.forward-matches-reference",
         "ReLU leaks: 0.01 x for x < 0")
def _leaky() -> Patchers:
    return [_set(nn.ReLU, "_run", lambda self, x: (np.where(x > 0, x, np.float32(0.01) * x), x > 0))]


@_mutant("bias-grad-mean", "compute.gradients-match-reference",
         "the bias gradient is the batch mean instead of the batch sum")
def _bias_mean() -> Patchers:
    def back(self: nn.Dense, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        self.weight.accumulate_grad(g.T @ x)
        self.bias.accumulate_grad(g.mean(axis=0))
        return g @ self.weight.value()

    return [_set(nn.Dense, "_back", back)]


# -- lifecycle: bugs only a sequence of operations reveals ---------------------------------
# Each is invisible to every single-operation clause (the full run of the
# table says so): the catalogue's properties load into fresh models, zero a
# gradient at most once before comparing it, never write after a step, never
# initialise after a load.


def _rebind(root: nn.Block) -> None:
    """Swap every parameter of ``root`` for a new Parameter object holding its
    value, one new object per old one (so ties are kept): what an
    assign-style load does."""
    fresh: dict[int, nn.Parameter] = {}
    seen: set[int] = set()

    def visit(block: nn.Block) -> None:
        if id(block) in seen:
            return
        seen.add(id(block))
        for name, p in block.own_parameters():
            q = fresh.get(id(p))
            if q is None:
                q = fresh[id(p)] = nn.Parameter(p.name, p.shape, init=p.init)
                q.data = p.value().copy()
            setattr(block, name, q)
        for _, child in block.named_children():
            visit(child)

    visit(root)


def _cached(method: Callable[[nn.Block], list[Any]], attr: str) -> Callable[[nn.Block], list[Any]]:
    """``method`` computed at its first call on a block and returned from a
    cache ever after."""

    def cached(self: nn.Block) -> list[Any]:
        found = self.__dict__.get(attr)
        if found is None:
            found = self.__dict__[attr] = method(self)
        return list(found)

    return cached


def _rebinding_load() -> Any:
    original = nn.Block.load_state_dict

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        result = original(self, state, strict)
        _rebind(self)
        return result

    return _set(nn.Block, "load_state_dict", load_state_dict)


@_mutant("load-unties-trained-model", "lifecycle.ties-kept",
         "loading weights into a model that holds gradients re-creates its parameters per position "
         "(an optimiser-state reset gone wrong): a shared layer or parameter is no longer shared")
def _unties_trained() -> Patchers:
    original = nn.Block.load_state_dict

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        if any(p.grad is not None for p in self.parameters()):
            _untie_layers(self, set())
            _untie_params(self)
        return original(self, state, strict)

    return [_set(nn.Block, "load_state_dict", load_state_dict)]


@_mutant("listing-cached-before-load", "lifecycle.listings-agree",
         "the all-parameters listing is cached at its first call while a load swaps in new parameter "
         "objects (as an assign-style load does): after a load it lists objects the model no longer holds")
def _listing_cached() -> Patchers:
    return [_set(nn.Block, "named_parameters", _cached(nn.Block.named_parameters, "_mutant_listing")),
            _rebinding_load()]


@_mutant("load-counts-as-uninitialised", "lifecycle.untouched-unchanged",
         "loading flags every parameter as awaiting its initialiser (the deferred-init flag reused), so "
         "the next initialize() without force_reinit overwrites the loaded values")
def _load_uninitialised() -> Patchers:
    original_load = nn.Block.load_state_dict
    original_init = nn.initialize_parameters

    def load_state_dict(self: nn.Block, state: Any, strict: bool = True) -> Any:
        result = original_load(self, state, strict)
        for _, p in self._every_use():
            p.__dict__["_mutant_loaded"] = True
        return result

    def initialize_parameters(items: Iterable[tuple[str, nn.Parameter, Any]], *, default_init: Any = None,
                              force_reinit: bool = False) -> None:
        items = list(items)
        loaded = [it for it in items if it[1].__dict__.pop("_mutant_loaded", False)]
        rest = [it for it in items if all(it[1] is not other[1] for other in loaded)]
        if loaded:
            original_init(loaded, default_init=default_init, force_reinit=True)
        if rest:
            original_init(rest, default_init=default_init, force_reinit=force_reinit)

    return [_set(nn.Block, "load_state_dict", load_state_dict),
            _set(nn, "initialize_parameters", initialize_parameters)]


@_mutant("step-after-load-stale", "lifecycle.values-match",
         "a load swaps in new parameter objects (as an assign-style load does) while the model hands its "
         "optimiser the parameter list it cached at its first step: a step after a load updates stale "
         "copies, and the model does not move")
def _stale_after_load() -> Patchers:
    def zero_grad(self: nn.Block) -> None:  # zero_grad still goes over the model's own listing
        for _, p in self.named_parameters():
            p.zero_grad()

    return [_set(nn.Block, "parameters", _cached(nn.Block.parameters, "_mutant_params")),
            _set(nn.Block, "zero_grad", zero_grad), _rebinding_load()]


@_mutant("zero-grad-keeps-shared-buffer", "lifecycle.gradients-match",
         "zero_grad gives a parameter used at several positions back its gradient buffer, zeroed only when "
         "first allocated, and backward sums into it in place: from the second zero_grad on, a shared "
         "parameter's gradient is not cleared")
def _shared_buffer() -> Patchers:
    def zero_grad(self: nn.Block) -> None:
        uses = Counter(id(p) for _, p in self._every_use())
        for p in self.parameters():
            if uses[id(p)] < 2:
                p.zero_grad()
                continue
            buffer = p.__dict__.get("_mutant_buffer")
            if buffer is None:
                buffer = p.__dict__["_mutant_buffer"] = np.zeros(p.full_shape(), dtype=nn.DTYPE)
            p.grad = buffer

    def accumulate_grad(self: nn.Parameter, g: np.ndarray) -> None:
        g = np.asarray(g, dtype=nn.DTYPE)
        if self.grad is None:
            self.grad = g.copy()
        else:
            self.grad += g

    return [_set(nn.Block, "zero_grad", zero_grad), _set(nn.Parameter, "accumulate_grad", accumulate_grad)]


@_mutant("step-freezes-weights", "lifecycle.operations-succeed",
         "the optimiser step replaces each parameter's array by its update, made read-only (a functional "
         "update frozen for safety): writing into or loading a trained model raises")
def _frozen_by_step() -> Patchers:
    def step(self: nn.SGD) -> None:
        for p in self.params:
            if p.grad is not None:
                new = p.value() - nn.DTYPE.type(self.lr) * p.grad
                new.flags.writeable = False
                p.data = new

    return [_set(nn.SGD, "step", step)]


# -- which tests belong to a clause ---------------------------------------------------


def clause_tests() -> dict[str, list[str]]:
    """Clause id -> names of the property tests carrying its ``clause`` mark."""
    import importlib
    import pkgutil

    import conformance.properties as props

    out: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(props.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"{props.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("test_") and callable(obj):
                for mark in getattr(obj, "pytestmark", []):
                    if mark.name == "clause":
                        out.setdefault(mark.args[0], []).append(name)
    return out


def selection(clauses: Iterable[str]) -> str:
    """A ``-k`` expression selecting exactly the tests of ``clauses``."""
    tests = clause_tests()
    chosen = sorted({t for c in clauses for t in tests.get(c, [])})
    missing = [c for c in clauses if c not in tests]
    if missing:
        raise ValueError(f"no property test carries clause(s) {missing}")
    every = {t for ts in tests.values() for t in ts}
    # -k matches substrings: a chosen name inside another test's name would select that test too
    clash = sorted(o for o in every - set(chosen) if any(t in o for t in chosen))
    if clash:
        raise ValueError(f"-k would also select {clash}")
    return " or ".join(chosen)


# -- running one mutant (in this process) -------------------------------------------------


def run_here(mutant_id: str | None, *, clauses: Sequence[str] | None, seed: int, max_examples: int,
             full: bool) -> dict[str, Any]:
    """Run the catalogue against the reference, mutated by ``mutant_id``
    (None: unmutated), restricted to ``clauses``' tests unless ``full``;
    return the verdicts. Meant for a fresh interpreter (see :func:`run`)."""
    import pytest

    from conformance.proof._run import pytest_args

    mutant = MUTANTS[mutant_id] if mutant_id else None
    if clauses is None and mutant is not None:
        clauses = mutant.clauses
    if clauses is None and not full:
        raise ValueError("the unmutated reference needs clauses to run, or full mode")
    clauses = clauses or ()
    extra = ["--max-examples", str(max_examples)] + ([] if full else ["-k", selection(clauses)])
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        # pytest in this process, where the patch is: `conformance run` would
        # run the catalogue in a child process, without it.
        argv = pytest_args("reference", seed, Path(tmp), *extra)
        with mutant.applied() if mutant else nullcontext(), redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            code = int(pytest.main(argv))
            seconds = time.perf_counter() - start
        files = list(Path(tmp).glob("conformance-reference-*.json"))
        if len(files) != 1:
            raise RuntimeError(f"the run wrote no report (exit status {code})")
        report = json.loads(files[0].read_text(encoding="utf-8"))
    verdicts = {r["spec"]: r["verdict"] for r in report["results"] if r["tests"]}
    return {
        "mutant": mutant_id,
        "seed": seed,
        "mode": "full" if full else "intended",
        "clauses": list(clauses),
        "verdicts": verdicts,
        "killed_by": sorted(c for c, v in verdicts.items() if v == "violated"),
        "killed": bool(clauses) and all(verdicts.get(c) == "violated" for c in clauses),
        "seconds": round(seconds, 2),
        "exit_status": code,
    }


# -- running mutants (each in a fresh interpreter) ------------------------------------------


def run(mutant_id: str | None, *, seed: int, clauses: Sequence[str] | None = None, full: bool = False,
        max_examples: int = 100, timeout: float = 900) -> dict[str, Any]:
    """:func:`run_here` in a fresh interpreter, so no patch outlives its run."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "conformance.proof.mutants", "run", *([mutant_id] if mutant_id else []),
               "--seed", str(seed), "--max-examples", str(max_examples), "--result", str(out)]
        cmd += ["--full"] if full else []
        for c in clauses or ():
            cmd += ["--clause", c]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp, check=False)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def run_all(jobs: Sequence[dict[str, Any]], *, workers: int = 2) -> list[dict[str, Any]]:
    """:func:`run` for each job (its keyword arguments), ``workers`` at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run(**job), jobs))


# -- the table ------------------------------------------------------------------------------

#: The meta-test's seed, and the table's first one.
SEED = 20261122
#: More seeds for the table's kill rates (at least five in all, for the statistical mutants).
EXTRA_SEEDS = (1, 2, 3, 4)


def score_line(killed: int, total: int) -> str:
    return f"mutation score: {killed}/{total} = {round(100 * killed / total)} %"


def build_table(*, seeds: Sequence[int], full: bool, max_examples: int, workers: int,
                only: Sequence[str] | None = None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the mutants (``only`` these, merged into the ``previous`` table,
    whose rows of the others are kept) and return the table."""
    ids = list(only) if only is not None else list(MUTANTS)
    jobs = [{"mutant_id": m, "seed": s, "max_examples": max_examples} for s in seeds for m in ids]
    baseline = run(None, seed=seeds[0], max_examples=max_examples,
                   clauses=sorted({c for m in ids for c in MUTANTS[m].clauses}))
    results = run_all(jobs, workers=workers)
    fulls = run_all([{"mutant_id": m, "seed": seeds[0], "max_examples": max_examples, "full": True}
                     for m in ids], workers=workers) if full else []
    kept = {r["id"]: r for r in (previous or {}).get("mutants", []) if r["id"] not in ids}
    new = {}
    for m in ids:
        mine = [r for r in results if r["mutant"] == m]
        first = next(r for r in mine if r["seed"] == seeds[0])
        new[m] = {
            "id": m,
            "area": MUTANTS[m].area,
            "bug": MUTANTS[m].bug,
            "clauses": list(MUTANTS[m].clauses),
            "killed": first["killed"],
            "seconds": first["seconds"],
            "kills_over_seeds": {str(r["seed"]): r["killed"] for r in mine},
            "killed_by_full": next((r["killed_by"] for r in fulls if r["mutant"] == m), None),
        }
        if only is not None:
            new[m]["added"] = True  # run later than the rest, against the catalogue of its day
    rows = [new[m] if m in new else kept[m] for m in MUTANTS if m in new or m in kept]
    verdicts = {**(previous or {}).get("baseline", {}).get("verdicts", {}), **baseline["verdicts"]}
    killed = sum(r["killed"] for r in rows)
    return {
        "seed": seeds[0],
        "seeds": list(seeds),
        "max_examples": max_examples,
        "baseline": {"holds": all(v == "holds" for v in verdicts.values()), "verdicts": verdicts},
        "mutants": rows,
        "score": {"killed": killed, "total": len(rows), "line": score_line(killed, len(rows))},
    }


def render(table: dict[str, Any]) -> str:
    seeds = table["seeds"]
    lines = [
        "# Mutation score of the catalogue against the reference",
        "",
        "Generated by `python -m conformance.proof.mutants table`; the mutants are",
        "`conformance/proof/mutants.py`. *Killed* means the intended clause's verdict is",
        f"`violated` in a run of only that clause's tests (`-k`) at seed {table['seed']},",
        f"{table['max_examples']} examples; *time to kill* is that run's wall time.",
        f"*Seeds* is how many of the seeds {', '.join(map(str, seeds))} kill it the same way;",
        "*all killing clauses* come from one run of the whole catalogue at the first seed.",
        "",
        ("Baseline (unmutated reference, the intended clauses): "
         f"{'every one holds' if table['baseline']['holds'] else 'NOT every one holds'}."),
        "",
        ("| mutant | area | bug | intended clause | killed | time to kill (s) | seeds "
         "| all killing clauses (full run) |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    added = [r["id"] for r in table["mutants"] if r.get("added")]
    if added:
        lines[-2:-2] = [
            (f"The rows of {', '.join(f'`{a}`' for a in added)} were added later (`table --only`): "
             "their full runs include every clause of the catalogue as it is now; the other rows' "
             "full runs predate the clauses added since (the lifecycle clauses among them)."),
            "",
        ]
    for r in table["mutants"]:
        over = r["kills_over_seeds"]
        full = r["killed_by_full"]
        lines.append(
            f"| `{r['id']}` | {r['area']} | {r['bug'].replace('|', '&#124;')} "
            f"| {', '.join(f'`{c}`' for c in r['clauses'])} "
            f"| {'yes' if r['killed'] else 'no'} | {r['seconds']:.1f} | {sum(over.values())}/{len(over)} "
            f"| {'-' if full is None else ', '.join(f'`{c}`' for c in full) or 'none'} |"
        )
    lines += ["", table["score"]["line"], ""]
    return "\n".join(lines)


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.proof.mutants",
                                description=(__doc__ or "").split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the mutants: id, intended clause(s), bug")
    r = sub.add_parser("run", help="run one mutant (or, without an id, the unmutated reference)")
    r.add_argument("mutant", nargs="?", choices=list(MUTANTS), metavar="MUTANT_ID")
    r.add_argument("--seed", type=int, default=SEED)
    r.add_argument("--max-examples", type=int, default=100)
    r.add_argument("--full", action="store_true", help="the whole catalogue, not only the intended clauses")
    r.add_argument("--clause", action="append", help="run these clauses' tests instead of the intended ones")
    r.add_argument("--result", type=Path, help="write the result as JSON here (default: print it)")
    t = sub.add_parser("table", help="run every mutant and write the Markdown table and its JSON")
    t.add_argument("--out", type=Path, default=Path("reports/proof/mutation.md"))
    t.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[SEED, *EXTRA_SEEDS])
    t.add_argument("--max-examples", type=int, default=100)
    t.add_argument("--no-full", action="store_true", help="skip the whole-catalogue run of each mutant")
    t.add_argument("--jobs", type=int, default=2)
    t.add_argument("--only", type=lambda s: s.split(","), metavar="ID,ID",
                   help="run only these mutants and merge their rows into the table already at --out")
    args = p.parse_args(argv)

    if args.command == "list":
        for m in MUTANTS.values():
            print(f"{m.id:<32} {', '.join(m.clauses):<48} {m.bug}")
        return 0
    if args.command == "run":
        result = run_here(args.mutant, clauses=args.clause, seed=args.seed, max_examples=args.max_examples,
                          full=args.full)
        text = json.dumps(result, indent=1)
        if args.result:
            args.result.write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    previous = None
    if args.only:
        unknown = [m for m in args.only if m not in MUTANTS]
        if unknown:
            p.error(f"unknown mutants {unknown}")
        previous = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        if previous["seeds"] != args.seeds or previous["max_examples"] != args.max_examples:
            p.error("--only merges into a table of the same --seeds and --max-examples")
    table = build_table(seeds=args.seeds, full=not args.no_full, max_examples=args.max_examples,
                        workers=args.jobs, only=args.only, previous=previous)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(table), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(table["score"]["line"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
