"""The differential oracle: the function an :class:`~conformance.arch.Arch`
computes, and its parameter gradients, straight from the description.

No layers, no state, no ties to get wrong: the network is flattened to its
leaves in forward order, each dense *use* reads the parameter objects it
applies (:attr:`DenseUse.weight_ref`, ``bias_ref``: its layer's own, or those
of the layer it shares with), and the backward pass walks the same list in
reverse, adding into one gradient per parameter object (so a shared
parameter's gradient is the sum over its uses, of either kind of sharing).
Everything is float64, to be more precise than the float32
frameworks compared against it.

``params`` maps the keys of :meth:`Arch.param_refs` (``(path, kind)`` of the
first use of the layer owning each parameter) to arrays in the canonical
(out, in) layout of their owner.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from conformance.arch import Arch, Dense, DenseUse, Flatten, Node, ParamRef, ReLU

Params = Mapping[ParamRef, np.ndarray]
Grads = dict[ParamRef, np.ndarray]


Leaf = tuple[Node, "DenseUse | None"]


def _leaves(arch: Arch) -> list[Leaf]:
    """Leaves in forward order, each dense leaf with its use (which parameter
    objects it applies, and whether its weight transposed)."""
    uses = {u.path: u for u in arch.dense_uses()}
    return [
        (node, uses.get(path))
        for path, node in arch.walk()
        if isinstance(node, (Dense, ReLU, Flatten))
    ]


def _check(arch: Arch, params: Params) -> dict[ParamRef, np.ndarray]:
    """float64 copies of the parameters, with their presence and shapes checked."""
    out: dict[ParamRef, np.ndarray] = {}
    for key, shape in arch.param_shapes().items():
        if key not in params:
            raise KeyError(f"params has no {key}")
        value = np.asarray(params[key], dtype=np.float64)
        if value.shape != shape:
            raise ValueError(f"{key} has shape {value.shape}, expected {shape} (canonical (out, in) layout)")
        out[key] = value
    return out


def forward(arch: Arch, params: Params, x: np.ndarray) -> np.ndarray:
    """``arch`` applied to the batch ``x`` with ``params``, in float64."""
    return _forward(arch, _check(arch, params), np.asarray(x, dtype=np.float64))[0]


def _weight(p: dict[ParamRef, np.ndarray], use: DenseUse) -> np.ndarray:
    """The (units, in) matrix a use applies: its weight, or the source's transposed."""
    w = p[use.weight_ref]
    return w.T if use.transposed else w


def _forward(arch: Arch, p: dict[ParamRef, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output, and the input of every leaf (what the backward pass needs)."""
    inputs: list[np.ndarray] = []
    for node, use in _leaves(arch):
        inputs.append(x)
        if use is not None:
            x = x @ _weight(p, use).T + p[use.bias_ref]
        elif isinstance(node, ReLU):
            x = np.maximum(x, 0.0)
        else:  # Flatten
            x = x.reshape(x.shape[0], -1)
    return x, inputs


def grads(arch: Arch, params: Params, x: np.ndarray, upstream: np.ndarray) -> Grads:
    """Gradient of ``sum(forward(arch, params, x) * upstream)`` with respect to
    every parameter, keyed like ``params``; every use of a shared parameter
    (either kind of sharing, transposed uses transposed back) is summed."""
    p = _check(arch, params)
    out, inputs = _forward(arch, p, np.asarray(x, dtype=np.float64))
    g = np.asarray(upstream, dtype=np.float64)
    if g.shape != out.shape:
        raise ValueError(f"upstream has shape {g.shape}, the output has {out.shape}")
    result: Grads = {key: np.zeros_like(v) for key, v in p.items()}
    for (node, use), a in reversed(list(zip(_leaves(arch), inputs))):
        if use is not None:
            gw = g.T @ a
            result[use.weight_ref] += gw.T if use.transposed else gw
            result[use.bias_ref] += g.sum(axis=0)
            g = g @ _weight(p, use)
        elif isinstance(node, ReLU):
            g = g * (a > 0)  # derivative 0 at 0, as the frameworks define it
        else:  # Flatten
            g = g.reshape(a.shape)
    return result


def relu_inputs(arch: Arch, params: Params, x: np.ndarray) -> list[np.ndarray]:
    """The input of every ReLU in forward order: where one is non-zero but
    tiny, float32 and float64 may fall on different sides of the kink."""
    _, inputs = _forward(arch, _check(arch, params), np.asarray(x, dtype=np.float64))
    return [a for (node, _), a in zip(_leaves(arch), inputs) if isinstance(node, ReLU)]
