"""Every Hypothesis strategy the properties use, and the shared settings.

Strategies take keyword-only arguments and validate them. Architectures are
drawn as :class:`~conformance.arch.Arch` values: random nesting, widths,
activations, block names, and shared layers at random positions.

Every property carries ``@property_settings`` or ``@statistical_settings``.
Ordinary properties run the run's ``--max-examples``; statistical ones a
fixed ``STAT_EXAMPLES`` examples each, because the false-alarm budget is
planned per example (see ``specs/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from hypothesis import Phase, settings
from hypothesis import strategies as st

from conformance import hypothesis_profile
from conformance.arch import Arch, Dense, Flatten, Kind, Node, Path, ReLU, Sequential

T = TypeVar("T", bound=Callable[..., Any])
T_ = TypeVar("T_")

#: Hypothesis examples of every statistical property (each spends budget).
STAT_EXAMPLES = 4


def property_settings(test: T) -> T:
    """Settings of an ordinary property: the registered ``conformance``
    Hypothesis profile (:mod:`conformance.hypothesis_profile`: the run's
    ``--max-examples`` and ``--derandomize``), read when the decorator is
    applied (the plugin registers it before collection)."""
    return settings(hypothesis_profile.get())(test)


def statistical_settings(test: T) -> T:
    """Settings of a statistical property: the ``conformance`` profile, but
    always ``STAT_EXAMPLES`` examples (the false-alarm budget is planned on
    that count, whatever ``--max-examples`` says) and no shrinking, which
    would re-run checks the budget did not plan (a statistical counterexample
    has nothing to shrink anyway)."""
    return settings(
        hypothesis_profile.get(), max_examples=STAT_EXAMPLES, phases=(Phase.explicit, Phase.generate)
    )(test)


#: The capabilities of the framework whose test is running, while it runs:
#: set by the plugin around each conformance test's call
#: (:func:`framework_capabilities`), read by :func:`architectures` at draw time.
#: ``None`` (outside any): every capability.
_CAPABILITIES: ContextVar[frozenset[str] | None] = ContextVar("conformance_capabilities", default=None)


@contextmanager
def framework_capabilities(capabilities: Iterable[str]) -> Iterator[None]:
    """Within the block, strategies draw only what a framework with these
    capabilities (``adapter.facts.capabilities``) can build: without
    ``repeated_child``, :func:`architectures` puts a reused layer into another
    container. The plugin wraps each conformance test's call in it with the
    run's adapter; it is scoped to that call (a context variable, reset after)."""
    token = _CAPABILITIES.set(frozenset(capabilities))
    try:
        yield
    finally:
        _CAPABILITIES.reset(token)


def _can_repeat_in_container() -> bool:
    return _has("repeated_child")


def _has(capability: str) -> bool:
    """Whether the framework whose test is drawing has ``capability`` (outside one: yes)."""
    caps = _CAPABILITIES.get()
    return caps is None or capability in caps


# Letters a block name may be drawn from: ASCII, spaces, dashes, underscores,
# dots, and letters from several scripts, because the chapter uses 'block 0'
# and 'block-0' and a name is only checked if it is exercised. Each property
# keeps the names its framework documents as acceptable (Adapter.block_name_ok);
# '.' stays in because a framework that accepts it may then build colliding
# dotted names.
NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.éßñøΩжщ块层ü"

#: The networks the chapter itself builds, as architectures.
# nn.Linear(4, 8), ReLU, Linear(8, 1)
CHAPTER_MLP = Arch(Sequential((Dense(8), ReLU(), Dense(1))), input_dim=4)
KERAS_MLP = Arch(Sequential((Flatten(), Dense(4), ReLU(), Dense(1))), input_dim=4)


def _block1(i: int) -> Sequential:
    return Sequential((Dense(8), ReLU(), Dense(4), ReLU()), name=f"block {i}")


