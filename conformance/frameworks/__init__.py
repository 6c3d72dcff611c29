"""The built-in framework plug-ins, one folder each: ``adapter.py`` (the
adapter class) and ``profile.toml`` (documented facts, unsupported clauses,
attributed claims, known deviations). A third-party package ships the same
pair and registers its adapter class in the ``conformance.adapters``
entry-point group."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from conformance.profile import Profile, load_profile

HERE = Path(__file__).parent
#: the built-in plug-ins, in the order the README and the reports list them
BUILTIN = ("reference", "torch", "keras", "mxnet", "paddle", "flax")


@lru_cache(maxsize=1)
def builtin_profiles() -> dict[str, Profile]:
    """The profile of every built-in framework, by name, read from the files
    alone: importing no adapter and no framework (for the proof tables and the
    suite's own tests)."""
    return {name: load_profile(HERE / name / "profile.toml") for name in BUILTIN}
