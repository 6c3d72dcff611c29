"""The reference: a small numpy framework (:mod:`.nn`, :mod:`.init`) with the
behaviours the chapter describes, and a functional oracle
(:mod:`.functional`) that computes an :class:`~conformance.arch.Arch`
directly. Only numpy is imported."""

from __future__ import annotations

from conformance.reference import functional, init
from conformance.reference.init import Initializer, manual_seed
from conformance.reference.nn import (
    SGD,
    Block,
    Dense,
    Flatten,
    Parameter,
    ReLU,
    Sequential,
    initialize_parameters,
    load,
    load_model,
    save,
    save_model,
)

__all__ = [
    "SGD",
    "Block",
    "Dense",
    "Flatten",
    "Initializer",
    "Parameter",
    "ReLU",
    "Sequential",
    "functional",
    "init",
    "initialize_parameters",
    "load",
    "load_model",
    "manual_seed",
    "save",
    "save_model",
]
