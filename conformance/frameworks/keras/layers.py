"""The user-defined Keras layers the adapter builds, written as Keras' guide
"Making new layers and models via subclassing" writes them
(https://keras.io/guides/making_new_layers_and_models_via_subclassing/):
``keras.layers.Layer`` subclasses creating their weights with ``add_weight``,
in ``__init__`` where the shape is known and in ``build(input_shape)`` where it
depends on the input, and a ``keras.Model`` subclass holding its children as
attributes and applying them in ``call`` (the TF edition's
``class Linear(tf.keras.Model)``, 004 4.2.2).

Each class implements ``get_config`` (and ``from_config`` where its
constructor takes layers) and is registered with
``keras.saving.register_keras_serializable``, as Keras documents for saving a
model holding custom objects ("Customizing Saving and Serialization",
https://keras.io/guides/customizing_saving_and_serialization/); the same
config is what ``keras.models.clone_model`` and ``from_config`` rebuild a
layer from.

Keras 2 (``tf.keras`` of TensorFlow 2.15) and Keras 3 differ in the ops a
layer computes with (``tf.matmul`` versus the backend-independent
``keras.ops.matmul``), which is the one branch below. This module imports
Keras at its top: only the Keras adapter imports it, lazily, once a model is
built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from conformance.frameworks.keras.adapter import _keras, _major

keras: Any = _keras()  # Keras 3, or tf.keras (Keras 2): the one the adapter drives

_matmul: Callable[[Any, Any], Any]
_transpose: Callable[[Any], Any]
if _major() >= 3:
    _matmul = keras.ops.matmul
    _transpose = keras.ops.transpose
else:
    import tensorflow as tf

    _matmul = tf.matmul
    _transpose = tf.transpose

_register = keras.saving.register_keras_serializable(package="conformance")


@_register
class UserDense(keras.layers.Layer):
    """A dense layer written by the user: its bias created in ``__init__``
    (its shape, ``(units,)``, is known there), its kernel in ``build`` once
    the input width is known, ``call`` is ``x @ kernel + bias``. The
    initialisers are ``Dense``'s documented defaults (glorot_uniform kernel,
    zeros bias), kept as attributes like ``Dense``'s ``kernel_initializer``."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get("glorot_uniform")
        self.bias_initializer = keras.initializers.get("zeros")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)

    def build(self, input_shape: Any) -> None:
        self.kernel = self.add_weight(
            name="kernel", shape=(int(input_shape[-1]), self.units), initializer=self.kernel_initializer
        )
        self.built = True

    def call(self, inputs: Any) -> Any:
        return _matmul(inputs, self.kernel) + self.bias

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class _Source:
    """Another layer, held so that Keras' attribute tracking does not take it
    for a sub-layer of the layer holding it (a ``Layer`` set as an attribute
    is tracked as a child, and its weights listed and saved as the child's):
    the layer holds the source's *variable*, not the source."""

    __slots__ = ("layer",)

    def __init__(self, layer: Any) -> None:
        self.layer = layer