#: rgnet = Sequential(block2(), Linear(4, 1)) with block2 holding 'block 0'..'block 3'.
CHAPTER_RGNET = Arch(Sequential((Sequential(tuple(_block1(i) for i in range(4))), Dense(1))), input_dim=4)
#: The tied network: Linear(4, 8), ReLU, shared, ReLU, shared, ReLU, Linear(8, 1).
CHAPTER_TIED = Arch(
    Sequential(
        (Dense(8), ReLU(), Dense(8, tie="shared"), ReLU(), Dense(8, tie="shared"), ReLU(), Dense(1))
    ),
    input_dim=4,
)
#: The tied network with each use of the shared layer in a block of its own:
#: the tie as a framework that cannot hold a layer twice in one container
#: builds it (Keras 2's Sequential), across two containers.
TIED_ACROSS_BLOCKS = Arch(
    Sequential(
        (Dense(8), ReLU(), Sequential((Dense(8, tie="shared"), ReLU())),
         Sequential((Dense(8, tie="shared"), ReLU())), Dense(1))
    ),
    input_dim=4,
)
#: The Keras edition's repeated layer: Flatten, shared, shared, Dense(1).
KERAS_TIED = Arch(
    Sequential((Flatten(), Dense(4, tie="shared"), Dense(4, tie="shared"), Dense(1))), input_dim=4
)


#: Gluon's shared parameters between two distinct layers (002 mxnet tab,
#: 003 4.2.4): Dense(8), shared = Dense(8), Dense(8, params=shared.params), Dense(10).
MXNET_SHARED = Arch(
    Sequential(
        (Dense(8), ReLU(), Dense(8, tie="shared"), ReLU(), Dense(8, weight_of="shared", bias_of="shared"),
         ReLU(), Dense(10))
    ),
    input_dim=20,
)
#: 001's notes: a one-layer autoencoder whose decoder uses the encoder's weight transposed.
TIED_AUTOENCODER = Arch(
    Sequential((Dense(3, tie="encoder"), ReLU(), Dense(6, weight_of="encoder", transposed=True))), input_dim=6
)
#: 004 (4.2.2): class Linear(tf.keras.Model) holding self.d1 = Dense(10), self.d2 = Dense(1).
CHAPTER_LINEAR = Arch(Sequential((Dense(10, name="d1"), Dense(1, name="d2")), custom=True), input_dim=20)
#: User-defined layers nested in user-defined blocks and in a built-in container.
NESTED_CUSTOM = Arch(
    Sequential(
        (Sequential((Dense(8, name="inner", custom=True), ReLU()), name="block", custom=True),
         Sequential((Dense(4, custom=True), Sequential((Dense(2, name="proj"),), name="deep", custom=True)),
                    name="head")),
        custom=True,
    ),
    input_dim=4,
)


#: A user-defined layer named alike in two user-defined blocks ('proj' in
#: 'enc' and in 'dec'): a name that leaves out the enclosing blocks (a weight
#: named when its layer is made, before the layer is in any block) collides,
#: and a state dict keyed by it holds one value for two parameters (of two
#: widths, so the two never agree by chance).
SAME_NAME_TWO_USER_BLOCKS = Arch(
    Sequential(
        (Sequential((Dense(2, name="proj", custom=True),), name="enc", custom=True),
         Sequential((Dense(3, name="proj", custom=True),), name="dec", custom=True))
    ),
    input_dim=2,
)


def block_names(*, forbidden: str = "", min_size: int = 1, max_size: int = 10) -> st.SearchStrategy[str]:
    """Block names with spaces, dashes and non-ASCII letters, minus the
    characters a framework forbids. Names made only of digits are excluded:
    they are what frameworks use for unnamed children. Repaired rather than
    filtered: surrounding spaces are stripped, and a name left empty or all
    digits gets the alphabet's first letter in front (a filter rejected a
    fifth of the drawn names, and with them whole examples)."""
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    alphabet = "".join(c for c in NAME_ALPHABET if c not in forbidden)
    letter = next((c for c in alphabet if not c.isdigit() and not c.isspace()), None)
    if letter is None:
        raise ValueError(f"no letter left in the alphabet once {forbidden!r} is forbidden")

    def repair(s: str) -> str:
        s = s.strip()
        if s == "" or s.isdigit():
            s = (letter + s)[:max_size]
        return s + letter * max(0, min_size - len(s))

    return st.text(alphabet, min_size=min_size, max_size=max_size).map(repair)


