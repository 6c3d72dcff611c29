"""A model's lifecycle as a Hypothesis rule-based state machine, with a mirror.

Each clause of the catalogue checks one operation on a fresh model. Bugs in
parameter management often need a sequence: tie, step, save, load, write,
step again. :class:`LifecycleMachine` draws such sequences. Every rule is one
documented operation, performed through the adapter's primitives (each the
framework's own idiom): build (with shared layers and shared parameters),
initialise (a built-in or the custom initialiser, on the model or a
sub-block, with and without force), write (an element, a slice, a whole
value), forward, backward, optimiser step, zero gradients, a training step
(the three in a row), save weights, load them in each documented mode, save
and load a whole model, copy, load an in-memory state, discard a model. A
rule exists only where the framework's profile has the capability
(preconditions read ``adapter.facts``, never a name).

Beside the framework the machine keeps a **mirror**: which parameter objects
the architecture has and where each is reached (:meth:`Arch.positions`),
which models share storage (only where a documented operation aliases,
``facts.aliasing``), the values and gradient of every parameter of every
model, what each saved file holds. The numpy oracle
(:mod:`conformance.reference.functional`) computes what forward and backward
must give. After every step one invariant, :meth:`LifecycleMachine.check`,
compares the framework with the mirror, clause by clause (:data:`CLAUSES`):

``lifecycle.operations-succeed``
    every operation applies (a documented refusal, ``NotApplicable``, is not a
    failure: the step is skipped);
``lifecycle.ties-kept``
    every parameter reached at several positions is one object there, distinct
    parameters are distinct objects, and no two models share a parameter object;
``lifecycle.listings-agree``
    the all-parameters listing holds each parameter object once, with the
    names and order it had when the model was made (the source's, for a copy
    of a framework with positional names); the state dict keeps its keys, each
    holding the value of the parameter at its position;
``lifecycle.untouched-unchanged``
    what a step does not touch (the mirror says what it touches, aliases
    included) keeps its value and gradient bit for bit, in every model;
``lifecycle.gradients-match``
    after a backward pass (or a training step) each gradient is the oracle's,
    a shared parameter's the sum over its uses; after zero_grad every gradient
    is empty or zero;
``lifecycle.values-match``
    what a step touches holds what the mirror computes: exactly for writes,
    loads, copies, zeros and constants; within the init's documented support
    for random initialisers; within a float32 bound for an SGD step (computed
    from the gradients, hence checked after them); the forward output within
    the oracle's tolerance.

**Attribution.** One bug can break several invariants in a row (a tie broken
by a load then makes the next step's values wrong). A machine made for one
clause (``lifecycle_machine(adapter, clause=C)``) checks C's preconditions
(:data:`PRECONDITIONS`) first: when one of them fails, the sequence has left
the states C speaks about, so the machine *derails* (every later step and
check does nothing) instead of failing; C's own failure raises
:class:`LifecycleViolation`; the other clauses are left to their own
machines. For ``lifecycle.operations-succeed`` every other clause is a
precondition: an operation that raises on a model some other clause already
found broken is that clause's finding; in the other machines, an operation
that raises takes the model it acted on out of the sequence, is not drawn
again for a new model, and the sequence goes on (a framework with one failing
operation is still checked on everything else). Whatever a machine does not
check it still adopts from the framework, so a failure it leaves to another
clause never shows up later as its own. So each clause's verdict, and its shrunk
counterexample, is about that clause. A machine made without a clause raises
on the first failing invariant, in the order of :data:`CLAUSES`, naming its
clause: what a framework's CI runs in one line.

**Random initialisers** cannot be mirrored bit for bit: the framework draws
from its own generator. After such a step the mirror checks the law's
support (every entry of U(-a, a) within [-a, a], Xavier's bound, the
mixture's {0} and 5 <= |w| <= 10, the documented truncation) and then
adopts the framework's values; the distribution itself is the statistical
clauses' business. Deterministic initialisers (zeros, constants) are
mirrored exactly, and so is whether an initialiser may run at all: without
force, a framework with an explicit initialise step leaves an initialised
model as it is.

**Tolerances.** A step's expectation is computed from the values the mirror
holds before it, which are the framework's own values as last checked: the
mirror adopts them after every check. Rounding never accumulates over a
sequence, and every bound is about one step: bit for bit where the
operation is exact; ``4 eps32 (|w| + |lr g|) + tiny32`` per entry for
``w - lr g`` (one float32 rounding of each term, four times over); for
forward outputs and gradients ``atol + rtol * B`` with ``B`` the same
network applied to absolute values (``facts.atol``/``facts.rtol``, as
:mod:`conformance.properties._support` does); a backward pass whose ReLU
inputs lie within that bound of the kink is not compared (float32 and
float64 may take different sides there) and its gradients become unknown.
The learning rate is scaled by ``1 / max(1, max |g|)`` so no entry moves by
more than the drawn rate and values stay of order one.

**Gradients** the frameworks treat differently across operations (a load,
an initialiser, a copy may keep, reset or drop them) become *unknown* in the
mirror; a zero_grad makes them known again. A backward pass runs only on a
model whose gradients are empty (some frameworks accumulate, some
overwrite), and an optimiser step only right after a backward pass (some
frameworks refuse a stale gradient).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import unittest
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, ClassVar, cast

import numpy as np
from hypothesis import Phase
from hypothesis import errors as hypothesis_errors
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance import hypothesis_profile
from conformance.adapters.base import Adapter, Init, NotApplicable
from conformance.arch import Arch, Dense, Kind, ParamRef, Path, Position, Sequential
from conformance.properties._laws import TRUNCATED_STD
from conformance.properties._support import (
    assert_close,
    assert_same_values,
    build,
    forward_tolerance,
    grad_tolerance,
    relu_margin_ok,
)
from conformance.reference import functional
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_TIED,
    MXNET_SHARED,
    TIED_ACROSS_BLOCKS,
    TIED_AUTOENCODER,
    architectures,
    framework_capabilities,
    index_into,
)

__all__ = [
    "CLAUSES",
    "PRECONDITIONS",
    "SCRIPTS",
    "LifecycleMachine",
    "LifecycleViolation",
    "lifecycle_machine",
    "checked_together",
    "lifecycle_settings",
    "run_lifecycle",
    "run_scripts",
]

#: The lifecycle clauses, in the order the invariant checks them.
CLAUSES: tuple[str, ...] = (
    "lifecycle.operations-succeed",
    "lifecycle.ties-kept",
    "lifecycle.listings-agree",
    "lifecycle.untouched-unchanged",
    "lifecycle.gradients-match",
    "lifecycle.values-match",
)

#: The machine runs the run's ``--max-examples`` divided by this, each
#: example up to ``STEPS`` steps: a few hundred steps per clause per run.
EXAMPLES_DIVISOR = 5
STEPS = 25
#: At most this many models live at once (built, copied, loaded whole).
MAX_MODELS = 3

_EPS32 = float(np.finfo(np.float32).eps)
_TINY32 = float(np.finfo(np.float32).tiny)


def lifecycle_settings(*, max_examples: int | None = None, parent: Settings | None = None,
                       shrink: bool = True) -> Settings:
    """The machine's settings: the ``conformance`` Hypothesis profile (the
    run's ``--max-examples``, no deadline, no database), ``max_examples`` (or
    the profile's) divided by :data:`EXAMPLES_DIVISOR`, at least one, and
    :data:`STEPS` steps per example; without shrinking where ``shrink`` is
    false (a run whose failure is only a signal to run another)."""
    base = parent if parent is not None else hypothesis_profile.get()
    n = max(1, (max_examples if max_examples is not None else base.max_examples) // EXAMPLES_DIVISOR)
    phases = base.phases if shrink else tuple(p for p in base.phases if p is not Phase.shrink)
    return Settings(base, max_examples=n, stateful_step_count=STEPS, phases=phases)


class LifecycleViolation(AssertionError):
    """An invariant of the lifecycle failed; ``clause`` is its clause id."""

    def __init__(self, clause: str, message: str) -> None:
        super().__init__(message)
        self.clause = clause


class _OperationFailed(Exception):
    """A framework operation raised (not a documented refusal)."""


class _ObservationFailed(Exception):
    """Reading a model back after a step raised."""


# -- the mirror ------------------------------------------------------------------------------


class _Unknown:
    """A gradient the mirror cannot say anything about."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
#: a gradient in the mirror: None when empty (no gradient, or zeros), an
#: array (canonical layout) when known, UNKNOWN otherwise
Grad = Any


