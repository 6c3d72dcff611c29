"""The user-defined torch modules the adapter builds, written as a user of
torch writes them (https://pytorch.org/docs/stable/notes/modules.html, "A
Simple Custom Module"): Parameters and submodules set as attributes.

They live at module level so that ``torch.save(model)`` can pickle a model
holding them (pickle finds a class by its module and name). This module
imports torch at its top: only the torch adapter imports it, and only once a
model is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


def _linear_default(shape: tuple[int, ...], fan_in: int) -> Any:
    """nn.Linear's documented default law, U(-sqrt(k), sqrt(k)) with k = 1/in_features."""
    bound = 1.0 / fan_in ** 0.5
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class UserLinear(nn.Module):
    """A dense layer: bias set first, then weight, ``forward`` is
    ``x W^T + b`` (``F.linear``, as nn.Linear computes it), initialised by
    nn.Linear's documented default law."""

    def __init__(self, in_features: int, units: int) -> None:
        super().__init__()
        self.bias = _linear_default((units,), in_features)
        self.weight = _linear_default((units, in_features), in_features)

    def forward(self, x: Any) -> Any:
        return nn.functional.linear(x, self.weight, self.bias)


class TransposedLinear(nn.Module):
    """The decoder of a tied autoencoder: another layer's weight, set as this
    module's attribute (so registered here too, the one object), applied
    transposed, ``y = x W_src + b``, with a bias of its own (nn.Linear's
    default law over its input width) unless one is shared."""

    def __init__(self, weight: Any, units: int) -> None:
        super().__init__()
        self.weight = weight
        self.bias = _linear_default((units,), int(weight.shape[0]))

    def forward(self, x: Any) -> Any:
        return nn.functional.linear(x, self.weight.T, self.bias)


class UserBlock(nn.Module):
    """A user-defined block holding its children as attributes (the chapter's
    MLP with ``self.hidden``, ``self.out``) and applying them in the order
    they were set. The order is kept in a list: one child may be set under
    two names, and ``named_children()`` lists it once."""

    def __init__(self, children: Iterator[tuple[str | None, Any]]) -> None:
        super().__init__()
        self.order: list[str] = []
        for i, (name, child) in enumerate(children):
            attr = name if name is not None else f"layer{i}"
            setattr(self, attr, child)
            self.order.append(attr)

    def forward(self, x: Any) -> Any:
        for attr in self.order:
            x = getattr(self, attr)(x)
        return x