#: Strategies the architecture strategy draws from, made once: a strategy built
#: inside a draw (``st.sampled_from`` of a list, ``.filter`` of a lambda) is
#: validated, and a lambda's source parsed, on every draw -- that cost more than
#: the draws themselves. A choice among a list is an index drawn from
#: ``_index(n)`` (what ``sampled_from`` draws too, shrinking to the first).
_BOOLEANS = st.booleans()
_INDICES = tuple(st.integers(0, n - 1) for n in range(1, 65))
_KINDS_DEEP = ("dense", "dense", "relu", "flatten", "seq")
_KIND_DEEP = st.integers(0, len(_KINDS_DEEP) - 1)
_KIND_LEAF = st.integers(0, len(_KINDS_DEEP) - 2)  # everything but "seq"
_SEEDS32 = st.integers(0, 2**32 - 1)


def _index(n: int) -> st.SearchStrategy[int]:
    return _INDICES[n - 1] if n <= len(_INDICES) else st.integers(0, n - 1)


def _pick(draw: st.DrawFn, items: list[T_] | tuple[T_, ...], label: str) -> T_:
    """One of ``items`` (not empty), as ``st.sampled_from(items)`` would draw it."""
    if len(items) == 1:
        return items[0]
    return items[draw(_index(len(items)), label=label)]


def architectures(
    *,
    max_depth: int = 3,
    max_children: int = 4,
    max_width: int = 6,
    ties: bool = True,
    require_tie: bool = False,
    names: st.SearchStrategy[str] | None = None,
    lazy: bool = False,
    repeat_in_container: bool | None = None,
    share_params: bool | None = False,
    custom: bool | None = False,
) -> st.SearchStrategy[Arch]:
    """Random networks of nested Sequentials holding Dense, ReLU and Flatten.

    ``ties`` lets a dense layer be reused at a later position whose input width
    matches; ``share_params`` lets a new layer take the weight and/or the bias
    of an earlier layer of fitting shape (parameter-level sharing), and, where
    the framework has ``transposed_sharing``, an earlier layer's weight
    transposed; ``require_tie`` guarantees at least one parameter reached at
    two positions (of either kind where ``share_params``). ``custom`` makes
    some layers and blocks user-defined (:attr:`Dense.custom`,
    :attr:`Sequential.custom`). For ``share_params`` and ``custom``, ``None``
    means: where the framework whose test is drawing has the capability
    (``param_sharing``, ``custom_layers``). A lazy architecture gets neither
    (a parameter that does not exist before the first forward cannot be
    shared, and the deferred clauses are about the built-in layers).
    ``names``, when given, names some children (siblings never share a name:
    a fresh name drawn twice among siblings gets the smallest numeric suffix
    that makes it unique; children of different containers often share one).
    ``repeat_in_container`` lets a shared layer be reused within one
    Sequential; ``None`` (the default) means: where the framework whose test
    is drawing can build that (capability ``repeated_child`` in
    :func:`framework_capabilities`, read at draw time; outside one: yes), else
    a reuse goes into another container.
    """
    if max_depth < 0 or max_children < 1 or max_width < 1:
        raise ValueError("max_depth >= 0, max_children >= 1 and max_width >= 1 are required")
    if require_tie and not (ties or share_params is not False):
        raise ValueError("require_tie needs ties=True or share_params")
    widths = st.integers(1, max_width)
    n_children = st.integers(1, max_children)

    @st.composite
    def draw_arch(draw: st.DrawFn) -> Arch:
        repeat = _can_repeat_in_container() if repeat_in_container is None else repeat_in_container
        share = _has("param_sharing") if share_params is None else share_params
        user_defined = _has("custom_layers") if custom is None else custom
        transposed_ok = share and _has("transposed_sharing")
        if lazy:
            share = user_defined = transposed_ok = False
        if require_tie and not (ties or share):
            raise ValueError("require_tie needs ties=True or share_params")
        return _draw_architecture(draw, widths, n_children, max_depth, ties, require_tie, names, lazy,
                                  repeat, share, user_defined, transposed_ok)

    return draw_arch()


