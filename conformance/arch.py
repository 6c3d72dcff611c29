"""Framework-neutral description of the small networks the specs talk about.

An :class:`Arch` is plain data: every adapter builds a native model from it and
the reference implementation computes the same function from it. Layers are
addressed by their *structural path*, the tuple of child indices from the root
(``(0, 1, 0)`` is ``net[0][1][0]``), which is how every edition of the chapter
reaches a nested layer.

Tying is expressed as data too: every :class:`Dense` node carrying the same
``tie`` key is *one* layer object, used at several positions (the chapter's
``shared`` layer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["weight", "bias"]
Path = tuple[int, ...]
KINDS: tuple[Kind, Kind] = ("weight", "bias")


@dataclass(frozen=True)
class Dense:
    """A fully connected layer ``y = x W^T + b`` with ``units`` outputs."""

    units: int
    name: str | None = None
    tie: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.units, int) or self.units < 1:
            raise ValueError(f"Dense.units must be a positive int, got {self.units!r}")


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

    @property
    def key(self) -> str:
        """Identity of the layer object: the tie key, or the path of a lone layer."""
        return self.node.tie if self.node.tie is not None else f"@{self.path}"


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
                        seen[child.tie] = (width, child.units)
                    uses.append(DenseUse(p, child, width, ancestors, first))
                    width = child.units
                elif not isinstance(child, LEAF_TYPES):
                    raise TypeError(f"unknown node type {type(child).__name__} at {p}")
            return width

        out = walk(self.root, (), self.input_dim, ())
        object.__setattr__(self, "_uses", tuple(uses))
        object.__setattr__(self, "_output_dim", out)

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

    def param_refs(self) -> list[tuple[Path, Kind]]:
        """Every parameter object once: layer order, weight before bias."""
        return [(u.path, k) for u in self.dense_layers() for k in KINDS]

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
        """The same network with every tie cut: each use becomes its own layer."""

        def cut(node: Node) -> Node:
            if isinstance(node, Sequential):
                return replace(node, children=tuple(cut(c) for c in node.children))
            if isinstance(node, Dense):
                return replace(node, tie=None)
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