class _Storage:
    """One parameter's values (canonical layout, float32). Two models hold
    one storage only after an operation documented to alias (``facts.aliasing``)."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value


@dataclass(frozen=True)
class ModelRef:
    """What the ``models`` bundle holds: the index of a model in the machine.
    The printed program calls it ``models_<index>``."""

    index: int

    def __repr__(self) -> str:
        return f"models_{self.index}"


@dataclass(eq=False)
class _Model:
    name: str
    native: Any
    storage: dict[ParamRef, _Storage]
    grads: dict[ParamRef, Grad]
    fresh: bool = False  # a backward pass since the last step, zero_grad, load or initialisation
    # what the model's listings were when it was made (None: record at the next check)
    names: list[str] | None = None
    listing: list[ParamRef] | None = None
    keys: list[str] | None = None


@dataclass(frozen=True)
class FileRef:
    """What the file bundles hold; printed as ``weight_files_<i>`` / ``model_files_<i>``."""

    kind: str
    index: int

    def __repr__(self) -> str:
        return f"{self.kind}_{self.index}"


@dataclass(eq=False)
class _File:
    name: str
    path: FsPath | None  # None: the framework refused to save this model
    values: dict[ParamRef, np.ndarray]
    source: str
    names: list[str] | None = None
    listing: list[ParamRef] | None = None
    keys: list[str] | None = None


@dataclass
class _Want:
    """What one parameter of one model must hold after a step."""

    kind: str  # "exact", "close", "law" or "any"
    value: np.ndarray | None = None
    tol: Any = 0.0
    law: Callable[[np.ndarray], str | None] | None = None
    why: str = ""


@dataclass
class _Step:
    """What the last rule did and what the mirror expects of it."""

    what: str
    rule: str
    values: dict[tuple[str, ParamRef], _Want] = field(default_factory=dict)
    grads: dict[str, Any] = field(default_factory=dict)  # model -> "clear" | "unknown" | (want, tol)
    forward: tuple[np.ndarray, np.ndarray, Any] | None = None
    failed: str | None = None
    unchecked: bool = False  # refused by the framework midway: adopt what is there
    skipped: bool = False  # the rule found nothing to do (no fresh gradient, gradients not empty)
    acting: str | None = None  # the model the operation acts on in place


# -- strategies that depend on the machine (drawn through st.runner()) ----------------------


@st.composite
def _with_capabilities(draw: st.DrawFn, strategy: st.SearchStrategy[Any], caps: frozenset[str]) -> Any:
    """``strategy`` drawn as for a framework with ``caps`` (so a third-party CI
    running the machine without the plugin draws what its framework builds)."""
    with framework_capabilities(caps):
        return draw(strategy)


def _on_machine(make: Callable[[LifecycleMachine], st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A strategy made from the running machine (its adapter's facts, its
    architecture), made once per machine: the architecture is drawn first
    and never changes, and a strategy made anew at every draw is validated
    anew at every draw."""

    def cached(machine: LifecycleMachine) -> st.SearchStrategy[Any]:
        made = machine._strategies.get(make)
        if made is None:
            made = machine._strategies[make] = make(machine)
        return made

    return st.runner().flatmap(cached)


def _architectures(machine: LifecycleMachine) -> st.SearchStrategy[Arch]:
    # Small networks, always with a parameter reached at two positions (a
    # shared layer or, where the framework has it, a parameter shared by
    # distinct layers): the lifecycle is about what happens to them.
    archs = architectures(max_depth=2, max_children=3, max_width=4, require_tie=True,
                          share_params=None, custom=None)
    return _shown(_with_capabilities(archs, machine.adapter.facts.capabilities))