def _draw_architecture(draw: st.DrawFn, widths: st.SearchStrategy[int], n_children: st.SearchStrategy[int],
                       max_depth: int, ties: bool, require_tie: bool, names: st.SearchStrategy[str] | None,
                       lazy: bool, repeat_in_container: bool, share_params: bool, custom: bool,
                       transposed_ok: bool) -> Arch:
    """The body of :func:`architectures`' strategy (its arguments resolved)."""
    input_dim = draw(widths, label="input_dim")
    state = {"width": input_dim, "next": 0}
    layers: list[tuple[str, int, int]] = []  # (tie key, in, out) of every layer created
    nodes: dict[str, Dense] = {}  # tie key -> the node (a reuse repeats it, name aside)

    used: dict[str, list[str]] = {"dense": [], "other": []}  # names given so far, anywhere

    def child_name(taken: set[str], kind: str) -> str | None:
        if names is None:
            return None
        if not draw(_BOOLEANS, label="named"):
            return None
        # Half the time where it can, a name another container already uses
        # (for a dense layer, another dense layer's): two layers named alike
        # in two blocks are where joined names collide, and fresh random
        # names would almost never repeat.
        group = "dense" if kind == "dense" else "other"
        elsewhere = [n for n in used[group] or used["other"] if n not in taken]
        if len(elsewhere) > 0 and draw(_BOOLEANS, label="reuse a name"):
            name = _pick(draw, elsewhere, "name used elsewhere")
        else:
            name = draw(names, label="block name")
            # A sibling has it already: the smallest numeric suffix that makes
            # it unique (redrawing, or rejecting the example, cost a quarter
            # of the examples of the naming properties).
            k, base = 1, name
            while name in taken:
                name, k = f"{base}{k}", k + 1
        taken.add(name)
        used[group].append(name)
        return name

    def dense(name: str | None, siblings: set[str]) -> Dense:
        width = state["width"]
        reusable = [t for t in layers if t[1] == width and (repeat_in_container or t[0] not in siblings)]
        if ties and reusable and draw(_BOOLEANS, label="reuse a layer"):
            key, _, out = _pick(draw, reusable, "shared layer")
            node = replace(nodes[key], name=name)
        else:
            node = new_dense(width, name)
            key, out = node.tie or "", node.units
        state["width"] = out
        siblings.add(key)
        return node

    def new_dense(width: int, name: str | None) -> Dense:
        key = f"L{state['next']}"
        state["next"] += 1
        is_custom = custom and draw(_BOOLEANS, label="user-defined layer")
        owners = [t for t in layers if not nodes[t[0]].shares]
        same = [t for t in owners if t[1] == width]  # an earlier layer taking this input width
        flipped = [t for t in owners if t[2] == width] if transposed_ok else []
        node: Dense
        if share_params and (same or flipped) and draw(_BOOLEANS, label="share parameters"):
            ways = ["weight", "bias", "both"] * bool(same) + ["transposed"] * bool(flipped)
            how = _pick(draw, ways, "what to share")
            src, s_in, s_out = _pick(draw, flipped if how == "transposed" else same, "source")
            if how == "transposed":
                node = Dense(s_in, name=name, tie=key, weight_of=src, transposed=True, custom=is_custom)
            else:
                node = Dense(s_out, name=name, tie=key, custom=is_custom,
                             weight_of=src if how != "bias" else None,
                             bias_of=src if how != "weight" else None)
        else:
            # A square layer can be reused right away; prefer it when ties are on.
            square = (ties or share_params) and draw(_BOOLEANS, label="square")
            out = width if square else draw(widths, label="units")
            node = Dense(out, name=name, tie=key, custom=is_custom)
        layers.append((key, width, node.units))
        nodes[key] = replace(node, name=None)
        return node

    def sequential(depth: int, name: str | None) -> Sequential:
        kinds = _KIND_DEEP if depth < max_depth else _KIND_LEAF
        n = draw(n_children, label="children")
        taken: set[str] = set()
        keys: set[str] = set()  # the dense layers held directly by this Sequential
        children: list[Node] = []
        for _ in range(n):
            kind = _KINDS_DEEP[draw(kinds, label="layer kind")]
            cname = child_name(taken, kind)
            if kind == "seq":
                children.append(sequential(depth + 1, cname))
            elif kind == "dense":
                children.append(dense(cname, keys))
            elif kind == "relu":
                children.append(ReLU(cname))
            else:
                children.append(Flatten(cname))
        user = custom and draw(_BOOLEANS, label="user-defined block")
        return Sequential(tuple(children), name=name, custom=user)

    root = sequential(0, None)
    if not layers:  # every property needs at least one dense layer
        root = replace(root, children=root.children + (dense(None, set()),))
    arch = Arch(_drop_single_ties(root), input_dim, lazy)
    if require_tie and not arch.shared_params():
        w = arch.output_dim
        shared = Dense(w, tie="forced")
        gap: tuple[Node, ...] = (ReLU(),) if draw(_BOOLEANS, label="relu between") else ()
        again: Node
        if share_params and (not ties or draw(_BOOLEANS, label="share parameters, not the layer")):
            bias_too = draw(_BOOLEANS, label="bias too")
            again = Dense(w, weight_of="forced", bias_of="forced" if bias_too else None)
        else:
            again = shared if repeat_in_container else Sequential((shared,))
        children = arch.root.children + (shared,) + gap + (again,)
        arch = Arch(replace(arch.root, children=children), input_dim, lazy)
    return arch


