"""Framework-neutral description of the small networks the specs talk about.

An :class:`Arch` is plain data: every adapter builds a native model from it and
the reference implementation computes the same function from it. Layers are
addressed by their *structural path*, the tuple of child indices from the root
(``(0, 1, 0)`` is ``net[0][1][0]``), which is how every edition of the chapter
reaches a nested layer.

Sharing is expressed as data too, of two kinds. Every :class:`Dense` node
carrying the same ``tie`` key is *one* layer object, used at several
positions (the chapter's ``shared`` layer). A distinct layer may instead take
the *parameters* of another (``weight_of`` / ``bias_of`` name the source's tie
key: Gluon's ``nn.Dense(8, params=shared.params)``, torch's ``b.weight =
a.weight``), its weight possibly transposed (``transposed``: an autoencoder's
decoder using the encoder's weight). A parameter is identified by a
:data:`ParamRef`, ``(path, kind)`` of the first use of the layer that owns it.

``custom`` marks a user-defined layer or block instead of the framework's
built-in one: a dense layer written by the user (its bias created at
construction, its weight once the input shape is known) or a block holding
its children as attributes (the TF edition's ``class Linear(tf.keras.Model)``).
Both compute what the built-in one does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["weight", "bias"]
Path = tuple[int, ...]
KINDS: tuple[Kind, Kind] = ("weight", "bias")
#: a parameter object: (first-use path of the layer owning it, its kind)
ParamRef = tuple[Path, Kind]


@dataclass(frozen=True)
class Dense:
    """A fully connected layer ``y = x W^T + b`` with ``units`` outputs."""

    units: int
    name: str | None = None
    tie: str | None = None
    #: the tie key of an earlier layer whose weight (bias) this layer uses
    weight_of: str | None = None
    bias_of: str | None = None
    #: ``weight_of`` applied transposed: ``y = x W_src + b``
    transposed: bool = False
    #: a user-defined layer rather than the framework's built-in dense layer
    custom: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.units, int) or self.units < 1:
            raise ValueError(f"Dense.units must be a positive int, got {self.units!r}")
        if self.transposed and self.weight_of is None:
            raise ValueError("Dense.transposed needs weight_of (the layer whose weight is used transposed)")

    @property
    def shares(self) -> bool:
        """Whether this layer uses another layer's parameters."""
        return self.weight_of is not None or self.bias_of is not None

    def same_layer_as(self, other: Dense) -> bool:
        """Whether two nodes with one tie key describe the same layer (names aside)."""
        return replace(self, name=None) == replace(other, name=None)


@dataclass(frozen=True)
class ReLU:
    name: str | None = None


@dataclass(frozen=True)
class Flatten:
    """Identity on the 2-D inputs used here; present because the Keras
    editions start every network with one."""

    name: str | None = None


@dataclass(frozen=True)
class Sequential:
    children: tuple[Node, ...] = ()
    name: str | None = None
    #: a user-defined block holding its children as attributes, applying them in order
    custom: bool = False

    def __post_init__(self) -> None:
        names = [c.name for c in self.children if c.name is not None]
        if len(names) != len(set(names)):
            raise ValueError(f"sibling block names must be unique, got {names!r}")


Node = Dense | ReLU | Flatten | Sequential
LEAF_TYPES = (Dense, ReLU, Flatten)


@dataclass(frozen=True)
class DenseUse:
    """One position at which a dense layer is applied."""

    path: Path
    node: Dense
    in_features: int
    ancestors: tuple[Sequential, ...]
    first_use: bool  # False for the second and later uses of a tied layer
    #: the parameter objects this use applies (their owners' first-use paths)
    weight_ref: ParamRef = ((), "weight")
    bias_ref: ParamRef = ((), "bias")

    @property
    def key(self) -> str:
        """Identity of the layer object: the tie key, or the path of a lone layer."""
        return self.node.tie if self.node.tie is not None else f"@{self.path}"

    @property
    def transposed(self) -> bool:
        return self.node.transposed

    def ref(self, kind: Kind) -> ParamRef:
        return self.weight_ref if kind == "weight" else self.bias_ref


@dataclass(frozen=True)
class Position:
    """A place a parameter is reached: the dense use at ``path``, role ``kind``
    (``transposed``: the use applies the parameter transposed)."""

    path: Path
    kind: Kind
    transposed: bool = False


