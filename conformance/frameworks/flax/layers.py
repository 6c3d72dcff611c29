"""The user-defined Flax NNX modules the adapter builds, written as the "Flax
basics" guide writes its own ``Linear`` and ``MLP``
(https://flax.readthedocs.io/en/latest/nnx_basics.html, "The Flax NNX Module
system" and "Nested Modules"): ``nnx.Module`` subclasses whose parameters are
``nnx.Param`` attributes created in ``__init__`` and whose sub-modules are
plain attributes.

NNX has no deferred build: "all shape information must be provided on
initialization (no shape inference)" (same guide), and ``nnx.Linear`` takes
``in_features``. So the pattern of a layer that creates one parameter at
construction and another once its input shape is known maps to one
constructor that creates the bias first and then the kernel, from the input
width it is given. Sharing a parameter between two modules is assigning the
one ``nnx.Param`` to both, the "Variable sharing (weight-tying)" idiom of the
"Model surgery" guide (https://flax.readthedocs.io/en/latest/guides/surgery.html):
``model.linear1.kernel = model.linear2.kernel``.

No module keeps the ``nnx.Rngs`` it is built with (``nnx.Linear`` does not
either): a stored ``Rngs`` would put its key and counter into the model's
state and make two models built from one stream share it. This module imports
flax at its top: only the flax adapter imports it, and only once a model is
built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax.numpy as jnp
from flax import nnx


class UserLinear(nnx.Module):
    """A dense layer: ``bias`` created first, then ``kernel`` of shape
    ``(in_features, units)``, ``__call__`` is ``x @ kernel + bias`` (the
    guide's ``Linear``), initialised by nnx.Linear's documented defaults
    (``lecun_normal`` kernel, zero bias)."""

    def __init__(self, in_features: int, units: int, *, rngs: nnx.Rngs) -> None:
        self.bias = nnx.Param(jnp.zeros((units,), jnp.float32))
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (in_features, units), jnp.float32))

    def __call__(self, x: Any) -> Any:
        return x @ self.kernel[...] + self.bias[...]


class TransposedLinear(nnx.Module):
    """The decoder of a tied autoencoder: another module's ``kernel``, the one
    ``nnx.Param`` assigned as this module's attribute too, applied
    transposed, ``y = x @ kernel.T + bias``, with a zero bias of its own
    (nnx.Linear's default) unless one is assigned."""

    def __init__(self, kernel: nnx.Param, units: int) -> None:
        self.kernel = kernel
        self.bias = nnx.Param(jnp.zeros((units,), jnp.float32))

    def __call__(self, x: Any) -> Any:
        return x @ self.kernel[...].T + self.bias[...]


class UserBlock(nnx.Module):
    """A user-defined block holding its children as attributes (the guide's
    ``MLP`` with ``self.linear1``, ``self.linear2``), a named child under its
    name and an unnamed one as ``layer<i>`` (``layer<i>_`` if a sibling is
    named ``layer<i>``), and applying them in the order they were given. The
    order is a tuple of attribute names: a static attribute (NNX keeps it in
    the GraphDef, which must be hashable), and one child may be set under two
    names, which NNX's graph lists once."""

    def __init__(self, children: Iterator[tuple[str | None, Callable[[Any], Any]]]) -> None:
        given = list(children)  # built in order, as the iterator is consumed
        taken = {name for name, _ in given if name is not None}
        order: list[str] = []
        for i, (name, child) in enumerate(given):
            attr = name
            if attr is None:
                attr = f"layer{i}"
                while attr in taken:
                    attr += "_"
                taken.add(attr)
            setattr(self, attr, child)
            order.append(attr)
        self.order = tuple(order)

    def __call__(self, x: Any) -> Any:
        for attr in self.order:
            x = getattr(self, attr)(x)
        return x
