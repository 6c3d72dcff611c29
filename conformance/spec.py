"""Load ``specs/*.md`` into typed clause records and validate them.

A spec file is Markdown. Each clause is a fenced block whose info string is
``clause`` and whose body is YAML::

    ```clause
    id: tied.gradients-summed
    title: Gradients of a tied parameter are summed over its uses
    statement: >
      The gradient of a parameter used at k positions MUST equal the sum of ...
    requires: [grad_slot]         # optional: capabilities it needs (conformance.profile)
    facts: [initial_grad]         # optional: the profile facts it checks against
    attributed: false             # optional: a claim the editions make of some frameworks only
    statistical: false            # optional
    sources:
      - document: 001_3659ca28e40ac9ce.txt
        section: "5.2.3 参数绑定"
        quote: "梯度会加在一起"
    ```

A clause names no framework. It applies to every framework unless the
framework lacks a capability it ``requires``, lists it as ``unsupported`` in
its profile (with the documented reason), or, for an ``attributed`` clause,
does not list it as ``attributed`` (see :mod:`conformance.profile` and
:mod:`conformance.planning`).

``specs/README.md`` is the catalogue's own documentation; its YAML front
matter holds ``catalogue_version``. A malformed file raises
:class:`SpecError` naming the file, the clause and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ID_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")
STATEMENT_RE = re.compile(r"\b(MUST|SHOULD)( NOT)?\b")
BLOCK_RE = re.compile(r"^```clause[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
FRONT_RE = re.compile(r"\A---\n(.*?)\n---\n", re.S)
REQUIRED = ("id", "title", "statement", "sources")
OPTIONAL = ("requires", "facts", "attributed", "statistical", "notes")
#: libyaml's safe loader where PyYAML was built with it (several times faster
#: on the catalogue, which every run parses); the pure-Python one otherwise.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SOURCE_FIELDS = ("document", "section", "quote")


class SpecError(ValueError):
    """A malformed spec file; the message names file, clause and field."""

    def __init__(self, file: str, clause: str | None, field_: str | None, problem: str) -> None:
        where = file
        if clause is not None:
            where += f", clause {clause!r}"
        if field_ is not None:
            where += f", field {field_!r}"
        super().__init__(f"{where}: {problem}")
        self.file, self.clause, self.field = file, clause, field_


@dataclass(frozen=True)
class Source:
    document: str
    section: str
    quote: str

    def as_dict(self) -> dict[str, str]:
        return {"document": self.document, "section": self.section, "quote": self.quote}


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    statement: str
    sources: tuple[Source, ...]
    file: str
    requires: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    attributed: bool = False
    statistical: bool = False
    notes: str = ""

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class Catalogue:
    version: str
    clauses: tuple[Clause, ...]
    _by_id: dict[str, Clause] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.clauses})

    def __getitem__(self, clause_id: str) -> Clause:
        try:
            return self._by_id[clause_id]
        except KeyError:
            raise KeyError(f"no clause {clause_id!r} in the catalogue") from None

    def __contains__(self, clause_id: object) -> bool:
        return clause_id in self._by_id

    def __iter__(self) -> Iterator[Clause]:
        return iter(self.clauses)

    def __len__(self) -> int:
        return len(self.clauses)

    def areas(self) -> list[str]:
        return list(dict.fromkeys(c.area for c in self.clauses))


def _parse_clause(raw: Any, file: str, index: int) -> Clause:
    label = f"#{index + 1}"
    if not isinstance(raw, dict):
        raise SpecError(file, label, None, f"a clause block must be a YAML mapping, got {type(raw).__name__}")
    cid = raw.get("id")
    if isinstance(cid, str):
        label = cid
    for key in REQUIRED:
        if key not in raw or raw[key] in (None, "", [], {}):
            raise SpecError(file, label, key, "missing or empty")
    for key in raw:
        if key not in REQUIRED and key not in OPTIONAL:
            raise SpecError(file, label, key, f"unknown field; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    if not isinstance(cid, str) or not ID_RE.match(cid):
        raise SpecError(
            file, label, "id", f"{cid!r} is not of the form area.name (lowercase, dash-separated)"
        )
    area = Path(file).stem
    if cid.split(".", 1)[0] != area:
        raise SpecError(file, label, "id", f"id must start with the file's area {area!r}")
    for key in ("title", "statement"):
        if not isinstance(raw[key], str):
            raise SpecError(file, label, key, "must be a string")
    statement = " ".join(raw["statement"].split())
    if not STATEMENT_RE.search(statement):
        raise SpecError(file, label, "statement", "must state a requirement with MUST or SHOULD (RFC 2119)")

    srcs = raw["sources"]
    if not isinstance(srcs, list):
        raise SpecError(file, label, "sources", "must be a list of {document, section, quote}")
    sources = []
    for j, s in enumerate(srcs):
        if not isinstance(s, dict) or any(
            not isinstance(s.get(k), str) or not s.get(k) for k in SOURCE_FIELDS
        ):
            raise SpecError(
                file, label, f"sources[{j}]", f"needs non-empty strings {', '.join(SOURCE_FIELDS)}"
            )
        extra = set(s) - set(SOURCE_FIELDS)
        if extra:
            raise SpecError(file, label, f"sources[{j}]", f"unknown keys {sorted(extra)}")
        sources.append(Source(s["document"], s["section"], " ".join(s["quote"].split())))

    from conformance.profile import CAPABILITIES, FACT_FIELDS

    names: dict[str, tuple[str, ...]] = {}
    for key, known in (("requires", CAPABILITIES), ("facts", FACT_FIELDS)):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(file, label, key, "must be a list of names")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise SpecError(file, label, key, f"unknown {unknown}; known: {', '.join(sorted(known))}")
        names[key] = tuple(value)
    attributed = raw.get("attributed", False)
    if not isinstance(attributed, bool):
        raise SpecError(file, label, "attributed", "must be true or false")
    statistical = raw.get("statistical", False)
    if not isinstance(statistical, bool):
        raise SpecError(file, label, "statistical", "must be true or false")
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise SpecError(file, label, "notes", "must be a string")
    return Clause(
        id=cid,
        title=" ".join(raw["title"].split()),
        statement=statement,
        sources=tuple(sources),
        file=file,
        requires=names["requires"],
        facts=names["facts"],
        attributed=attributed,
        statistical=statistical,
        notes=" ".join(notes.split()),
    )


def parse_file(text: str, file: str) -> list[Clause]:
    """The clauses of one spec file; :class:`SpecError` if any is malformed."""
    blocks = BLOCK_RE.findall(text)
    if text.count("```clause") != len(blocks):
        raise SpecError(file, None, None, "a ```clause block is not closed")
    if not blocks:
        raise SpecError(file, None, None, "no ```clause blocks")
    clauses = []
    for i, body in enumerate(blocks):
        try:
            raw = yaml.load(body, Loader=_LOADER)
        except yaml.YAMLError as exc:
            raise SpecError(file, f"#{i + 1}", None, f"invalid YAML: {exc}") from None
        clauses.append(_parse_clause(raw, file, i))
    return clauses


def specs_dir() -> Path:
    """Where the catalogue lives: inside the installed package (the wheel ships
    ``specs/`` as ``conformance/specs``) or, in a source checkout, at the top."""
    packaged = Path(str(resources.files("conformance"))) / "specs"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parent.parent / "specs"
    if source.is_dir():
        return source
    raise FileNotFoundError(f"spec catalogue not found at {packaged} or {source}")


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Every clause of every ``*.md`` file in ``directory`` (default: the
    shipped catalogue), validated; ids must be unique across files."""
    directory = directory if directory is not None else specs_dir()
    readme = directory / "README.md"
    if not readme.is_file():
        raise SpecError(str(readme), None, None, "missing: it holds the catalogue_version")
    front = FRONT_RE.match(readme.read_text(encoding="utf-8"))
    meta = yaml.load(front.group(1), Loader=_LOADER) if front else None
    if not isinstance(meta, dict) or not isinstance(meta.get("catalogue_version"), str):
        raise SpecError(
            readme.name, None, "catalogue_version", "front matter must set a string catalogue_version"
        )
    clauses: list[Clause] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.md")):
        if path.name == "README.md":
            continue
        for c in parse_file(path.read_text(encoding="utf-8"), path.name):
            if c.id in seen:
                raise SpecError(path.name, c.id, "id", f"duplicate id, first defined in {seen[c.id]}")
            seen[c.id] = path.name
            clauses.append(c)
    if not clauses:
        raise SpecError(str(directory), None, None, "no spec files")
    return Catalogue(meta["catalogue_version"], tuple(clauses))


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process."""
    return load_catalogue()
