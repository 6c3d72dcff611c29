"""Fake frameworks for the suite's own tests: ``fake`` (installed, needs
nothing) and ``ghost`` (registered, not importable).

Also a pytest plugin (``-p fakes``, or ``PYTEST_PLUGINS=fakes`` with this
directory on ``PYTHONPATH``): pytest processes that a test starts, such as
``conformance run``'s child or pytest-xdist workers, register the fakes too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import conformance.adapters as registry
from conformance.adapters.base import Adapter, Facts


class FakeAdapter(Adapter):
    """An installed framework that needs nothing: the synthetic tests only use
    its identity and capabilities."""

    name = "fake"
    distribution = "fake-framework"
    module = "json"
    facts = Facts(weight_layout="out_in", capabilities=frozenset({"block_names"}))

    @classmethod
    def version(cls) -> str:
        return "1.2.3+cpu"

    @classmethod
    def deviations_file(cls) -> Path | None:
        return None

    def backend(self) -> str | None:
        return "cpu"


class GhostAdapter(Adapter):
    """A registered framework whose module cannot be imported."""

    name = "ghost"
    distribution = "ghost-framework"
    module = "conformance_ghost_framework_that_is_not_installed"
    facts = Facts(weight_layout="out_in")


class _EntryPoint:
    def __init__(self, name: str, cls: type[Adapter]) -> None:
        self.name, self._cls = name, cls

    def load(self) -> type[Adapter]:
        return self._cls


def with_fakes(real: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """An entry-point lookup: ``real``'s adapters, plus ``fake`` and ``ghost``."""

    def entry_points() -> dict[str, Any]:
        eps: dict[str, Any] = dict(real())
        eps["fake"] = _EntryPoint("fake", FakeAdapter)
        eps["ghost"] = _EntryPoint("ghost", GhostAdapter)
        return eps

    return entry_points


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    registry._entry_points = with_fakes(registry._entry_points)  # type: ignore[method-assign]