def _drop_single_ties(root: Sequential) -> Sequential:
    """Tie keys mark every layer while drawing; keep them only where a layer
    really is used more than once or another layer takes its parameters."""
    counts: dict[str, int] = {}

    def count(node: Sequential) -> None:
        for c in node.children:
            if isinstance(c, Sequential):
                count(c)
            elif isinstance(c, Dense):
                for key in {c.tie, c.weight_of, c.bias_of} - {None}:
                    assert key is not None
                    counts[key] = counts.get(key, 0) + 1

    def strip(node: Sequential) -> Sequential:
        out: list[Node] = []
        for c in node.children:
            if isinstance(c, Sequential):
                out.append(strip(c))
            elif isinstance(c, Dense) and c.tie is not None and counts[c.tie] < 2:
                out.append(replace(c, tie=None))
            else:
                out.append(c)
        return replace(node, children=tuple(out))

    count(root)
    return strip(root)


def float32s(*, bound: float = 2.0) -> st.SearchStrategy[float]:
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=32)


@dataclass(frozen=True)
class Case:
    """An architecture with parameter values (canonical layout), an input batch
    and an upstream gradient for it."""

    arch: Arch
    values: dict[tuple[Path, Kind], np.ndarray] = field(repr=False)
    x: np.ndarray = field(repr=False)
    upstream: np.ndarray = field(repr=False)

    def __repr__(self) -> str:
        # What a falsifying example shows: everything needed to rebuild it.
        vals = {f"{p}/{k}": v.tolist() for (p, k), v in self.values.items()}
        x, up = self.x.tolist(), self.upstream.tolist()
        return f"Case(arch={self.arch!r}, values={vals!r}, x={x!r}, upstream={up!r})"


