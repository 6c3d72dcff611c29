"""Known deviations: clauses an adapter's framework is documented to violate.

A deviations file has one entry per line; ``#`` starts a comment and blank
lines are ignored::

    # clause-id          | version-range | reason                          | link
    init.default-uniform | >=2.0,<2.5    | bias bound uses fan_out upstream | https://github.com/o/r/issues/1
    save.whole-model     | *             | no whole-model format            | https://docs.example/save

The four fields are separated by ``|``; the version range is a PEP 440
specifier set, or ``*`` for every version. An optional fifth field names a
backend (``tensorflow``) for frameworks that run on several: the entry then
covers only runs on that backend. A listed clause still runs: the
plugin expects its tests to fail with an ``AssertionError`` and reports a pass
as a stale entry. Malformed lines raise :class:`DeviationError` naming the
file, the line number and the problem, so a typo never silently disables an
entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from conformance.spec import ID_RE

FIELDS = ("clause-id", "version-range", "reason", "link")
OPTIONAL = ("backend",)


class DeviationError(ValueError):
    """A malformed deviations file; the message names file, line and problem."""

    def __init__(self, file: str, line: int, problem: str) -> None:
        super().__init__(f"{file}:{line}: {problem}")
        self.file, self.line, self.problem = file, line, problem


@dataclass(frozen=True)
class Deviation:
    clause: str
    versions: str  # as written: "*" or a specifier set such as ">=2.0,<2.5"
    reason: str
    link: str
    file: str = ""
    line: int = 0
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
        if self.versions == "*":
            return True
        if version is None:
            return False
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        # A local build tag (2.13.0+cpu) is the same release as 2.13.0; PEP 440
        # specifiers without a local part ignore it anyway, but be explicit.
        return self.specifier.contains(Version(v.public), prereleases=True)

    def as_dict(self) -> dict[str, str]:
        versions = self.versions if self.backend is None else f"{self.versions} on {self.backend}"
        return {"versions": versions, "reason": self.reason, "link": self.link}


def parse_deviations(text: str, file: str) -> list[Deviation]:
    """The entries of one deviations file's text; :class:`DeviationError` on a bad line."""
    entries: list[Deviation] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        parts = [p.strip() for p in line.split("|")]
        if not len(FIELDS) <= len(parts) <= len(FIELDS) + len(OPTIONAL):
            raise DeviationError(
                file,
                lineno,
                f"expected {len(FIELDS)} '|'-separated fields ({' | '.join(FIELDS)}), optionally "
                f"followed by {' | '.join(OPTIONAL)}; got {len(parts)}",
            )
        clause, versions, reason, link = parts[:4]
        backend = parts[4] if len(parts) > 4 else None
        for name, value in zip(FIELDS + OPTIONAL, parts):
            if not value:
                raise DeviationError(file, lineno, f"empty {name}")
        if not ID_RE.match(clause):
            raise DeviationError(file, lineno, f"{clause!r} is not a clause id (area.name)")
        if versions != "*":
            try:
                SpecifierSet(versions)
            except InvalidSpecifier:
                raise DeviationError(
                    file, lineno, f"{versions!r} is not a PEP 440 version range (or '*')"
                ) from None
        entries.append(Deviation(clause, versions, reason, link, file, lineno, backend))
    return entries


def _strip_comment(raw: str) -> str:
    # '#' starts a comment only at the start of a line or after whitespace, so
    # an anchor in a link (https://x/y#L10) survives.
    for i, ch in enumerate(raw):
        if ch == "#" and (i == 0 or raw[i - 1].isspace()):
            return raw[:i].strip()
    return raw.strip()


def load_deviations(path: Path | str) -> list[Deviation]:
    """Every entry of the deviations file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeviationError(str(p), 0, f"cannot read: {exc.strerror or exc}") from None
    return parse_deviations(text, str(p))