@dataclass(frozen=True)
class Arch:
    """A model: a root Sequential applied to inputs of shape ``(batch, input_dim)``.

    ``lazy`` asks the adapter to build it with deferred shapes (input
    dimensions unknown until the first forward pass).
    """

    root: Sequential
    input_dim: int
    lazy: bool = False
    _uses: tuple[DenseUse, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.input_dim, int) or self.input_dim < 1:
            raise ValueError(f"input_dim must be a positive int, got {self.input_dim!r}")
        uses: list[DenseUse] = []
        seen: dict[str, tuple[int, int]] = {}
        nodes: dict[str, Dense] = {}  # tie key -> its node (every use must agree)
        first_path: dict[str, Path] = {}  # tie key -> path of its first use

        def walk(node: Sequential, path: Path, width: int, ancestors: tuple[Sequential, ...]) -> int:
            for i, child in enumerate(node.children):
                p = path + (i,)
                if isinstance(child, Sequential):
                    width = walk(child, p, width, ancestors + (child,))
                elif isinstance(child, Dense):
                    first = True
                    if child.tie is not None:
                        if child.tie in seen:
                            first = False
                            if seen[child.tie] != (width, child.units):
                                raise ValueError(
                                    f"tied layer {child.tie!r} used with shape "
                                    f"{(width, child.units)} at {p}, first used with {seen[child.tie]}"
                                )
                            if not child.same_layer_as(nodes[child.tie]):
                                raise ValueError(
                                    f"tied layer {child.tie!r} at {p} is described differently "
                                    f"from its first use: {child!r} vs {nodes[child.tie]!r}"
                                )
                        else:
                            seen[child.tie] = (width, child.units)
                            nodes[child.tie] = child
                            first_path[child.tie] = p
                    own = first_path[child.tie] if child.tie is not None else p
                    refs: dict[Kind, ParamRef] = {}
                    pairs: tuple[tuple[Kind, str | None], ...] = (
                        ("weight", child.weight_of), ("bias", child.bias_of))
                    for kind, src in pairs:
                        refs[kind] = (own, kind) if src is None else self._source(
                            src, kind, child, width, p, nodes, seen, first_path)
                    uses.append(DenseUse(p, child, width, ancestors, first, refs["weight"], refs["bias"]))
                    width = child.units
                elif not isinstance(child, LEAF_TYPES):
                    raise TypeError(f"unknown node type {type(child).__name__} at {p}")
            return width

        out = walk(self.root, (), self.input_dim, ())
        object.__setattr__(self, "_uses", tuple(uses))
        object.__setattr__(self, "_output_dim", out)

    @staticmethod
    def _source(src: str, kind: Kind, node: Dense, width: int, at: Path, nodes: dict[str, Dense],
                seen: dict[str, tuple[int, int]], first_path: dict[str, Path]) -> ParamRef:
        """The parameter ``node`` at ``at`` takes from the layer keyed ``src``,
        with the shapes and the order checked."""
        if src not in nodes:
            raise ValueError(f"layer at {at} takes its {kind} from {src!r}, which no earlier layer is")
        if node.tie == src:
            raise ValueError(f"layer at {at} takes its {kind} from itself ({src!r})")
        source = nodes[src]
        if source.shares:
            raise ValueError(f"layer at {at} takes its {kind} from {src!r}, which shares parameters itself")
        src_in, src_out = seen[src]
        if kind == "bias":
            ok = node.units == src_out
            want = f"units {src_out}"
        elif node.transposed:
            ok = (width, node.units) == (src_out, src_in)
            want = f"(in, units) = {(src_out, src_in)}"
        else:
            ok = (width, node.units) == (src_in, src_out)
            want = f"(in, units) = {(src_in, src_out)}"
        if not ok:
            raise ValueError(
                f"layer at {at} (in {width}, units {node.units}) cannot take the {kind} of {src!r}: "
                f"needs {want}"
            )
        return (first_path[src], kind)

    # -- queries -----------------------------------------------------------
    @property
    def output_dim(self) -> int:
        return self._output_dim  # type: ignore[attr-defined]

    def dense_uses(self) -> tuple[DenseUse, ...]:
        """Every application of a dense layer, in forward order (tied layers repeat)."""
        return self._uses

    def dense_layers(self) -> tuple[DenseUse, ...]:
        """Each dense layer object once, at its first use, in forward order."""
        return tuple(u for u in self._uses if u.first_use)

    def param_refs(self) -> list[ParamRef]:
        """Every parameter object once, where it is first reached: layer order,
        weight before bias (a layer using another's weight adds only its bias)."""
        out: list[ParamRef] = []
        for u in self.dense_layers():
            for k in KINDS:
                if u.ref(k) not in out:
                    out.append(u.ref(k))
        return out

    def param_shapes(self) -> dict[ParamRef, tuple[int, ...]]:
        """Each parameter's canonical shape: (units, in) for a weight, (units,) for a bias."""
        by_path = {u.path: u for u in self._uses}
        out: dict[ParamRef, tuple[int, ...]] = {}
        for path, kind in self.param_refs():
            u = by_path[path]
            out[(path, kind)] = (u.node.units, u.in_features) if kind == "weight" else (u.node.units,)
        return out

    def positions(self) -> dict[ParamRef, list[Position]]:
        """Each parameter -> every place it is reached, in forward order."""
        out: dict[ParamRef, list[Position]] = {ref: [] for ref in self.param_refs()}
        for u in self._uses:
            for k in KINDS:
                out[u.ref(k)].append(Position(u.path, k, u.transposed and k == "weight"))
        return out

    def shared_params(self) -> dict[ParamRef, list[Position]]:
        """The parameters reached at two or more positions (either kind of sharing)."""
        return {ref: ps for ref, ps in self.positions().items() if len(ps) > 1}

    def shares_params(self) -> bool:
        """Whether some distinct layers share a parameter (capability ``param_sharing``)."""
        return any(u.node.shares for u in self._uses)

    def shares_transposed(self) -> bool:
        """Whether some layer uses another's weight transposed (capability ``transposed_sharing``)."""
        return any(u.node.transposed for u in self._uses)

    def has_custom(self) -> bool:
        """Whether some layer or block is user-defined (capability ``custom_layers``)."""
        return any(getattr(n, "custom", False) for _, n in self.walk()) or self.root.custom

    def walk(self) -> Iterator[tuple[Path, Node]]:
        """Every node below the root, depth first, with its path."""

        def rec(node: Sequential, path: Path) -> Iterator[tuple[Path, Node]]:
            for i, child in enumerate(node.children):
                yield path + (i,), child
                if isinstance(child, Sequential):
                    yield from rec(child, path + (i,))

        return rec(self.root, ())

    def tied_groups(self) -> dict[str, list[DenseUse]]:
        """Tie key -> its uses, for layers used more than once."""
        groups: dict[str, list[DenseUse]] = {}
        for u in self._uses:
            if u.node.tie is not None:
                groups.setdefault(u.node.tie, []).append(u)
        return {k: v for k, v in groups.items() if len(v) > 1}

    def repeats_in_container(self) -> bool:
        """Whether some Sequential holds one layer object at two of its own
        positions, as the chapter's Sequential(..., shared, ReLU(), shared, ...)
        does (capability ``repeated_child``)."""

        def rec(node: Sequential) -> bool:
            keys = [c.tie for c in node.children if isinstance(c, Dense) and c.tie is not None]
            if len(keys) != len(set(keys)):
                return True
            return any(rec(c) for c in node.children if isinstance(c, Sequential))

        return rec(self.root)

    def untied(self) -> Arch:
        """The same network with every tie cut, of both kinds: each use becomes
        its own layer with parameters of its own (a transposed use a plain
        layer holding the transpose)."""

        def cut(node: Node) -> Node:
            if isinstance(node, Sequential):
                return replace(node, children=tuple(cut(c) for c in node.children))
            if isinstance(node, Dense):
                return replace(node, tie=None, weight_of=None, bias_of=None, transposed=False)
            return node

        root = cut(self.root)
        assert isinstance(root, Sequential)
        return Arch(root, self.input_dim, self.lazy)

    def with_lazy(self, lazy: bool = True) -> Arch:
        return Arch(self.root, self.input_dim, lazy)


def mlp(*widths: int, input_dim: int, relu: bool = True) -> Arch:
    """A plain MLP: Dense(w) [ReLU] ... Dense(last)."""
    children: list[Node] = []
    for i, w in enumerate(widths):
        children.append(Dense(w))
        if relu and i < len(widths) - 1:
            children.append(ReLU())
    return Arch(Sequential(tuple(children)), input_dim)
