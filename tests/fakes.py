"""Fake frameworks for the suite's own tests: ``fake`` (installed, needs
nothing) and ``ghost`` (registered, not importable).

Also a pytest plugin (``-p fakes``, or ``PYTEST_PLUGINS=fakes`` with this
directory on ``PYTHONPATH``): pytest processes that a test starts, such as
``conformance run``'s child or pytest-xdist workers, register the fakes too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

import conformance.adapters as registry
from conformance.adapters.base import Adapter
from conformance.profile import Facts, Profile

ZEROS = {"family": "zeros"}


def profile(name: str, distribution: str, module: str, **tables: Any) -> Profile:
    facts = Facts(weight_layout="out_in", default_weight=ZEROS, default_bias=ZEROS, **tables.pop("facts", {}))
    return Profile(name, distribution, module, "tests/fakes.py", facts, **tables)


FAKE_PROFILE = profile(
    "fake",
    "fake-framework",
    "json",
    facts={"capabilities": frozenset({"block_names"})},
    unsupported={"alpha.other-only": "fake documents no such behaviour (tests/fakes.py)"},
)


class FakeAdapter(Adapter):
    """An installed framework that needs nothing: the synthetic tests only use
    its identity and capabilities. Its profile is built here, not read from a
    file (no profile.toml lies beside this module)."""

    _profile = FAKE_PROFILE
    name, distribution, module, facts = "fake", "fake-framework", "json", FAKE_PROFILE.facts

    @classmethod
    def version(cls) -> str:
        return "1.2.3+cpu"

    def backend(self) -> str | None:
        return "cpu"


class GhostAdapter(Adapter):
    """A registered framework whose module cannot be imported."""

    _profile = profile("ghost", "ghost-framework", "conformance_ghost_framework_that_is_not_installed")
    name, distribution, module = (
        "ghost",
        "ghost-framework",
        "conformance_ghost_framework_that_is_not_installed",
    )
    facts = _profile.facts


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
    registry._entry_points = with_fakes(registry._entry_points)


def fake_profile_text(
    deviations: Sequence[tuple[str, ...]] = (), *, capabilities: tuple[str, ...] = ("block_names",)
) -> str:
    """The TOML of ``fake``'s profile (for ``--profile FILE``), with these
    ``(clause, versions, reason, link[, backend])`` deviations."""
    lines = [
        "[framework]",
        'name = "fake"',
        'distribution = "fake-framework"',
        'module = "json"',
        "",
        "[facts]",
        'weight_layout = "out_in"',
        f"capabilities = {list(capabilities)!r}".replace("'", '"'),
        'default_weight = {family = "zeros"}',
        'default_bias = {family = "zeros"}',
        "",
        "[unsupported]",
        f'"alpha.other-only" = "{FAKE_PROFILE.unsupported["alpha.other-only"]}"',
    ]
    for d in deviations:
        lines += ["", "[[deviations]]"]
        lines += [f'{k} = "{v}"' for k, v in zip(("clause", "versions", "reason", "link", "backend"), d)]
    return "\n".join(lines) + "\n"
