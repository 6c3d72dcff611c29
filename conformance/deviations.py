"""Known deviations: clauses a framework is documented to violate.

They are data in the framework's profile (``[[deviations]]`` in its
``profile.toml``, see :mod:`conformance.profile`), each with a version range,
a reason, a link to the framework's documentation or upstream report and,
optionally, the one backend it covers. A listed clause still runs: the
plugin expects its tests to fail with an ``AssertionError`` and reports a pass
as a stale entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


def version_in(version: str | None, spec: SpecifierSet) -> bool:
    """Whether ``version`` is in ``spec``. A local build tag (2.13.0+cpu) is the
    same release; an unknown or unparseable version is in no bounded range."""
    if not str(spec):
        return True
    if version is None:
        return False
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    return spec.contains(Version(v.public), prereleases=True)


@dataclass(frozen=True)
class Deviation:
    clause: str
    versions: str  # as written: "*" or a specifier set such as ">=2.0,<2.5"
    reason: str
    link: str
    file: str = ""
    line: int = 0  # the entry's number in the profile's [[deviations]]
    backend: str | None = None  # only runs on this backend; None: every backend

    @property
    def specifier(self) -> SpecifierSet:
        return SpecifierSet("" if self.versions == "*" else self.versions)

    def matches(self, clause_id: str, version: str | None, backend: str | None = None) -> bool:
        """Whether this entry covers ``clause_id`` at the installed ``version``
        (on ``backend``, where the entry names one)."""
        if clause_id != self.clause:
            return False
        if self.backend is not None and backend != self.backend:
            return False
        return self.versions == "*" or version_in(version, self.specifier)

    def as_dict(self) -> dict[str, str]:
        versions = self.versions if self.backend is None else f"{self.versions} on {self.backend}"
        return {"versions": versions, "reason": self.reason, "link": self.link}
