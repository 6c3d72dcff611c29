"""Initialisers of the reference framework, and its one random generator.

Every initialiser is a small frozen dataclass, so a layer can remember the
initialiser it was asked for before its shape was known (deferred
initialisation) and so a whole model can be pickled with that request in it.
An initialiser is used two ways, matching the two styles of the chapter:

* torch style, in place on one parameter: ``Normal(0, 0.01)(layer.weight)``,
  usually from a function given to ``Sequential.apply``;
* Gluon style, handed to ``Block.initialize(init=...)``, which samples it
  for every parameter that has no initialiser of its own.

The reference's documented default: weights ``XavierUniform()`` (U(-b, b),
b = sqrt(6 / (fan_in + fan_out))), biases ``Zeros()``.

All randomness comes from one module-level ``numpy.random.Generator``;
:func:`manual_seed` replaces it, so the same seed gives the same values and
the draw order is the order in which parameters are initialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from conformance.reference.nn import Parameter

Shape = tuple[int, ...]

_rng: np.random.Generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the global generator (named after ``torch.manual_seed``)."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The global generator; read it through this function, since
    :func:`manual_seed` rebinds it."""
    return _rng


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in the reference's (out, in) layout."""
    if len(shape) != 2:
        raise ValueError(f"fan_in/fan_out need a 2-D (out, in) weight, got shape {shape}")
    return shape[1], shape[0]


@dataclass(frozen=True)
class Initializer:
    """Base class: subclasses say how to :meth:`sample` an array of a shape."""

    def sample(self, shape: Shape) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, param: Parameter) -> None:
        """Torch style: overwrite ``param`` in place. Its shape must be known
        (:class:`~conformance.adapters.base.Uninitialized` otherwise), as
        torch's ``nn.init`` functions need a materialised parameter."""
        param.set_value(self.sample(param.full_shape()))


def _f32(a: np.ndarray | float, shape: Shape) -> np.ndarray:
    # Sample in float64 and round once, so that each initialiser is one line of
    # obvious numpy; the parameters themselves are float32.
    return np.broadcast_to(np.asarray(a, dtype=np.float32), shape).copy()


@dataclass(frozen=True)
class Normal(Initializer):
    mean: float = 0.0
    std: float = 1.0

    def sample(self, shape: Shape) -> np.ndarray:
        return _f32(_rng.normal(self.mean, self.std, size=shape), shape)


@dataclass(frozen=True)
class Zeros(Initializer):
    def sample(self, shape: Shape) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)


@dataclass(frozen=True)
class Constant(Initializer):
    value: float = 0.0

    def sample(self, shape: Shape) -> np.ndarray:
        return _f32(self.value, shape)


@dataclass(frozen=True)
class Uniform(Initializer):
    low: float = 0.0
    high: float = 1.0

    def sample(self, shape: Shape) -> np.ndarray:
        return _f32(_rng.uniform(self.low, self.high, size=shape), shape)


@dataclass(frozen=True)
class XavierUniform(Initializer):
    """Glorot & Bengio (2010): U(-b, b) with b = sqrt(6 / (fan_in + fan_out))."""

    def sample(self, shape: Shape) -> np.ndarray:
        fan_in, fan_out = fans(shape)
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return _f32(_rng.uniform(-bound, bound, size=shape), shape)


@dataclass(frozen=True)
class XavierNormal(Initializer):
    """N(0, std) with std = sqrt(2 / (fan_in + fan_out)); not truncated."""

    def sample(self, shape: Shape) -> np.ndarray:
        fan_in, fan_out = fans(shape)
        std = np.sqrt(2.0 / (fan_in + fan_out))
        return _f32(_rng.normal(0.0, std, size=shape), shape)


@dataclass(frozen=True)
class Mixture(Initializer):
    """The chapter's custom initialiser, written the chapter's way: draw
    U(-10, 10), then zero every entry with |w| < 5. That gives U(5, 10) w.p.
    1/4, 0 w.p. 1/2 and U(-10, -5) w.p. 1/4."""

    def sample(self, shape: Shape) -> np.ndarray:
        w = _rng.uniform(-10.0, 10.0, size=shape)
        w *= np.abs(w) >= 5
        return _f32(w, shape)


#: Used for a parameter with no initialiser of its own (weights) when nothing
#: else was asked for.
DEFAULT_WEIGHT_INIT: Initializer = XavierUniform()
#: A bias's own initialiser; Gluon-style global initialisers do not override it.
DEFAULT_BIAS_INIT: Initializer = Zeros()
