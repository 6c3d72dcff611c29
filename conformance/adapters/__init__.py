"""Adapter registry: adapters are found through the ``conformance.adapters``
entry-point group, so a third party registers its own the same way the
built-in ones are registered in ``pyproject.toml``."""

from __future__ import annotations

import importlib.metadata

from conformance.adapters.base import Adapter, NotInstalled

GROUP = "conformance.adapters"
DEFAULT = "reference"


class UnknownFramework(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown framework {name!r}; known frameworks: {', '.join(known)}")
        self.name = name
        self.known = known


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def known_frameworks() -> list[str]:
    return sorted(_entry_points())


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``. Importing it never imports the
    framework: adapters import their framework lazily."""
    eps = _entry_points()
    if name not in eps:
        raise UnknownFramework(name, sorted(eps))
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError(f"entry point {name!r} in {GROUP} is {cls!r}, not an Adapter subclass")
    return cls


def load_adapter(name: str) -> Adapter:
    """An instance of the adapter ``name``; :class:`NotInstalled` if its
    framework cannot be imported."""
    cls = adapter_class(name)
    if not cls.installed():
        raise NotInstalled(f"{name}: {cls.module} is not installed")
    return cls()


__all__ = ["Adapter", "NotInstalled", "UnknownFramework", "adapter_class", "known_frameworks", "load_adapter"]
