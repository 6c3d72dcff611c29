"""The user-defined Gluon 1.x blocks the adapter builds, written as Gluon's
own tutorials write them.

* :class:`UserDense`, the custom layer of the tutorial "Customize your own
  layer" (https://mxnet.apache.org/versions/1.9.1/api/python/docs/tutorials/packages/gluon/blocks/custom_layer_beginners.html):
  a ``HybridBlock`` whose Parameters come from ``self.params.get`` inside
  ``name_scope()``, a weight of shape ``(units, 0)`` with
  ``allow_deferred_init=True`` where the input width is not known yet (Gluon
  infers it at the first forward pass), and ``F.FullyConnected`` in
  ``hybrid_forward``, "because the former supports automatic inferring shapes
  of inputs while [F.dot] doesn't";
* :class:`UserBlock`, a ``Block`` holding its children as attributes,
  created inside its ``name_scope()`` (the ``Block`` docstring's ``Model``,
  the d2l chapters' ``NestMLP``), applying them in order;
* :class:`TiedDense`, a dense layer given another layer's weight and/or bias
  Parameter, possibly applied transposed (a tied autoencoder's decoder).

Gluon 1.x documents parameter sharing by name only: ``params=`` hands a block
a ``ParameterDict`` in which its ``self.params.get(name)`` finds the other
block's Parameter (the ``Block`` docstring; ``nn.Dense(8,
params=shared.params)`` in the parameters tutorial). That shares every
Parameter the new block asks for, so a layer that takes another's weight but
has a bias of its own cannot be built that way: its new bias would be named
like the other layer's (``dense1_bias``) and ``collect_params()`` refuses two
Parameters with one name. ``TiedDense`` therefore takes the Parameter objects
themselves and holds them as ``params=`` leaves a shared Parameter: as an
attribute (``Block.__setattr__`` registers a Parameter, which is then passed
to ``hybrid_forward``) and in its own ``ParameterDict`` under the
Parameter's own name (``ParameterDict.update``), so ``net[i].params``,
``collect_params()`` and ``save_parameters`` see it as for ``params=``.
(``share_parameters`` and ``layer.weight = other.weight`` are Gluon 2.0's,
apache/mxnet#18413; Gluon 1.x refuses the latter, "Overriding Parameter
attribute weight is not allowed".)

This module imports mxnet at its top: only the MXNet adapter imports it, and
only once a model is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mxnet.gluon import Block, HybridBlock


class UserDense(HybridBlock):
    """A dense layer as Gluon's custom-layer tutorial writes one: the bias
    created first, its shape known from ``units`` (initialised 'zeros', as
    ``nn.Dense``'s ``bias_initializer``), then the weight, ``(units,
    in_units)`` in ``nn.Dense``'s layout, deferred (``in_units=0``) until the
    first forward pass when the input width is not given."""

    def __init__(self, units: int, in_units: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._units = units
        with self.name_scope():
            self.bias = self.params.get("bias", shape=(units,), init="zeros")
            self.weight = self.params.get("weight", shape=(units, in_units), allow_deferred_init=True)

    def hybrid_forward(self, F: Any, x: Any, weight: Any, bias: Any) -> Any:
        return F.FullyConnected(x, weight, bias, num_hidden=self._units)


class TiedDense(HybridBlock):
    """A dense layer using the ``weight`` and/or ``bias`` Parameter of another
    layer (``None``: a Parameter of its own, created as ``nn.Dense`` creates
    it, weight first); ``transposed``: it applies the given weight transposed,
    ``y = x W + b`` (the weight's shape is then ``(in, units)``)."""

    def __init__(self, units: int, in_units: int = 0, *, weight: Any = None, bias: Any = None,
                 transposed: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._units = units
        self._transposed = transposed
        with self.name_scope():
            if weight is None:
                weight = self.params.get("weight", shape=(units, in_units), allow_deferred_init=True)
            else:
                self.params.update({weight.name: weight})
            self.weight = weight
            if bias is None:
                bias = self.params.get("bias", shape=(units,), init="zeros")
            else:
                self.params.update({bias.name: bias})
            self.bias = bias

    def hybrid_forward(self, F: Any, x: Any, weight: Any, bias: Any) -> Any:
        if self._transposed:
            weight = F.transpose(weight)
        return F.FullyConnected(x, weight, bias, num_hidden=self._units)


class UserBlock(Block):
    """A user-defined block holding its children as attributes (a named child
    under its name, an unnamed one as ``layer<i>``), each created inside the
    block's ``name_scope()`` (the iterator builds a child as it is drawn), and
    applying them in the order they were set. The order is kept in a list:
    one child may be set under two names."""

    def __init__(self, children: Iterator[tuple[str | None, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order: list[str] = []
        with self.name_scope():
            for i, (name, child) in enumerate(children):
                attr = name if name is not None else f"layer{i}"
                setattr(self, attr, child)
                self.order.append(attr)

    def forward(self, x: Any) -> Any:
        for attr in self.order:
            x = getattr(self, attr)(x)
        return x