def _index_in(shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """None (the whole value), one element, or a slice of an array of ``shape``."""
    element = st.tuples(*(st.integers(0, n - 1) for n in shape))
    return st.one_of(st.none(), element, index_into(shape))


def _write_targets(machine: LifecycleMachine) -> st.SearchStrategy[tuple[ParamRef, Any]]:
    refs = machine.info.refs
    return st.sampled_from(refs).flatmap(
        lambda ref: st.tuples(st.just(ref), _index_in(machine.native_shape(ref))))


def _block_paths(machine: LifecycleMachine) -> st.SearchStrategy[Path]:
    paths = [()] + [p for p, n in machine.arch.walk() if isinstance(n, (Sequential, Dense))]
    return st.sampled_from(paths)


def _f32s(low: float, high: float, **kw: Any) -> st.SearchStrategy[float]:
    """float32 values in [low, high] (the bounds rounded to float32)."""
    return st.floats(float(np.float32(low)), float(np.float32(high)), allow_nan=False, allow_infinity=False,
                     width=32, **kw)


class Shown:
    """A drawn value with the short constructor-like text the printed program
    shows for it (Hypothesis would print every field of a dataclass on a line
    of its own): ``Dense(8, tie='shared')``, ``Init('constant', value=42.0)``."""

    def __init__(self, value: Any, text: str) -> None:
        self.value = value
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


def _fields(obj: Any, positional: tuple[str, ...] = ()) -> str:
    """``obj``'s fields that differ from their defaults, as keyword arguments
    (those in ``positional`` first, without their names)."""
    parts = []
    for f in dataclasses.fields(obj):
        if not f.init:
            continue
        v = getattr(obj, f.name)
        if f.name in positional:
            parts.append(_code(v))
        elif f.default is dataclasses.MISSING or v != f.default:
            parts.append(f"{f.name}={_code(v)}")
    return ", ".join(parts)


def _code(obj: Any) -> str:
    """A short constructor expression for an architecture, a node or an Init."""
    if isinstance(obj, Arch):
        lazy = ", lazy=True" if obj.lazy else ""
        return f"Arch({_code(obj.root)}, input_dim={obj.input_dim}{lazy})"
    if isinstance(obj, Sequential):
        inner = ", ".join(_code(c) for c in obj.children)
        rest = _fields(dataclasses.replace(obj, children=()))
        rest = ", ".join(p for p in rest.split(", ") if p and not p.startswith("children="))
        return f"Sequential(({inner}{',' if len(obj.children) == 1 else ''}){', ' + rest if rest else ''})"
    if isinstance(obj, Dense):
        return f"Dense({_fields(obj, ('units',))})"
    if isinstance(obj, Init):
        return f"Init({_fields(obj, ('kind',))})"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return f"{type(obj).__name__}({_fields(obj)})"
    return repr(obj)


def _shown(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy``'s values, each printed by :func:`_code` (None stays None)."""
    return strategy.map(lambda v: v if v is None else Shown(v, _code(v)))


def _unwrap(v: Any) -> Any:
    return v.value if isinstance(v, Shown) else v


def _inits(machine: LifecycleMachine, role: Kind) -> st.SearchStrategy[Init | None]:
    """Initialisers the framework documents for ``role``: the built-ins
    (Xavier for weights only, the normal centred where the framework's is),
    the chapter's custom mixture (weights, where the framework has custom
    initialisers), or None (leave that role alone)."""
    facts = machine.adapter.facts
    mean = st.just(0.0) if facts.normal_mean == "zero-only" else _f32s(-1.0, 1.0)
    kinds = [
        st.builds(Init, st.just("normal"), mean=mean, std=_f32s(0.01, 1.0)),
        st.just(Init("zeros")),
        st.builds(Init, st.just("constant"), value=_f32s(-4.0, 4.0, allow_subnormal=False)),
        # symmetric: U(-a, a) is what every framework's uniform initialiser expresses
        _f32s(0.01, 3.0).map(lambda a: Init("uniform", low=-a, high=a)),
    ]
    if role == "weight":
        kinds += [st.just(Init("xavier_uniform")), st.just(Init("xavier_normal"))]
        if "custom_initializer" in facts.capabilities:
            kinds.append(st.just(Init("mixture")))
    return st.none() | _shown(st.one_of(kinds))


def _forces(machine: LifecycleMachine) -> st.SearchStrategy[bool]:
    # force is Gluon's force_reinit: drawn where the framework has an explicit
    # initialise step; elsewhere an initialiser always applies.
    return st.booleans() if machine.explicit_init else st.just(True)


def _modes(attr: str) -> Callable[[LifecycleMachine], st.SearchStrategy[str]]:
    return lambda machine: st.sampled_from(getattr(machine.adapter.facts, attr))


_SEEDS = st.integers(0, 2**32 - 1)


# -- init laws ---------------------------------------------------------------------------------


def _law(spec: Init, facts: Any) -> Callable[[np.ndarray], str | None]:
    """What an initialiser documents of every entry, checked without
    statistics: zeros and constants exactly, U(-a, a) and Xavier uniform
    within their bound, a documented truncation within 2 std, the mixture in
    {0} and [5, 10] in absolute value; every value finite."""

    def within(bound: float) -> Callable[[np.ndarray], str | None]:
        slack = 2 * float(np.spacing(np.float32(bound)))

        def check(v: np.ndarray) -> str | None:
            worst = float(np.abs(v).max()) if v.size else 0.0
            if worst <= bound + slack:
                return None
            return f"|entry| up to {worst!r} outside [-{bound!r}, {bound!r}]"

        return check

    def fans(v: np.ndarray) -> tuple[int, int]:
        return (v.shape[1], v.shape[0]) if v.ndim == 2 else (v.shape[0], v.shape[0])

    def law(v: np.ndarray) -> str | None:
        if not np.isfinite(v).all():
            return "entries are not finite"
        if spec.kind == "zeros":
            return None if not v.any() else f"{int(np.count_nonzero(v))} entries are not 0"
        if spec.kind == "constant":
            c = np.float32(spec.value)
            return None if (v == c).all() else f"entries differ from constant {c!r}: {v.ravel()[:4].tolist()}"
        if spec.kind == "uniform":
            return within(max(abs(spec.low), abs(spec.high)))(v)
        if spec.kind == "xavier_uniform":
            fi, fo = fans(v)
            return within(float(np.sqrt(6.0 / (fi + fo))))(v)
        if spec.kind == "xavier_normal" and facts.xavier_normal_truncated:
            fi, fo = fans(v)
            return within(2 * float(np.sqrt(2.0 / (fi + fo))) / TRUNCATED_STD)(v)
        if spec.kind == "mixture":
            a = np.abs(v)
            bad = (a != 0) & ((a < 5.0) | (a > 10.0))
            if not bad.any():
                return None
            return f"entries outside {{0}} and 5 <= |w| <= 10: {v[bad][:4].tolist()}"
        return None  # normal, untruncated Xavier normal: no bound to check

    return law


# -- the machine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ArchInfo:
    """What the machine asks of its architecture at every check, computed once."""

    refs: list[ParamRef]
    shapes: dict[ParamRef, tuple[int, ...]]
    positions: dict[ParamRef, list[Position]]
    shared: dict[ParamRef, list[Position]]
    uses: tuple[Any, ...]

    @classmethod
    def of(cls, arch: Arch) -> _ArchInfo:
        return cls(arch.param_refs(), arch.param_shapes(), arch.positions(), arch.shared_params(),
                   arch.dense_uses())


# The rules' preconditions, named functions rather than lambdas: Hypothesis
# describes every precondition it evaluates, and describing a lambda parses
# this module's source (about half a second a run, for nine lambdas).
def _has_room(self: LifecycleMachine) -> bool:
    return self._room()


def _two_live_models(self: LifecycleMachine) -> bool:
    return self._derailed is None and len(self._live_models()) > 1


def _explicit_init(self: LifecycleMachine) -> bool:
    return self.explicit_init


def _gradients_empty_somewhere(self: LifecycleMachine) -> bool:
    return any(all(g is None for g in m.grads.values()) for m in self._live_models())


def _fresh_gradients_somewhere(self: LifecycleMachine) -> bool:
    return any(m.fresh for m in self._live_models())


def _saves_whole_models(self: LifecycleMachine) -> bool:
    return "whole_model_save" in self.facts.capabilities


def _can_load_a_model(self: LifecycleMachine) -> bool:
    return self._room() and "load_model" not in self._refused


def _can_copy(self: LifecycleMachine) -> bool:
    return self._room() and "model_copy" in self.facts.capabilities and "copy" not in self._refused


def _has_in_memory_state(self: LifecycleMachine) -> bool:
    return "in_memory_state" in self.facts.capabilities


class LifecycleMachine(RuleBasedStateMachine):
    """The lifecycle of models of one drawn architecture, against a mirror.

    Not used directly: :func:`lifecycle_machine` makes a subclass bound to an
    adapter (class or instance) and, optionally, to one clause."""

    #: the adapter class, and the instance every machine of the class uses
    adapter_class: ClassVar[type[Adapter] | None] = None
    bound_adapter: ClassVar[Adapter | None] = None
    #: the clause whose failures raise (those before it derail); None: every clause raises
    clause: ClassVar[str | None] = None
    #: instead of ``clause``: the clauses whose failures raise, checked
    #: together, every other one derailing (:func:`checked_together`)
    together: ClassVar[frozenset[str] | None] = None
    #: when set, counts every rule that performed its operation (the suite's
    #: own tests read it to see that every rule runs)
    performed: ClassVar[Counter[str] | None] = None

    models = Bundle("models")
    weight_files = Bundle("weight_files")
    model_files = Bundle("model_files")

    def __init__(self) -> None:
        super().__init__()
        self.adapter = type(self).get_adapter()
        facts = self.adapter.facts
        self.explicit_init = "explicit_initialize" in facts.capabilities
        self.arch: Arch = Arch(Sequential((Dense(1),)), 1)  # replaced by start()
        self.info = _ArchInfo.of(self.arch)
        self._models: list[_Model | None] = []
        self._files: dict[str, _File] = {}
        self._file_counts = {"weight_files": 0, "model_files": 0}
        self._step: _Step | None = None
        self._derailed: str | None = None
        self._refused: set[str] = set()  # operations the framework refused for this architecture
        self._keymap: dict[str, ParamRef] = {}
        self._strategies: dict[Any, st.SearchStrategy[Any]] = {}
        self._batches = 0  # training steps so far: the seed of the next one's batch
        self._tmp = FsPath(tempfile.mkdtemp(prefix="conformance-lifecycle-"))
        self._checks = _checks_for(type(self).clause, type(self).together)

    @classmethod
    def get_adapter(cls) -> Adapter:
        if cls.bound_adapter is None:
            if cls.adapter_class is None:
                raise TypeError("make a machine with lifecycle_machine(adapter), not LifecycleMachine itself")
            if not cls.adapter_class.installed():
                raise unittest.SkipTest(f"{cls.adapter_class.module} is not installed")
            cls.bound_adapter = cls.adapter_class()
        return cls.bound_adapter

    def teardown(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    @property
    def facts(self) -> Any:
        return self.adapter.facts

    def native_shape(self, ref: ParamRef) -> tuple[int, ...]:
        shape = self.info.shapes[ref]
        if ref[1] == "bias":
            return shape
        return self.adapter.native_shape("weight", shape[1], shape[0])

    def _live(self, handle: ModelRef) -> _Model | None:
        """The model behind a handle, None once the machine has derailed or
        when the handle names a model the framework refused to make."""
        if self._derailed is not None:
            return None
        return self._models[handle.index]

    def _live_models(self) -> list[_Model]:
        return [m for m in self._models if m is not None]

    def _room(self) -> bool:
        return self._derailed is None and len(self._live_models()) < MAX_MODELS

    def _begin(self, rule: str, what: str, *, acting: _Model | None = None) -> _Step:
        """The step a rule performs; ``acting``: the model it acts on in place."""
        self._step = _Step(what, rule, acting=None if acting is None else acting.name)
        return self._step

    @contextlib.contextmanager
    def _operation(self, step: _Step, what: str) -> Iterator[None]:
        """Run a framework operation: a documented refusal (NotApplicable) or
        a refused architecture (Unbuildable) propagates; anything else it
        raises fails the step (lifecycle.operations-succeed)."""
        try:
            with warnings.catch_warnings():
                # Gluon (and the reference) warn that initialised parameters are
                # skipped without force_reinit: the documented behaviour asked for.
                warnings.simplefilter("ignore")
                yield
        except (NotApplicable, hypothesis_errors.UnsatisfiedAssumption):
            raise
        except Exception as exc:
            step.failed = f"{what} raised {type(exc).__name__}: {str(exc).strip()[:500]}"
            raise _OperationFailed(step.failed) from exc

    def _values_of(self, m: _Model) -> dict[ParamRef, np.ndarray]:
        return {ref: s.value for ref, s in m.storage.items()}

    def _holders(self, storage: _Storage) -> list[tuple[_Model, ParamRef]]:
        return [(m, ref) for m in self._live_models() for ref, s in m.storage.items() if s is storage]

    def _grads_of_aliases(self, step: _Step, m: _Model) -> None:
        """After a rule changed ``m``'s gradients: those of every other model
        sharing storage with it (documented aliasing) are no longer known.
        Whether two such models have one gradient slot depends on whether they
        share the parameter *objects* (NNX's merge and clone-shared do, and the
        slot is the object's) or only the storage (torch's assign load gives
        new Parameters on the source's tensors, each with a .grad of its own),
        so the mirror commits to neither, and takes away the other model's
        pending step."""
        mine = {id(s) for s in m.storage.values()}
        for other in self._live_models():
            if other is not m and any(id(s) in mine for s in other.storage.values()):
                step.grads[other.name] = "unknown"
                other.fresh = False

    def _touch(self, step: _Step, m: _Model, ref: ParamRef, want: _Want) -> None:
        """``want`` for ``ref`` of ``m`` and of every model sharing its storage."""
        for holder, r in self._holders(m.storage[ref]):
            step.values[(holder.name, r)] = want

    def _add_model(self, native: Any, values: dict[ParamRef, np.ndarray], *, want: str,
                   storage: dict[ParamRef, _Storage] | None = None, inherit: Any = None) -> ModelRef:
        """A new model in the mirror; ``want`` "exact" (it must hold ``values``)
        or "any" (adopt what it holds). ``inherit``: the record whose listings
        it must agree with where they are a function of the structure."""
        handle = ModelRef(len(self._models))
        name = repr(handle)
        m = _Model(name, native, storage or {ref: _Storage(v.copy()) for ref, v in values.items()},
                   dict.fromkeys(values, UNKNOWN))
        if inherit is not None:
            if "positional_names" in self.facts.capabilities:
                m.names = inherit.names
            if "structural_state_dict" in self.facts.capabilities:
                m.keys = inherit.keys
            m.listing = inherit.listing
        self._models.append(m)
        step = self._step
        assert step is not None
        for ref, v in values.items():
            step.values[(m.name, ref)] = _Want(want, v)
        step.grads[m.name] = "unknown"
        return handle

    def _reach(self, native: Any, what: str) -> None:
        """Every position of the architecture, reached in ``native`` (a model
        made from a file or a copy): one it lacks fails the operation."""
        for positions in self.info.positions.values():
            for pos in positions:
                try:
                    self.adapter.param_at(native, pos.path, pos.kind)
                except NotApplicable:
                    raise
                except Exception as exc:
                    raise RuntimeError(f"{what} has no {pos.kind} at {pos.path} "
                                       f"({type(exc).__name__}: {exc})") from exc

    def _dead(self) -> ModelRef:
        self._models.append(None)
        return ModelRef(len(self._models) - 1)

    def _new_file(self, bundle: str, m: _Model, path: FsPath | None) -> FileRef:
        ref = FileRef(bundle, self._file_counts[bundle])
        self._file_counts[bundle] += 1
        self._files[repr(ref)] = _File(repr(ref), path, {r: v.copy() for r, v in self._values_of(m).items()},
                                       m.name, m.names, m.listing, m.keys)
        return ref

    def _no_file(self, bundle: str) -> FileRef:
        """A file that was never written (its model is gone), counted all the
        same: the printed program numbers every file a rule returns."""
        ref = FileRef(bundle, self._file_counts[bundle])
        self._file_counts[bundle] += 1
        self._files[repr(ref)] = _File(repr(ref), None, {}, "no model")
        return ref

    def _refused_by(self, step: _Step, exc: NotApplicable, op: str) -> None:
        """The framework documents that it cannot do ``op`` here: the step is
        skipped (what it left is adopted unchecked) and ``op`` not drawn again."""
        step.what += f" (refused: {str(exc).strip()[:200]})"
        step.unchecked = True
        self._refused.add(op)

    # -- rules: building ---------------------------------------------------------------------
    @initialize(target=models, arch=_on_machine(_architectures), seed=_SEEDS,
                values=st.none() | _SEEDS)
    def start(self, arch: Arch | Shown, seed: int, values: int | None) -> ModelRef:
        """The first model of ``arch``: the framework's default initial values
        (``values=None``) or values drawn from the seed ``values``."""
        drawn_arch: Arch = _unwrap(arch)
        self.arch = arch = drawn_arch
        self.info = _ArchInfo.of(arch)
        self._strategies.clear()  # made for the placeholder architecture, if any
        step = self._begin("start", f"building the first model of {_code(arch)}")
        try:
            with self._operation(step, "building the model"):
                native = build(self.adapter, arch, seed)
                if values is not None:
                    self.adapter.write_params(native, _drawn_values(arch, values))
                drawn = self.adapter.read_params(native, arch)
                if "structural_state_dict" in self.facts.capabilities:
                    self._keymap = self._probe_keys(arch, seed)
        except _OperationFailed:
            return self._dead()
        handle = self._add_model(native, drawn, want="any")
        step.grads[repr(handle)] = "clear"  # nothing has run backward on a new model
        return handle

    def _probe_keys(self, arch: Arch, seed: int) -> dict[str, ParamRef]:
        """Which parameter each state-dict key stands for: a throwaway model
        of ``arch`` holding a distinct constant per parameter. The keys of a
        structural state dict are a function of the structure, so the map
        holds for every model of ``arch``."""
        probe = build(self.adapter, arch, seed)
        refs = arch.param_refs()
        marks = {ref: np.full(shape, i + 1, dtype=np.float32) for i, (ref, shape) in
                 enumerate(arch.param_shapes().items())}
        self.adapter.write_params(probe, marks)
        out: dict[str, ParamRef] = {}
        for key, value in self.adapter.state_dict(probe):
            v = np.asarray(value)
            if v.size and (v == v.flat[0]).all() and float(v.flat[0]).is_integer():
                i = int(v.flat[0]) - 1
                if 0 <= i < len(refs) and v.size == marks[refs[i]].size:
                    out[key] = refs[i]
        return out

    @precondition(_has_room)
    @rule(target=models, seed=_SEEDS, values=st.none() | _SEEDS)
    def build_another(self, seed: int, values: int | None) -> ModelRef:
        """Another model of the architecture, built after seeding."""
        step = self._begin("build_another", "building another model")
        try:
            with self._operation(step, "building the model"):
                native = build(self.adapter, self.arch, seed)
                if values is not None:
                    self.adapter.write_params(native, _drawn_values(self.arch, values))
                drawn = self.adapter.read_params(native, self.arch)
        except _OperationFailed:
            return self._dead()
        handle = self._add_model(native, drawn, want="any")
        m = self._models[handle.index]
        assert m is not None
        step.grads[m.name] = "clear"  # nothing has run backward on a new model
        first = next((x for x in self._models if x is not None and x is not m), None)
        if first is not None:
            self._inherit(m, first)
        return handle

    # Not once derailed: the bundle loses what a rule consumes even when the
    # rule does nothing, and an empty bundle would leave no rule to draw.
    @precondition(_two_live_models)
    @rule(model=consumes(models))
    def discard(self, model: ModelRef) -> None:
        """Drop a model (the last reference to it goes): nothing of any other
        model changes, not even of a model documented to alias its storage."""
        m = self._live(model)
        if m is None:
            return
        self._begin("discard", f"discarding {m.name}")
        # The machine's reference is the model's last one; no gc.collect(): a
        # full collection with a framework loaded costs a tenth of a second.
        self._models[model.index] = None
        m.native = None

    def _inherit(self, m: _Model, like: Any) -> None:
        if "positional_names" in self.facts.capabilities:
            m.names = like.names
        if "structural_state_dict" in self.facts.capabilities:
            m.keys = like.keys
        m.listing = like.listing

    # -- rules: initialising and writing ---------------------------------------------------
    @rule(model=models, where=_on_machine(_block_paths),
          weight=_on_machine(lambda m: _inits(m, "weight")), bias=_on_machine(lambda m: _inits(m, "bias")),
          force=_on_machine(_forces))
    def initialise(self, model: ModelRef, where: Path, weight: Init | Shown | None, bias: Init | Shown | None,
                   force: bool) -> None:
        """Initialise the dense layers of the sub-block at ``where`` (``()``:
        the model) with a built-in or the custom initialiser per role."""
        m = self._live(model)
        if m is None:
            return
        w_init: Init | None = _unwrap(weight)
        b_init: Init | None = _unwrap(bias)
        step = self._begin("initialise", f"initialising {m.name} at {where} (weight {_code(w_init)}, "
                                         f"bias {_code(b_init)}, force={force})", acting=m)
        touched: dict[ParamRef, Init] = {}
        if force or not self.explicit_init:
            for use in self.info.uses:
                if use.path[: len(where)] == where:
                    for kind, spec in (("weight", w_init), ("bias", b_init)):
                        if spec is not None:
                            touched[use.ref(kind)] = spec
        try:
            with self._operation(step, "initialising"):
                block = self.adapter.block_at(m.native, where)
                self.adapter.initialize(block, weight=w_init, bias=b_init, force=force)
        except _OperationFailed:
            return
        except NotApplicable as exc:
            self._refused_by(step, exc, "initialise")
            return
        for ref, spec in touched.items():
            self._touch(step, m, ref, _Want("law", law=_law(spec, self.facts), why=f"after {_code(spec)}"))
        if touched:
            step.grads[m.name] = "unknown"
            m.fresh = False

    @precondition(_explicit_init)
    @rule(model=models, init=_on_machine(lambda m: _inits(m, "weight").filter(lambda i: i is not None)),
          force=st.booleans())
    def initialise_all(self, model: ModelRef, init: Init | Shown, force: bool) -> None:
        """The model-wide initialise step (Gluon's ``net.initialize(init,
        force_reinit=force)``): without force an initialised model is left as
        it is; with it every parameter is initialised again (each bias by its
        own initialiser)."""
        m = self._live(model)
        if m is None:
            return
        spec: Init = _unwrap(init)
        step = self._begin("initialise_all",
                           f"initialising all of {m.name} with {_code(spec)} (force={force})", acting=m)
        try:
            with self._operation(step, "initialising the model"):
                self.adapter.initialize_all(m.native, spec, force=force)
        except _OperationFailed:
            return
        except NotApplicable as exc:
            self._refused_by(step, exc, "initialise_all")
            return
        if not force:
            return
        owner = {u.path: u.node for u in self.info.uses}
        bias_law = dict(self.facts.default_bias)
        for ref in self.info.refs:
            node = owner[ref[0]]
            if ref[1] == "weight" and not node.custom:
                want = _Want("law", law=_law(spec, self.facts), why=f"after {_code(spec)}")
            elif ref[1] == "bias" and not node.custom and bias_law.get("family") == "zeros":
                want = _Want("law", law=_law(Init("zeros"), self.facts), why="its own zeros initialiser")
            else:
                want = _Want("any")
            self._touch(step, m, ref, want)
        step.grads[m.name] = "unknown"
        m.fresh = False

    @rule(model=models, where=_on_machine(_write_targets), seed=_SEEDS)
    def write(self, model: ModelRef, where: tuple[ParamRef, Any], seed: int) -> None:
        """Write a value drawn from ``seed`` into one parameter: the whole
        value (index None), one element or a slice (native layout)."""
        m = self._live(model)
        if m is None:
            return
        ref, index = where
        kind = ref[1]
        step = self._begin("write",
                           f"writing into the {kind} of the layer at {ref[0]} of {m.name} at index {index}",
                           acting=m)
        old = self.adapter.to_native(kind, m.storage[ref].value)
        rng = np.random.default_rng(seed)
        new = old.copy()
        try:
            with self._operation(step, "writing"):
                param = self.adapter.param_at(m.native, *ref)
                if index is None:
                    new = rng.uniform(-3, 3, old.shape).astype(np.float32)
                    self.adapter.write(param, new)
                else:
                    part = np.asarray(old[index])
                    value: Any = rng.uniform(-3, 3, part.shape).astype(np.float32)
                    if value.ndim == 0:
                        value = np.float32(value)
                    new[index] = value
                    self.adapter.assign(param, index, value)
        except _OperationFailed:
            return
        self._touch(step, m, ref, _Want("exact", self.adapter.to_canonical(kind, new)))

    # -- rules: computing -------------------------------------------------------------------
    @rule(model=models, seed=_SEEDS)
    def forward(self, model: ModelRef, seed: int) -> None:
        """A forward pass on a batch drawn from ``seed``: it changes nothing."""
        m = self._live(model)
        if m is None:
            return
        step = self._begin("forward", f"a forward pass of {m.name}", acting=m)
        x = _batch(seed, self.arch.input_dim)
        try:
            with self._operation(step, "the forward pass"):
                got = self.adapter.forward(m.native, x)
        except _OperationFailed:
            return
        values = self._values_of(m)
        step.forward = (got, functional.forward(self.arch, values, x),
                        forward_tolerance(self.adapter, self.arch, values, x))

    @precondition(_gradients_empty_somewhere)
    @rule(model=models, seed=_SEEDS)
    def backward(self, model: ModelRef, seed: int) -> None:
        """One backward pass of sum(forward(x) * u), x and u drawn from
        ``seed``, on a model whose gradients are empty."""
        m = self._live(model)
        if m is None:
            return
        if not all(g is None for g in m.grads.values()):
            self._begin("backward", f"no backward pass of {m.name} (gradients not empty)").skipped = True
            return
        step = self._begin("backward", f"a backward pass of {m.name}", acting=m)
        x = _batch(seed, self.arch.input_dim)
        up = _batch(seed + 1, self.arch.output_dim, rows=x.shape[0])
        values = self._values_of(m)
        try:
            with self._operation(step, "the backward pass"):
                self.adapter.backward(m.native, x, up)
        except _OperationFailed:
            return
        if relu_margin_ok(self.adapter, self.arch, values, x):
            step.grads[m.name] = (functional.grads(self.arch, values, x, up),
                                  grad_tolerance(self.adapter, self.arch, values, x, up))
            m.fresh = True
        else:  # a ReLU input within rounding of the kink: no verdict on these gradients
            step.what += " (a ReLU input within rounding of 0: gradients not compared)"
            step.grads[m.name] = "unknown"
            m.fresh = False
        self._grads_of_aliases(step, m)

    @rule(model=models)
    def zero_grad(self, model: ModelRef) -> None:
        """Empty every gradient of the model (the framework's zero_grad)."""
        m = self._live(model)
        if m is None:
            return
        step = self._begin("zero_grad", f"zero_grad of {m.name}", acting=m)
        try:
            with self._operation(step, "zero_grad"):
                self.adapter.zero_grad(m.native)
        except _OperationFailed:
            return
        step.grads[m.name] = "clear"
        m.fresh = False
        self._grads_of_aliases(step, m)

    @precondition(_fresh_gradients_somewhere)
    @rule(model=models, lr=st.floats(1e-3, 0.5))
    def step(self, model: ModelRef, lr: float) -> None:
        """One step of the framework's plain SGD, right after a backward pass:
        W - lr' g for every parameter with a gradient, lr' = lr / max(1, max |g|)."""
        m = self._live(model)
        if m is None:
            return
        if not m.fresh:
            self._begin("step", f"no optimiser step of {m.name} (no backward pass since)").skipped = True
            return
        grads = {ref: g for ref, g in m.grads.items() if isinstance(g, np.ndarray)}
        largest = max((float(np.abs(g).max()) for g in grads.values() if g.size), default=0.0)
        lr = lr / max(1.0, largest)
        step = self._begin("step", f"an SGD step of {m.name} (lr={lr!r})", acting=m)
        try:
            with self._operation(step, "the optimiser step"):
                self.adapter.sgd_step(m.native, lr)
        except _OperationFailed:
            return
        for ref, g in grads.items():
            w = m.storage[ref].value.astype(np.float64)
            d = lr * g.astype(np.float64)
            tol = 4 * _EPS32 * (np.abs(w) + np.abs(d)) + _TINY32
            self._touch(step, m, ref, _Want("close", w - d, tol, why=f"W - lr*g, lr={lr!r}"))
        step.grads[m.name] = "unknown"
        m.fresh = False
        self._grads_of_aliases(step, m)

    @rule(model=models)
    def train(self, model: ModelRef) -> None:
        """One training step as the chapter's loop writes it: zero_grad,
        backward, one SGD step with lr 0.5 / max(1, max |g|), on the machine's
        next batch (the n-th training step of a sequence uses the batch of
        seed n, so the printed program replays it); the gradients must then
        be the oracle's at the values before the step, the values W - lr g
        (within the bound of a step plus lr times the gradient's). The rule
        takes the model only: Hypothesis picks rules with fewer arguments
        more often, and training is what most sequences should do."""
        m = self._live(model)
        if m is None:
            return
        seed, lr = self._batches, 0.5
        self._batches += 1
        x = _batch(seed, self.arch.input_dim)
        up = _batch(seed + 1, self.arch.output_dim, rows=x.shape[0])
        values = self._values_of(m)
        want = functional.grads(self.arch, values, x, up)
        largest = max((float(np.abs(g).max()) for g in want.values() if g.size), default=0.0)
        lr = lr / max(1.0, largest)
        step = self._begin("train", f"a training step of {m.name} (zero_grad, backward, SGD with lr={lr!r})",
                           acting=m)
        try:
            with self._operation(step, "the training step"):
                self.adapter.zero_grad(m.native)
                self.adapter.backward(m.native, x, up)
                self.adapter.sgd_step(m.native, lr)
        except _OperationFailed:
            return
        m.fresh = False
        self._grads_of_aliases(step, m)
        if not relu_margin_ok(self.adapter, self.arch, values, x):
            step.what += " (a ReLU input within rounding of 0: not compared)"
            for ref in m.storage:
                self._touch(step, m, ref, _Want("any"))
            step.grads[m.name] = "unknown"
            return
        gtol = grad_tolerance(self.adapter, self.arch, values, x, up)
        step.grads[m.name] = (want, gtol)
        for ref, g in want.items():
            w = values[ref].astype(np.float64)
            d = lr * g
            tol = 4 * _EPS32 * (np.abs(w) + np.abs(d)) + _TINY32 + lr * gtol[ref]
            why = f"W - lr*g after a training step, lr={lr!r}"
            self._touch(step, m, ref, _Want("close", w - d, tol, why=why))

    # -- rules: saving and loading ------------------------------------------------------------
    @rule(target=weight_files, model=models)
    def save_weights(self, model: ModelRef) -> FileRef:
        """Save the model's weights to a new file (it must hold them as they are now)."""
        m = self._live(model)
        if m is None:
            return self._no_file("weight_files")
        step = self._begin("save_weights", f"saving the weights of {m.name}")
        path: FsPath | None = self._tmp / f"weights-{self._file_counts['weight_files']}"
        try:
            with self._operation(step, "saving weights"):
                self.adapter.save_weights(m.native, path)  # type: ignore[arg-type]
        except _OperationFailed:
            path = None
        except NotApplicable as exc:
            self._refused_by(step, exc, "save_weights")
            path = None
        ref = self._new_file("weight_files", m, path)
        step.what += f" to {ref!r}"
        return ref

    @rule(model=models, file=weight_files, mode=_on_machine(_modes("load_modes")))
    def load_weights(self, model: ModelRef, file: FileRef, mode: str) -> None:
        """Load a weights file into the model in a documented mode: it must
        then hold what the file held when saved."""
        m = self._live(model)
        f = self._files.get(repr(file))
        if m is None or f is None or f.path is None:
            return
        step = self._begin("load_weights",
                           f"loading {f.name} (saved from {f.source}) into {m.name} in mode {mode!r}",
                           acting=m)
        try:
            with self._operation(step, f"loading weights in mode {mode!r}"):
                native = self.adapter.load_weights(m.native, f.path, mode)
        except _OperationFailed:
            return
        except NotApplicable as exc:
            self._refused_by(step, exc, "load_weights")
            return
        self._loaded(step, m, native, f.values, replaces=mode in self.facts.aliasing)

    def _loaded(self, step: _Step, m: _Model, native: Any, values: dict[ParamRef, np.ndarray], *,
                replaces: bool, source: _Model | None = None) -> None:
        """The mirror after loading ``values`` into ``m``: a load copies into
        the model's storage (seen by every model sharing it), unless the mode
        is documented to alias, in which case the model holds the loaded
        object's arrays (``source``'s storage for a state, new ones for a
        file); a load that returns a new model object gives it new storage."""
        if replaces or native is not m.native:
            for ref in m.storage:
                m.storage[ref] = source.storage[ref] if source is not None and replaces else _Storage(
                    m.storage[ref].value.copy())
        m.native = native
        for ref, v in values.items():
            self._touch(step, m, ref, _Want("exact", v.copy()))
        step.grads[m.name] = "unknown"
        m.fresh = False

    @precondition(_saves_whole_models)
    @rule(target=model_files, model=models)
    def save_model(self, model: ModelRef) -> FileRef:
        """Save the whole model to a new file."""
        m = self._live(model)
        if m is None:
            return self._no_file("model_files")
        step = self._begin("save_model", f"saving the whole of {m.name}")
        path: FsPath | None = self._tmp / f"model-{self._file_counts['model_files']}"
        try:
            with self._operation(step, "saving the whole model"):
                self.adapter.save_model(m.native, path)  # type: ignore[arg-type]
        except _OperationFailed:
            path = None
        except NotApplicable as exc:
            self._refused_by(step, exc, "save_model")
            path = None
        ref = self._new_file("model_files", m, path)
        step.what += f" to {ref!r}"
        return ref

    @precondition(_can_load_a_model)
    @rule(target=models, file=model_files)
    def load_model(self, file: FileRef) -> ModelRef:
        """Load a whole-model file as a new model: it holds what was saved,
        its ties, and its source's listings."""
        f = self._files.get(repr(file))
        if f is None or f.path is None or self._derailed is not None:
            return self._dead()
        step = self._begin("load_model", f"loading the whole model {f.name} (saved from {f.source})")
        try:
            with self._operation(step, "loading the whole model"):
                native = self.adapter.load_model(f.path)
                self._reach(native, "the loaded model")
        except _OperationFailed:
            return self._dead()
        except NotApplicable as exc:
            self._refused_by(step, exc, "load_model")
            return self._dead()
        handle = self._add_model(native, f.values, want="exact", inherit=f)
        step.what += f" as {handle!r}"
        return handle

    @precondition(_can_copy)
    @rule(target=models, model=models, op=_on_machine(_modes("copy_ops")))
    def copy(self, model: ModelRef, op: str) -> ModelRef:
        """A new model made from the model by a documented operation: equal
        values, its ties, independent unless the operation is documented to alias."""
        m = self._live(model)
        if m is None or not self._room():
            return self._dead()
        step = self._begin("copy", f"copying {m.name} by {op!r}")
        try:
            with self._operation(step, f"copying by {op!r}"):
                native = self.adapter.copy_model(m.native, op)
                self._reach(native, "the copy")
        except _OperationFailed:
            return self._dead()
        except NotApplicable as exc:  # Unbuildable too: the operation's documentation refuses the model
            self._refused_by(step, exc, "copy")
            return self._dead()
        storage = dict(m.storage) if op in self.facts.aliasing else None
        handle = self._add_model(native, self._values_of(m), want="exact", storage=storage, inherit=m)
        step.what += f" as {handle!r}"
        return handle

    @precondition(_has_in_memory_state)
    @rule(model=models, source=models, mode=_on_machine(_modes("state_load_modes")))
    def load_state(self, model: ModelRef, source: ModelRef, mode: str) -> None:
        """Load ``source``'s in-memory state object into the model in a
        documented mode (taken and loaded at once)."""
        m, s = self._live(model), self._live(source)
        if m is None or s is None:
            return
        step = self._begin("load_state", f"loading the state of {s.name} into {m.name} in mode {mode!r}",
                           acting=m)
        try:
            with self._operation(step, f"loading a state in mode {mode!r}"):
                state = self.adapter.get_state(s.native)
                native = self.adapter.load_state(m.native, state, mode)
        except _OperationFailed:
            return
        except NotApplicable as exc:
            self._refused_by(step, exc, "load_state")
            return
        self._loaded(step, m, native, self._values_of(s), replaces=mode in self.facts.aliasing, source=s)

    # -- the invariant ----------------------------------------------------------------------------
    @invariant()
    def check(self) -> None:
        """Compare the framework with the mirror, clause by clause (:data:`CLAUSES`)."""
        step, self._step = self._step, None
        if self._derailed is not None or step is None:
            return
        counts = type(self).performed
        if counts is not None and not (step.skipped or step.unchecked or step.failed):
            counts[step.rule] += 1
        if step.failed is not None and not self._raises(CLAUSES[0]):
            # Another clause's machine: the failure is lifecycle.operations-succeed's
            # finding. The model the operation acted on leaves the sequence (its
            # state is whatever the failure left), the operation is not drawn
            # again, and the sequence goes on with the rest.
            if step.acting is not None:
                self._models = [None if m is not None and m.name == step.acting else m for m in self._models]
            self._refused.add(step.rule)
            return
        obs = _Observation(self)
        try:
            for clause, raises in self._checks:
                problem = _CHECKS[clause](self, step, obs, raises)
                if problem is not None:
                    self._found(clause, raises, step, problem)
                    return
            self._adopt(step, obs)
        except _ObservationFailed as exc:
            # The models cannot even be read back after the step (a position
            # gone, a value that cannot be read): the step did not leave a
            # usable model, which is lifecycle.operations-succeed's finding.
            # A machine checking clauses together raises it whatever it
            # checks: the read that failed may be one a clause's own machine
            # never makes, so derailing here could part their sequences.
            clause = CLAUSES[0]
            self._found(clause, self._raises(clause) or type(self).together is not None, step, str(exc))

    def _raises(self, clause: str) -> bool:
        return any(c == clause and raises for c, raises in self._checks)

    def _found(self, clause: str, raises: bool, step: _Step, problem: str) -> None:
        if raises:
            raise LifecycleViolation(clause, f"{clause}: after {step.what}: {problem}")
        self._derailed = f"{clause} failed: {problem}"

    def _adopt(self, step: _Step, obs: _Observation) -> None:
        """The mirror continues from what the framework holds, as checked (or,
        for a clause this machine leaves to another, as observed: a failure
        it does not check must not show up later as another clause's)."""
        for m in self._live_models():
            values = obs.values(m)
            for ref, v in values.items():
                m.storage[ref].value = v
            want = step.grads.get(m.name)
            if want == "clear":
                m.grads = {ref: None if g is None or not g.any() else g for ref, g in obs.grads(m).items()}
            elif want == "unknown":
                m.grads = dict.fromkeys(m.grads, UNKNOWN)
            elif want is not None:
                m.grads = {ref: (g if g is not None else np.zeros(self.info.shapes[ref], np.float32))
                           for ref, g in obs.grads(m).items()}
            if m.names is None or m.listing is None or m.keys is None:
                listing = obs.listing(m)
                m.names = m.names if m.names is not None else [n for n, _ in listing]
                m.listing = m.listing if m.listing is not None else [r for _, r in listing]  # type: ignore[misc]
                m.keys = m.keys if m.keys is not None else [k for k, _ in obs.state_dict(m)]


#: For each clause, the clauses whose failure leaves the states it speaks about
#: (checked first, in this order; their failure derails the machine). A broken
#: tie makes every later value and gradient of its other positions diverge; the
#: framework's optimiser and zero_grad go over its listing of the parameters, so
#: a wrong listing makes later gradients and values wrong; a training step's
#: values come from its gradients. What a step leaves untouched feeds no other
#: check (the mirror adopts the framework's values either way). As a
#: precondition, lifecycle.listings-agree checks the all-parameters listing only
#: (no framework operation goes over the state dict).
PRECONDITIONS: dict[str, tuple[str, ...]] = {
    "lifecycle.operations-succeed": (),
    "lifecycle.ties-kept": ("lifecycle.operations-succeed",),
    "lifecycle.listings-agree": ("lifecycle.operations-succeed", "lifecycle.ties-kept"),
    "lifecycle.untouched-unchanged": ("lifecycle.operations-succeed", "lifecycle.ties-kept",
                                      "lifecycle.listings-agree"),
    "lifecycle.gradients-match": ("lifecycle.operations-succeed", "lifecycle.ties-kept",
                                  "lifecycle.listings-agree"),
    "lifecycle.values-match": ("lifecycle.operations-succeed", "lifecycle.ties-kept",
                               "lifecycle.listings-agree", "lifecycle.gradients-match"),
}


def _checks_for(clause: str | None, together: frozenset[str] | None = None) -> list[tuple[str, bool]]:
    """The invariant's checks for a machine made for ``clause``: (clause,
    whether its failure raises; else it derails the machine). Every clause
    raises when there is none. The preconditions of ``clause`` derail; for
    lifecycle.operations-succeed every other clause is checked, after it, and
    derails: an operation failing on a model some other clause already found
    broken is that clause's finding. ``together``: every clause is checked,
    those in it raise, the others derail (:func:`checked_together`)."""
    if together is not None:
        return [(c, c in together) for c in CLAUSES]
    if clause is None:
        return [(c, True) for c in CLAUSES]
    if clause == CLAUSES[0]:
        return [(clause, True)] + [(c, False) for c in CLAUSES[1:]]
    return [(c, False) for c in PRECONDITIONS[clause]] + [(clause, True)]


def _own_checks(clause: str) -> tuple[str, ...]:
    """The clauses the machine made for ``clause`` checks (in :data:`CLAUSES` order)."""
    return tuple(c for c, _ in _checks_for(clause))


def checked_together(clauses: Iterable[str]) -> frozenset[str]:
    """The largest part S of ``clauses`` that one machine can check at once,
    raising on S and derailing on every other clause, so that it passes
    exactly when the machine made for each clause of S would pass.

    Made with the same seed and settings, the machines draw the same
    sequences as long as none has derailed or failed: the rules and their
    strategies are the same, and what a machine checks does not change what
    it draws. The machine made for C checks the clauses of
    ``_checks_for(C)`` in :data:`CLAUSES` order and derails on the first
    failing one that is not C. So if, for every C in S, every clause outside
    S is among those C's machine checks, then at a step where no clause of S
    fails, the first failing clause (if any) is outside S, and the together
    machine and every C's own machine derail there alike (an operation that
    raises is handled alike too: every machine but lifecycle.operations-
    succeed's takes its model out of the sequence): their sequences stay the
    same, example after example, and none raises. S is found by dropping,
    until none is left, each C whose machine does not check some clause
    outside S. A framework listing lifecycle.ties-kept as a known deviation
    (torch) keeps every other clause in S: each presupposes it. (A model
    that cannot be read back after a step raises in that machine, whatever
    it checks: see :meth:`LifecycleMachine.check`.)"""
    s = {c for c in clauses if c in CLAUSES}
    changed = True
    while changed:
        changed = False
        for c in sorted(s):
            if any(x not in _own_checks(c) for x in CLAUSES if x not in s):
                s.discard(c)
                changed = True
    return frozenset(s)


def _drawn_values(arch: Arch, seed: int) -> dict[ParamRef, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {ref: rng.uniform(-2, 2, shape).astype(np.float32) for ref, shape in arch.param_shapes().items()}


def _batch(seed: int, width: int, rows: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = rows if rows is not None else int(rng.integers(1, 4))
    return rng.uniform(-2, 2, (n, width)).astype(np.float32)


# -- observing the framework --------------------------------------------------------------


class _Observation:
    """What the framework holds after a step, read once, on demand."""

    def __init__(self, machine: LifecycleMachine) -> None:
        self.m = machine
        self.ad = machine.adapter
        self._objects: dict[str, dict[Position, Any]] = {}
        self._values: dict[str, dict[ParamRef, np.ndarray]] = {}
        self._grads: dict[str, dict[ParamRef, np.ndarray | None]] = {}
        self._listing: dict[str, list[tuple[str, ParamRef | None]]] = {}
        self._sd: dict[str, list[tuple[str, np.ndarray]]] = {}

    @staticmethod
    @contextlib.contextmanager
    def _reading(model: _Model, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            raise _ObservationFailed(
                f"reading {what} of {model.name} back raised {type(exc).__name__}: {str(exc).strip()[:300]}"
            ) from exc

    def objects(self, model: _Model) -> dict[Position, Any]:
        if model.name not in self._objects:
            with self._reading(model, "the parameters at every position"):
                self._objects[model.name] = {
                    pos: self.ad.param_at(model.native, pos.path, pos.kind)
                    for positions in self.m.info.positions.values() for pos in positions
                }
        return self._objects[model.name]

    def first(self, model: _Model, ref: ParamRef) -> Any:
        return self.objects(model)[self.m.info.positions[ref][0]]

    def values(self, model: _Model) -> dict[ParamRef, np.ndarray]:
        if model.name not in self._values:
            firsts = {ref: self.first(model, ref) for ref in self.m.info.refs}
            with self._reading(model, "the values"):
                self._values[model.name] = {
                    ref: self.ad.to_canonical(ref[1], self.ad.read(p)) for ref, p in firsts.items()
                }
        return self._values[model.name]

    def grads(self, model: _Model) -> dict[ParamRef, np.ndarray | None]:
        if model.name not in self._grads:
            firsts = {ref: self.first(model, ref) for ref in self.m.info.refs}
            out: dict[ParamRef, np.ndarray | None] = {}
            with self._reading(model, "the gradients"):
                for ref, p in firsts.items():
                    g = self.ad.grad(p)
                    out[ref] = None if g is None else self.ad.to_canonical(ref[1], g)
            self._grads[model.name] = out
        return self._grads[model.name]

    def listing(self, model: _Model) -> list[tuple[str, ParamRef | None]]:
        """The all-parameters listing, each entry with the parameter it is
        (None: no parameter of the mirror, or several)."""
        if model.name not in self._listing:
            firsts = {ref: self.first(model, ref) for ref in self.m.info.refs}
            out: list[tuple[str, ParamRef | None]] = []
            with self._reading(model, "the listing of all parameters"):
                for name, p in self.ad.all_params(model.native):
                    hits = [ref for ref, q in firsts.items() if self.ad.same(p, q)]
                    out.append((name, hits[0] if len(hits) == 1 else None))
            self._listing[model.name] = out
        return self._listing[model.name]

    def state_dict(self, model: _Model) -> list[tuple[str, np.ndarray]]:
        if model.name not in self._sd:
            with self._reading(model, "the state dict"):
                self._sd[model.name] = self.ad.state_dict(model.native)
        return self._sd[model.name]


# -- the clauses' checks (each returns the first problem, or None) ---------------------------


def _check_operations(machine: LifecycleMachine, step: _Step, obs: _Observation, full: bool) -> str | None:
    return step.failed


def _check_ties(machine: LifecycleMachine, step: _Step, obs: _Observation, full: bool) -> str | None:
    ad = machine.adapter
    positions = machine.info.positions
    models = machine._live_models()
    for m in models:
        objs = obs.objects(m)
        for ref, where in positions.items():
            first = objs[where[0]]
            for pos in where[1:]:
                if not ad.same(objs[pos], first):
                    return (f"in {m.name}, the {ref[1]} reached at {pos.path} is not the object reached at "
                            f"{where[0].path}: the {ref[1]} of the layer at {ref[0]} is no longer shared")
        refs = list(positions)
        for i, a in enumerate(refs):
            for b in refs[i + 1:]:
                if ad.same(obs.first(m, a), obs.first(m, b)):
                    return (f"in {m.name}, the {a[1]} of the layer at {a[0]} and the {b[1]} of the layer at "
                            f"{b[0]} are one object; the architecture has them distinct")
    for i, ma in enumerate(models):
        for mb in models[i + 1:]:
            if any(s is t for s in ma.storage.values() for t in mb.storage.values()):
                continue  # documented aliasing between these two: storage, checked by the values
            for ra in positions:
                pa = obs.first(ma, ra)
                for rb in positions:
                    if ad.same(pa, obs.first(mb, rb)):
                        return (f"the {ra[1]} at {ra[0]} of {ma.name} is the object of the {rb[1]} at "
                                f"{rb[0]} of {mb.name}: two models share a parameter object")
    return None


def _check_listings(machine: LifecycleMachine, step: _Step, obs: _Observation, full: bool) -> str | None:
    ad = machine.adapter
    refs = machine.info.refs
    structural = "structural_state_dict" in machine.facts.capabilities
    for m in machine._live_models():
        listing = obs.listing(m)
        got = [r for _, r in listing]
        names = [n for n, _ in listing]
        stray = [n for n, r in listing if r is None]
        if stray:
            return f"the listing of {m.name} has entries that are none of its parameters: {stray}"
        twice = sorted({f"{r[1]} at {r[0]}" for r in got if got.count(r) > 1})  # type: ignore[index]
        missing = [f"{r[1]} at {r[0]}" for r in refs if r not in got]
        if twice or missing:
            return (f"the listing of {m.name} ({names}) should hold each of its {len(refs)} parameters once; "
                    f"listed more than once: {twice}, missing: {missing}")
        if m.listing is not None and got != m.listing:
            return (f"the listing of {m.name} visits its parameters in another order than when it was made: "
                    f"{got} vs {m.listing}")
        if m.names is not None and names != m.names:
            return f"the listing of {m.name} names its parameters {names}; they were named {m.names}"
        if not full:
            continue
        sd = obs.state_dict(m)
        keys = [k for k, _ in sd]
        if m.keys is not None and keys != m.keys:
            return f"the state dict of {m.name} has keys {keys}; it had {m.keys}"
        if structural:
            values = obs.values(m)
            for key, v in sd:
                ref = machine._keymap.get(key)
                if ref is None:
                    continue
                want = ad.to_native(ref[1], values[ref])
                if np.shape(v) != want.shape or not np.array_equal(np.asarray(v), want):
                    return (f"the state dict of {m.name} holds under {key!r} a value that is not the "
                            f"{ref[1]} of the layer at {ref[0]} it stands for")
    return None


def _check_untouched(machine: LifecycleMachine, step: _Step, obs: _Observation, full: bool) -> str | None:
    if step.unchecked:
        return None
    for m in machine._live_models():
        values = obs.values(m)
        for ref, v in values.items():
            if (m.name, ref) in step.values:
                continue
            if not np.array_equal(v, m.storage[ref].value):
                diff = np.argwhere(v != m.storage[ref].value)
                at = tuple(int(i) for i in diff[0]) if diff.size else ()
                return (f"the {ref[1]} of the layer at {ref[0]} of {m.name} changed (first at {at}: "
                        f"{m.storage[ref].value[at]!r} -> {v[at]!r}), though the step does not touch it")
        if m.name in step.grads:
            continue
        grads = obs.grads(m)
        for ref, want in m.grads.items():
            got = grads[ref]
            if want is UNKNOWN:
                continue
            if want is None:
                if got is not None and got.any():
                    return (f"the gradient of the {ref[1]} of the layer at {ref[0]} of {m.name} was empty "
                            f"and is now non-zero, though the step does not touch it")
            elif got is None or not np.array_equal(got, want):
                return (f"the gradient of the {ref[1]} of the layer at {ref[0]} of {m.name} changed, though "
                        f"the step does not touch it")
    return None


def _problem(check: Callable[..., None], *args: Any) -> str | None:
    """The message of the AssertionError ``check(*args)`` raises, or None."""
    try:
        check(*args)
    except AssertionError as exc:
        return str(exc)
    return None


def _check_values(machine: LifecycleMachine, step: _Step, obs: _Observation, full: bool) -> str | None:
    if step.unchecked:
        return None
    by_name = {m.name: m for m in machine._live_models()}
    for (name, ref), want in step.values.items():
        m = by_name.get(name)
        if m is None:
            continue
        got = obs.values(m)[ref]
        what = f"the {ref[1]} of the layer at {ref[0]} of {name}"
        problem = None
        if want.kind == "exact":
            problem = _problem(assert_same_values, got, want.value, what)
        elif want.kind == "close":
            problem = _problem(assert_close, got, want.value, want.tol, f"{what}, {want.why}")
        elif want.kind == "law":
            assert want.law is not None
            found = want.law(got)
            problem = None if found is None else f"{what} {want.why}: {found}"
        if problem is not None:
            shared = machine.info.shared.get(ref)
            if shared is not None:
                problem += f" (a parameter reached at {[p.path for p in shared]})"
            return problem
    if step.forward is not None:
        out, expected, tol = step.forward
        return _problem(assert_close, out, expected, tol, "the forward output vs the mirror")
    return None


def _check_gradients(machine: LifecycleMachine, step: _Step, obs: _Observation, full: bool) -> str | None:
    if step.unchecked:
        return None
    shared = machine.info.shared
    for m in machine._live_models():
        want = step.grads.get(m.name)
        if want is None or want == "unknown":
            continue
        grads = obs.grads(m)
        for ref, got in grads.items():
            what = f"the gradient of the {ref[1]} of the layer at {ref[0]} of {m.name}"
            if want == "clear":
                if got is not None and got.any():
                    return f"{what} is not empty after zero_grad: {got.ravel()[:4].tolist()}"
                continue
            wanted, tol = want
            g = np.zeros_like(wanted[ref]) if got is None else got
            if ref in shared:
                what += f" (the sum over its uses at {[p.path for p in shared[ref]]})"
            problem = _problem(assert_close, g, wanted[ref], tol[ref], what)
            if problem is not None:
                return problem
    return None


#: clause -> its check: the first problem, or None; ``full`` False when it is
#: checked as another clause's precondition
_CHECKS: dict[str, Callable[[LifecycleMachine, _Step, _Observation, bool], str | None]] = {
    "lifecycle.operations-succeed": _check_operations,
    "lifecycle.ties-kept": _check_ties,
    "lifecycle.listings-agree": _check_listings,
    "lifecycle.untouched-unchanged": _check_untouched,
    "lifecycle.gradients-match": _check_gradients,
    "lifecycle.values-match": _check_values,
}


# -- the public factory ---------------------------------------------------------------------


def lifecycle_machine(adapter: type[Adapter] | Adapter, *, clause: str | None = None,
                      settings: Settings | None = None,
                      together: Iterable[str] | None = None) -> type[LifecycleMachine]:
    """A :class:`LifecycleMachine` for ``adapter`` (a class, instantiated once
    when the machine first runs, or an instance). ``clause``: raise only for
    that clause's failures, derail on the ones before it (see the module's
    docstring); None raises on any. ``together`` instead: raise for those
    clauses (a set :func:`checked_together` returns), derail on the others.
    Its ``TestCase`` is a ``unittest`` test case running it with ``settings``
    (default :func:`lifecycle_settings`)::

        TestLifecycle = lifecycle_machine(MyAdapter).TestCase
    """
    for c in ([clause] if clause is not None else []) + list(together or ()):
        if c not in CLAUSES:
            raise ValueError(f"unknown lifecycle clause {c!r}; known: {', '.join(CLAUSES)}")
    if clause is not None and together is not None:
        raise ValueError("give a machine either its clause or the clauses it checks together, not both")
    if isinstance(adapter, Adapter):
        cls, instance = type(adapter), adapter
    elif isinstance(adapter, type) and issubclass(adapter, Adapter):
        cls, instance = adapter, None
    else:
        raise TypeError(f"lifecycle_machine takes an Adapter subclass or instance, got {adapter!r}")
    name = f"{cls.__name__.removesuffix('Adapter') or cls.__name__}Lifecycle"
    machine = cast("type[LifecycleMachine]", type(name, (LifecycleMachine,), {
        "adapter_class": cls, "bound_adapter": instance, "clause": clause,
        "together": None if together is None else frozenset(together),
        "__module__": LifecycleMachine.__module__,
    }))
    machine.TestCase.settings = settings if settings is not None else lifecycle_settings()
    return machine


def run_lifecycle(adapter: type[Adapter] | Adapter, *, clause: str | None = None,
                  settings: Settings | None = None, seed: int | None = None, scripts: bool = True,
                  together: Iterable[str] | None = None) -> None:
    """Run the machine (first the scripted sequences, :data:`SCRIPTS`)
    against ``adapter``; raise :class:`LifecycleViolation` with the failing
    sequence (Hypothesis' shrunk rule sequence, or the script) in its notes.
    ``seed`` fixes Hypothesis' seed (a run is then a function of it).
    ``clause`` and ``together`` as for :func:`lifecycle_machine`."""
    machine = lifecycle_machine(adapter, clause=clause, settings=settings, together=together)
    if scripts:
        run_scripts(machine)
    if seed is not None:
        machine = hypothesis_seed(seed)(machine)
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)


# -- scripted sequences: the documents' own cases, run first in every run --------------------


class _Unscriptable(Exception):
    """A scripted sequence's network is not one the framework can build."""


def _can_build(caps: frozenset[str], arch: Arch) -> bool:
    """What :func:`conformance.properties._support.build` accepts (it rejects
    the rest, which only a Hypothesis test may do)."""
    needs = {"param_sharing": arch.shares_params(), "transposed_sharing": arch.shares_transposed(),
             "custom_layers": arch.has_custom(), "repeated_child": arch.repeats_in_container()}
    return all(cap in caps for cap, needed in needs.items() if needed)


class _Script:
    """Drives a machine by hand, writing the program it runs as Hypothesis
    prints a failing one, so a failure reads the same either way."""

    def __init__(self, machine: type[LifecycleMachine], title: str) -> None:
        self.state = machine()
        self.title = title
        self.lines = [f"state = {machine.__name__}()"]
        self.names: dict[int, str] = {}
        self.counts: dict[str, int] = {}

    def has(self, capability: str) -> bool:
        return capability in self.state.facts.capabilities

    def __call__(self, rule_name: str, bundle: str | None = None, **kwargs: Any) -> Any:
        arch = kwargs.get("arch")
        if isinstance(arch, Arch) and not _can_build(self.state.facts.capabilities, arch):
            raise _Unscriptable(f"{_code(arch)} needs capabilities this framework lacks")
        shown = ", ".join(f"{k}={self.names.get(id(v), _code(v))}" for k, v in kwargs.items())
        result = getattr(self.state, rule_name)(**kwargs)
        call = f"state.{rule_name}({shown})"
        if bundle is not None:
            var = f"{bundle}_{self.counts.get(bundle, 0)}"
            self.counts[bundle] = self.counts.get(bundle, 0) + 1
            self.names[id(result)] = var
            call = f"{var} = {call}"
        self.lines.append(call)
        self.state.check()
        self.lines.append("state.check()")
        return result


def _trained(s: _Script, arch: Arch, steps: int = 3) -> Any:
    m = s("start", "models", arch=arch, seed=0, values=1)
    for i in range(steps):
        s("zero_grad", model=m)
        s("backward", model=m, seed=10 + i)
        s("step", model=m, lr=0.5)
    s("forward", model=m, seed=99)
    return m


def _tied(s: _Script) -> Arch:
    return CHAPTER_TIED if s.has("repeated_child") else TIED_ACROSS_BLOCKS


def _script_train_shared(s: _Script) -> None:
    """003 练习 / 002 Bài tập: train an MLP with a shared layer, watching the
    parameters and gradients of every layer after every step."""
    _trained(s, _tied(s))


def _load_every_mode(pick: Callable[[_Script], Arch | None]) -> Callable[[_Script], None]:
    """A tied network, trained, saved, loaded in every documented mode and
    trained again after each load; its in-memory state loaded into another
    model in every documented mode, that model trained while its source is
    written to."""

    def script(s: _Script) -> None:
        arch = pick(s)
        if arch is None:
            return
        m = _trained(s, arch, steps=1)
        f = s("save_weights", "weight_files", model=m)
        for i, mode in enumerate(s.state.facts.load_modes):
            s("load_weights", model=m, file=f, mode=mode)
            s("zero_grad", model=m)
            s("backward", model=m, seed=20 + i)
            s("step", model=m, lr=0.5)
        if s.has("in_memory_state"):
            other = s("build_another", "models", seed=1, values=2)
            for i, mode in enumerate(s.state.facts.state_load_modes):
                s("load_state", model=other, source=m, mode=mode)
                s("write", model=m, where=(arch.param_refs()[0], None), seed=30 + i)
                s("zero_grad", model=other)
                s("backward", model=other, seed=40 + i)
                s("step", model=other, lr=0.5)

    return script


def _script_reinitialise(s: _Script) -> None:
    """002/003: re-initialising needs force_reinit (``net.initialize(...,
    force_reinit=True)``), on the model and on one layer (``net[0].weight
    .initialize(init=init.Xavier(), force_reinit=True)``); loaded weights are
    initialised parameters too."""
    m = s("start", "models", arch=CHAPTER_MLP, seed=0, values=None)
    f = s("save_weights", "weight_files", model=m)
    for force in (False, True):
        if s.has("explicit_initialize"):
            s("initialise_all", model=m, init=Init("constant", value=1.0), force=force)
        s("initialise", model=m, where=(0,), weight=Init("xavier_uniform"), bias=None, force=force)
        s("initialise", model=m, where=(2,), weight=Init("constant", value=42.0),
          bias=Init("constant", value=42.0), force=force)
    s("load_weights", model=m, file=f, mode=s.state.facts.load_modes[0])
    if s.has("explicit_initialize"):
        s("initialise_all", model=m, init=Init("constant", value=1.0), force=False)
    s("initialise", model=m, where=(0,), weight=Init("xavier_uniform"), bias=None, force=False)
    s("forward", model=m, seed=1)


def _copies(pick: Callable[[_Script], Arch | None]) -> Callable[[_Script], None]:
    """A network with shared parameters through a copy and a whole-model
    file: each holds what its source held, keeps the tie, and goes its own
    way afterwards."""

    def script(s: _Script) -> None:
        arch = pick(s)
        if arch is not None:
            _copy_and_train(s, arch)

    return script


def _copy_and_train(s: _Script, arch: Arch) -> None:
    """Every documented way of making a model from ``m`` (a whole-model file
    first, then each copy operation), one at a time: the made model is
    trained while ``m`` is written to, then discarded to make room for the
    next (at most :data:`MAX_MODELS` live models)."""
    m = _trained(s, arch, steps=1)
    makers: list[str | None] = []  # None: through a whole-model file; else the copy operation
    if s.has("whole_model_save"):
        makers.append(None)
    if s.has("model_copy"):
        makers.extend(s.state.facts.copy_ops)
    for i, op in enumerate(makers):
        if op is None:
            c = s("load_model", "models", file=s("save_model", "model_files", model=m))
        else:
            c = s("copy", "models", model=m, op=op)
        s("write", model=m, where=(s.state.arch.param_refs()[0], None), seed=50 + i)
        s("zero_grad", model=c)
        s("backward", model=c, seed=60 + i)
        s("step", model=c, lr=0.5)
        s("discard", model=c)


#: (title, script): run by :func:`run_scripts` before the drawn sequences
SCRIPTS: tuple[tuple[str, Callable[[_Script], None]], ...] = (
    ("003 练习: train an MLP with a shared layer, watching parameters and gradients", _script_train_shared),
    ("a shared layer through saving and loading in every documented mode", _load_every_mode(_tied)),
    ("002 mxnet, 003 4.2.4: distinct layers sharing parameters (params=shared.params), every load mode",
     _load_every_mode(lambda s: MXNET_SHARED if s.has("param_sharing") else None)),
    ("001 5.2.3: a decoder using its encoder's weight transposed, through every load mode",
     _load_every_mode(lambda s: TIED_AUTOENCODER if s.has("transposed_sharing") else None)),
    ("002/003: re-initialising with and without force_reinit", _script_reinitialise),
    ("a shared layer through copies and whole-model files", _copies(_tied)),
    ("002 mxnet, 003 4.2.4: distinct layers sharing parameters through copies and whole-model files",
     _copies(lambda s: MXNET_SHARED if s.has("param_sharing") else None)),
)


def _add_notes(exc: BaseException, notes: list[str]) -> None:
    """``exc.add_note`` for each note (Python 3.11+), or its ``__notes__`` on 3.10."""
    existing = getattr(exc, "__notes__", None)
    if existing is None:
        existing = []
        exc.__notes__ = existing  # type: ignore[attr-defined]
    existing.extend(notes)


def run_scripts(machine: type[LifecycleMachine]) -> None:
    """Run every scripted sequence on ``machine``. A failure raises
    :class:`LifecycleViolation` (or the script's error) with the program that
    failed in its notes, headed ``Falsifying explicit example``, as
    Hypothesis reports a drawn one."""
    for title, script in SCRIPTS:
        s = _Script(machine, title)
        try:
            script(s)
        except (_Unscriptable, hypothesis_errors.UnsatisfiedAssumption):
            continue  # the framework cannot build the document's network as given (no repeated child, ...)
        except BaseException as exc:
            if isinstance(exc, Exception):
                _add_notes(exc, [f"Falsifying explicit example: <state machine> ({title})", *s.lines,
                                 "state.teardown()"])
            raise
        finally:
            s.state.teardown()