def cases(archs: st.SearchStrategy[Arch] | None = None, *, bound: float = 2.0,
          max_batch: int = 4) -> st.SearchStrategy[Case]:
    """An architecture (default: :func:`architectures`) with values, input and
    upstream gradient: every entry i.i.d. uniform in [-bound, bound] (float32)
    from a numpy generator seeded by a drawn seed, so every parameter entry is
    distinct, as a layout or aliasing bug needs, and an example costs three
    draws instead of one per entry (drawing entries one by one tripled the
    Hypothesis time of the properties that take a case). A falsifying example
    still shows every value (``Case.__repr__``)."""
    if not bound > 0 or max_batch < 1:
        raise ValueError(f"need bound > 0 and max_batch >= 1, got {bound}, {max_batch}")
    arch_strategy = archs if archs is not None else architectures()
    batches = st.integers(1, max_batch)

    @st.composite
    def draw_case(draw: st.DrawFn) -> Case:
        arch = draw(arch_strategy, label="arch")
        batch = draw(batches, label="batch")
        rng = np.random.default_rng(draw(_SEEDS32, label="values seed"))

        def uniform(shape: tuple[int, ...]) -> np.ndarray:
            return rng.uniform(-bound, bound, shape).astype(np.float32)

        values: dict[tuple[Path, Kind], np.ndarray] = {}
        for ref, shape in arch.param_shapes().items():
            values[ref] = uniform(shape)
        return Case(arch, values, uniform((batch, arch.input_dim)), uniform((batch, arch.output_dim)))

    return draw_case()


def chapter_case(arch: Arch, *, seed: int = 0, batch: int = 2) -> Case:
    """A fixed case for a document's own network (``@example``): values drawn
    once from a seeded numpy generator, like the chapter's ``torch.rand``."""
    rng = np.random.default_rng(seed)
    values: dict[tuple[Path, Kind], np.ndarray] = {}
    for ref, shape in arch.param_shapes().items():
        values[ref] = rng.uniform(-1, 1, shape).astype(np.float32)
    x = rng.uniform(0, 1, (batch, arch.input_dim)).astype(np.float32)
    upstream = rng.uniform(-1, 1, (batch, arch.output_dim)).astype(np.float32)
    return Case(arch, values, x, upstream)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for the framework's RNG, drawn by Hypothesis so a run is a function of --seed."""
    return st.integers(0, SEED_MAX)


SEED_MAX = 2**31 - 1


#: One more than the largest index :func:`mode_picks` draws: a multiple of every
#: count of modes up to 8, so each mode of a list is drawn alike.
_PICKS = 840


def mode_picks() -> st.SearchStrategy[int]:
    """Which of the framework's documented modes (load modes, copy
    operations, ...) a drawn example exercises: an index taken modulo the
    length of the list (:func:`picked`). A property looping over every mode in
    every example pays for all of them each time; one drawn per example
    exercises each of k modes in about 1/k of the examples (the chance that
    100 drawn examples miss one of k <= 8 modes is at most 8 (7/8)^100 <
    1.3e-5), and the explicit examples (``pick=None``) exercise every mode."""
    return st.integers(0, _PICKS - 1)


def picked(modes: Iterable[T_], pick: int | None) -> list[T_]:
    """The modes a property exercises for ``pick``: every one for None (an
    explicit example), else the one :func:`mode_picks` chose."""
    modes = list(modes)
    if pick is None or not modes:
        return modes
    return [modes[pick % len(modes)]]


