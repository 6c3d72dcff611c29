"""The adapter contract (:mod:`conformance.testing`) on every built-in
adapter: one test per (framework, check), a framework that is not installed
skipped saying so. A framework env runs its own with ``-k <name>``; what the
contract cannot see (a framework's own idioms) is in ``test_<x>_adapter.py``.

With its layout conversion made a no-op, every installed adapter with an
(in, out) native layout fails the contract's layout-conversion check: the
CPU tests alone once let that pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conformance.adapters import adapter_class
from conformance.adapters.base import Adapter
from conformance.arch import Kind
from conformance.frameworks import BUILTIN, builtin_profiles
from conformance.testing import ContractFailure, adapter_contract_tests, check_adapter

#: Adapter bugs the contract found and that are not fixed yet ("<framework>-<check>": why);
#: strict xfails, so a fix fails the test until its entry is removed. Empty: the
#: two it held (NNX's and Keras-on-jax's write() letting jax adopt the caller's
#: aligned numpy buffer) are fixed, each adapter copying first.
KNOWN: dict[str, str] = {}

test_contract = adapter_contract_tests(*(adapter_class(name) for name in BUILTIN), known=KNOWN)

IN_OUT = [name for name, p in builtin_profiles().items() if p.facts.weight_layout == "in_out"]


@pytest.mark.parametrize("name", IN_OUT)
def test_no_op_layout_conversion_fails_the_contract(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls: type[Adapter] = adapter_class(name)
    if not cls.installed():
        pytest.skip(f"{name}: {cls.module} is not installed")

    def identity(self: Any, kind: Kind, value: np.ndarray) -> np.ndarray:
        return value

    monkeypatch.setattr(cls, "to_canonical", identity)
    monkeypatch.setattr(cls, "to_native", identity)
    with pytest.raises(ContractFailure) as info:
        check_adapter(cls, checks=["layout", "layout-conversion"])
    assert list(info.value.failures) == ["layout-conversion"]
    found = info.value.failures["layout-conversion"]
    assert any("Dense(4), ReLU, Dense(4)" in f and "forward" in f for f in found)  # the square net
