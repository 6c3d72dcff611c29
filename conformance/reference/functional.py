"""The differential oracle: the function an :class:`~conformance.arch.Arch`
computes, and its parameter gradients, straight from the description.

No layers, no state, no ties to get wrong: the network is flattened to its
leaves in forward order, each dense *use* reads the parameters of its layer's
first use, and the backward pass walks the same list in reverse, adding into
one gradient per layer object (so a tied layer's gradient is the sum over
its uses). Everything is float64, to be more precise than the float32
frameworks compared against it.

``params`` maps ``(path, kind)`` -- the keys of :meth:`Arch.param_refs`, i.e.
the *first-use* path of each dense layer -- to arrays in the canonical
(out, in) layout.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from conformance.arch import Arch, Dense, Flatten, Kind, Node, Path, ReLU

Params = Mapping[tuple[Path, Kind], np.ndarray]
Grads = dict[tuple[Path, Kind], np.ndarray]


def _leaves(arch: Arch) -> list[tuple[Node, Path]]:
    """Leaves in forward order, each with a path: for a dense leaf, the path
    its parameters are keyed by (the first use of the same layer object)."""
    owner: dict[Path, Path] = {}
    first: dict[str, Path] = {}
    for use in arch.dense_uses():
        owner[use.path] = first.setdefault(use.key, use.path)
    return [
        (node, owner.get(path, path))
        for path, node in arch.walk()
        if isinstance(node, (Dense, ReLU, Flatten))
    ]


def _check(arch: Arch, params: Params) -> dict[tuple[Path, Kind], np.ndarray]:
    """float64 copies of the parameters, with their presence and shapes checked."""
    out: dict[tuple[Path, Kind], np.ndarray] = {}
    for layer in arch.dense_layers():
        shapes: dict[Kind, tuple[int, ...]] = {
            "weight": (layer.node.units, layer.in_features),
            "bias": (layer.node.units,),
        }
        for kind, shape in shapes.items():
            key = (layer.path, kind)
            if key not in params:
                raise KeyError(f"params has no {key}")
            value = np.asarray(params[key], dtype=np.float64)
            if value.shape != shape:
                raise ValueError(
                    f"{key} has shape {value.shape}, expected {shape} (canonical (out, in) layout)"
                )
            out[key] = value
    return out


def forward(arch: Arch, params: Params, x: np.ndarray) -> np.ndarray:
    """``arch`` applied to the batch ``x`` with ``params``, in float64."""
    return _forward(arch, _check(arch, params), np.asarray(x, dtype=np.float64))[0]


def _forward(
    arch: Arch, p: dict[tuple[Path, Kind], np.ndarray], x: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output, and the input of every leaf (what the backward pass needs)."""
    inputs: list[np.ndarray] = []
    for node, key in _leaves(arch):
        inputs.append(x)
        if isinstance(node, Dense):
            x = x @ p[(key, "weight")].T + p[(key, "bias")]
        elif isinstance(node, ReLU):
            x = np.maximum(x, 0.0)
        else:  # Flatten
            x = x.reshape(x.shape[0], -1)
    return x, inputs


def grads(arch: Arch, params: Params, x: np.ndarray, upstream: np.ndarray) -> Grads:
    """Gradient of ``sum(forward(arch, params, x) * upstream)`` with respect to
    every parameter, keyed like ``params``; tied layers' uses are summed."""
    p = _check(arch, params)
    out, inputs = _forward(arch, p, np.asarray(x, dtype=np.float64))
    g = np.asarray(upstream, dtype=np.float64)
    if g.shape != out.shape:
        raise ValueError(f"upstream has shape {g.shape}, the output has {out.shape}")
    result: Grads = {key: np.zeros_like(v) for key, v in p.items()}
    for (node, key), a in reversed(list(zip(_leaves(arch), inputs))):
        if isinstance(node, Dense):
            result[(key, "weight")] += g.T @ a
            result[(key, "bias")] += g.sum(axis=0)
            g = g @ p[(key, "weight")]
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