@_register
class SharingDense(keras.layers.Layer):
    """A dense layer whose kernel and/or bias are another layer's variables.

    Keras documents that "variables set as attributes of a layer are tracked
    as weights of the layer (in ``layer.weights``)" (``keras.layers.Layer``);
    it has no argument or setter that hands a built-in layer another layer's
    variable (``Dense.kernel`` is a read-only property). So this layer is
    written by the user: in ``build`` it sets the source layers' variables as
    its own attributes ``kernel`` / ``bias`` (the sources are earlier in the
    forward order, so they are built by then), and creates the ones it does
    not share as ``UserDense`` does (bias in ``__init__``, kernel in
    ``build``). ``transposed``: ``call`` applies the kernel transposed, ``x @
    kernel^T + bias``: the decoder of a tied autoencoder.

    Its config records its width and which of its parameters it shares
    (``shares``), but it cannot name a variable of another layer: a layer
    rebuilt from it (``from_config``, ``clone_model``, ``load_model``) creates
    variables of its own where and in the order the original set the shared
    ones, as Keras documents for cloning: "a single variable attached to two
    distinct layers will be restored as two separate variables"
    (``keras.models.clone_model``)."""

    def __init__(self, units: int, weight_of: Any = None, bias_of: Any = None, transposed: bool = False,
                 shares: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.transposed = bool(transposed)
        self._weight_of = None if weight_of is None else _Source(weight_of)
        self._bias_of = None if bias_of is None else _Source(bias_of)
        if shares is None:
            shares = [kind for kind, src in (("weight", weight_of), ("bias", bias_of)) if src is not None]
        self.shares = tuple(shares)
        self.kernel_initializer = keras.initializers.get("glorot_uniform")
        self.bias_initializer = keras.initializers.get("zeros")
        if "bias" not in self.shares:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)

    def build(self, input_shape: Any) -> None:
        if self._weight_of is not None:
            self.kernel = self._weight_of.layer.kernel  # the source's variable, tracked here too
        else:  # rebuilt from its config: a kernel of its own, in the layout call() applies
            n_in = int(input_shape[-1])
            shape = (self.units, n_in) if self.transposed else (n_in, self.units)
            self.kernel = self.add_weight(name="kernel", shape=shape, initializer=self.kernel_initializer)
        if self._bias_of is not None:
            self.bias = self._bias_of.layer.bias
        elif "bias" in self.shares:  # rebuilt from its config
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
        self.built = True

    def call(self, inputs: Any) -> Any:
        kernel = _transpose(self.kernel) if self.transposed else self.kernel
        return _matmul(inputs, kernel) + self.bias

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "transposed": self.transposed,
                "shares": list(self.shares)}


@_register
class UserBlock(keras.Model):
    """A user-defined block: its children set as attributes (a named child
    under its name, an unnamed one as ``layer<i>``), applied in that order in
    ``call``, as the TF edition's ``class Linear(tf.keras.Model)`` holds
    ``self.d1`` and ``self.d2``. Keras tracks a layer set as an attribute as a
    sub-layer ("Layers are recursively composable", ``keras.layers.Layer``);
    the order is kept as attribute names, since one child may be set under
    two names and Keras lists it once."""

    def __init__(self, children: Iterable[tuple[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        order = []
        for attr, child in children:
            setattr(self, attr, child)
            order.append(attr)
        self.order = tuple(order)

    def call(self, inputs: Any, training: Any = None) -> Any:
        # `training` is accepted as the guide's models accept it (the adapter
        # calls models with training=...); Keras passes it on to the
        # sub-layers whose call() takes it, through its call context.
        x = inputs
        for attr in self.order:
            x = getattr(self, attr)(x)
        return x

    if _major() >= 3:
        # Keras 3 calls a layer on symbolic KerasTensors when it is inside a
        # Sequential that is being built, and infers the output of a layer
        # without compute_output_spec / compute_output_shape by tracing
        # call() (on TensorFlow, in a graph whose name scopes reject the block
        # names TensorFlow rejects); its error message asks for "the
        # `UserBlock.compute_output_spec() / compute_output_shape()` method".
        # Both are the children applied in order, as Sequential.build does:
        # calling a layer on a KerasTensor builds it and gives the output spec.
        def build(self, input_shape: Any) -> None:
            self.compute_output_spec(keras.KerasTensor(tuple(input_shape)))
            self.built = True

        def compute_output_spec(self, inputs: Any, training: Any = None) -> Any:
            x = inputs
            for attr in self.order:
                x = getattr(self, attr)(x)
            return x

    def get_config(self) -> dict[str, Any]:
        # The documented pattern for a layer holding layers: serialise each
        # with keras.saving.serialize_keras_object, rebuild in from_config.
        children = [[attr, keras.saving.serialize_keras_object(getattr(self, attr))] for attr in self.order]
        return {"name": self.name, "children": children}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> UserBlock:
        children = [(attr, keras.saving.deserialize_keras_object(c)) for attr, c in config["children"]]
        return cls(children, name=config.get("name"))