def distinct_seeds(n: int) -> st.SearchStrategy[tuple[int, ...]]:
    """``n`` pairwise different seeds. Drawn as ``n`` seeds, each one equal to
    an earlier one replaced by the next seed no earlier one took (shrinking to
    ``(0, 1, ..., n - 1)``): Hypothesis draws equal seeds often, and an
    ``assume`` of their difference discarded two examples in five."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")

    def spread(drawn: tuple[int, ...]) -> tuple[int, ...]:
        out: list[int] = []
        for s in drawn:
            while s in out:
                s = (s + 1) % (SEED_MAX + 1)
            out.append(s)
        return tuple(out)

    return st.tuples(*(seeds() for _ in range(n))).map(spread)


#: Layers behind the statistical checks (see ``reports/proof/power.md``): the
#: smaller fan in [FAN_LOW, FAN_HIGH // FAN_APART], the larger at least
#: FAN_APART times it and at most FAN_HIGH, so every layer has at least
#: FAN_LOW * FAN_APART * FAN_LOW entries. Fans drawn apart make a bound computed
#: from the wrong fan (fan_in alone, LeCun for Glorot) a scale error of at least
#: sqrt(1.5) or sqrt(0.75) in every example; equal fans would hide it.
FAN_LOW, FAN_HIGH, FAN_APART = 128, 512, 2
#: (n_in, n_out) ranges of the layer behind the default-bias check: few
#: inputs, many outputs, so the bias has at least BIAS_OUT[0] entries.
BIAS_IN, BIAS_OUT = (8, 16), (8192, 16384)


def fans(
    *, low: int = FAN_LOW, high: int = FAN_HIGH, apart: int = FAN_APART
) -> st.SearchStrategy[tuple[int, int]]:
    """(n_in, n_out) of a layer large enough for a statistical check, the larger
    fan at least ``apart`` times the smaller (either may be n_in): at least
    ``low * low * apart`` entries."""
    if not (1 <= low and apart >= 1 and low * apart <= high):
        raise ValueError(f"need 1 <= low, apart >= 1, low * apart <= high; got {low}, {high}, {apart}")

    def pair(small: int) -> st.SearchStrategy[tuple[int, int]]:
        large = st.integers(small * apart, high)
        return st.tuples(large, st.booleans()).map(lambda t: (small, t[0]) if t[1] else (t[0], small))

    return st.integers(low, high // apart).flatmap(pair)


def bias_fans() -> st.SearchStrategy[tuple[int, int]]:
    """(n_in, n_out) of the layer whose default bias is checked (``BIAS_IN``, ``BIAS_OUT``)."""
    return st.tuples(st.integers(*BIAS_IN), st.integers(*BIAS_OUT))


def sigmas() -> st.SearchStrategy[float]:
    """Standard deviations over many orders of magnitude (0.01 is the chapter's)."""
    return st.floats(1e-3, 1e2, allow_nan=False, allow_infinity=False).map(lambda s: float(np.float32(s)))


def means() -> st.SearchStrategy[float]:
    return st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False).map(lambda m: float(np.float32(m)))


#: The smallest positive float32 subnormal. Properties that draw `constants()`
#: also try it explicitly, so a backend that flushes subnormals to zero is
#: found on every run, not only when Hypothesis happens to draw one.
SMALLEST_SUBNORMAL = float(np.finfo(np.float32).smallest_subnormal)


def constants(*, subnormal: bool = True) -> st.SearchStrategy[float]:
    """Any finite float32 constant, including 0, -0.0 and the extremes; the
    subnormals too unless ``subnormal=False`` (for properties that use a
    constant only to mark parameters, so that a backend flushing subnormals to
    zero is reported by the constant clauses, not by every clause that marks)."""
    return st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=subnormal, width=32)


def index_into(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[object, ...]]:
    """A basic index selecting at least one entry of an array of ``shape``: per
    dimension an integer or a slice with a positive step, from the chapter's
    ``data[:]`` and ``data[0, 0]`` to everything between. Negative steps and
    empty selections are never drawn: torch rejects negative steps, legacy
    MXNet has no empty arrays (a 0 dimension means "unknown"), and neither
    says anything about parameter management. Drawn directly, not filtered, so
    no health check can reject the strategy."""
    if not shape or any(n < 1 for n in shape):
        raise ValueError(f"need a non-empty shape with positive dimensions, got {shape}")

    def one_dim(n: int) -> st.SearchStrategy[object]:
        full = st.just(slice(None))
        point = st.integers(0, n - 1)
        ranged = st.integers(0, n - 1).flatmap(
            lambda start: st.builds(
                slice,
                st.just(start),
                st.integers(start + 1, n) | st.none(),
                st.integers(1, n) | st.none(),
            )
        )
        return st.one_of(full, point, ranged)

    return st.tuples(*(one_dim(n) for n in shape))


def one_layer(fan_in: int, fan_out: int, *, lazy: bool = False) -> Arch:
    """A single dense layer: the sample behind a statistical check."""
    return Arch(Sequential((Dense(fan_out),)), fan_in, lazy)
