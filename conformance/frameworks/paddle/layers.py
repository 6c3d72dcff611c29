"""The user-defined Paddle layers the adapter builds, written as Paddle's
guide to custom layers writes them (https://www.paddlepaddle.org.cn/documentation/docs/en/guides/model_development/customize_cn.html):
``paddle.nn.Layer`` subclasses whose parameters come from
``self.create_parameter`` and whose sub-layers are set as attributes.

They live at module level so that ``paddle.jit.save`` (which translates a
layer's ``forward`` from its source) and ``copy.deepcopy`` find them. This
module imports paddle at its top: only the Paddle adapter imports it, and only
once a model is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import paddle
from paddle import nn


class UserLinear(nn.Layer):
    """A dense layer: bias created first, then weight, ``forward`` is
    ``x W + b`` in Paddle's (in, out) layout. create_parameter's defaults
    are nn.Linear's: Xavier for a weight, zeros for a bias (is_bias=True)."""

    def __init__(self, in_features: int, units: int) -> None:
        super().__init__()
        self.bias = self.create_parameter(shape=[units], is_bias=True)
        self.weight = self.create_parameter(shape=[in_features, units])

    def forward(self, x: Any) -> Any:
        return paddle.matmul(x, self.weight) + self.bias


class TransposedLinear(nn.Layer):
    """The decoder of a tied autoencoder: another layer's weight, added as
    this layer's parameter (``add_parameter``: the one object, registered
    here too), applied transposed, ``y = x W_src^T + b``, with a bias of its
    own unless one is shared."""

    def __init__(self, weight: Any, units: int) -> None:
        super().__init__()
        self.add_parameter("weight", weight)
        self.bias = self.create_parameter(shape=[units], is_bias=True)

    def forward(self, x: Any) -> Any:
        return paddle.matmul(x, self.weight, transpose_y=True) + self.bias


class UserBlock(nn.Layer):
    """A user-defined block holding its children as attributes and applying
    them in the order they were set. The order is kept in a list: one child
    may be set under two names, and ``children()`` lists it once."""

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
