"""Merge the JSON reports of a directory into one compatibility matrix.

``load_dir`` reads every ``conformance-*.json`` of a directory, checks each
completely (JSON, schema version, schema, internal consistency) and refuses
the whole set if anything is wrong, naming every file and problem: the
renderers only ever see reports that passed. ``merge`` turns the reports into
a :class:`Matrix`: one column per report (framework, version, backend), one
row per clause, the behaviour changes between versions of one framework, and
the claims of each source document with where they hold.

Nothing here renders or writes; ``index_md`` and ``html`` do.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from conformance.reporting import json_report
from conformance.reporting.markdown import _wrong_everywhere as wrong_everywhere
from conformance.reporting.model import SCHEMA_VERSION, VERDICTS
from conformance.reporting.plots import PLOT_ARRAYS

# Only files named like the plugin names its reports are read; anything else
# in the directory (index files, other tools' JSON) is left alone and listed.
PATTERN = "conformance-*.json"
# A failure, for the page's "only failures" filter and the evidence section.
FAILING = ("violated", "error")


class BadInput(ValueError):
    """The directory cannot be merged; ``problems`` names each file and what is wrong."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# -- loading and checking ------------------------------------------------------


def _major_minor(version: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


_parsed = _major_minor(SCHEMA_VERSION)
assert _parsed is not None
CURRENT: tuple[int, int] = _parsed


@lru_cache(maxsize=2)
def _schema(open_world: bool) -> dict[str, Any]:
    """The report schema, accepting any 1.x ``schema_version``. With
    ``open_world`` (a report of a newer minor version, which may only add
    optional fields) unknown fields are allowed too."""
    doc = copy.deepcopy(json_report.schema())
    doc["properties"]["schema_version"] = {"type": "string", "pattern": rf"^{CURRENT[0]}\.\d+$"}

    def drop_closed(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is False:
                del node["additionalProperties"]
            for sub in node.values():
                drop_closed(sub)
        elif isinstance(node, list):
            for sub in node:
                drop_closed(sub)

    if open_world:
        drop_closed(doc)
    return doc


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _plot_problems(plot: dict[str, Any], where: str) -> list[str]:
    """The schema says what a plot holds; the arrays of one plot must also be
    of one length, or no plot can be drawn from them."""
    arrays = PLOT_ARRAYS.get(str(plot.get("kind")), ())
    lengths = [len(plot[k]) for k in arrays if isinstance(plot.get(k), list)]
    if len(set(lengths)) > 1:
        listed = ", ".join(f"{k} {n}" for k, n in zip(arrays, lengths))
        return [f"{where}/plot: arrays of different lengths ({listed})"]
    return []


def _consistency(report: dict[str, Any]) -> list[str]:
    """What the schema cannot say: the summary counts the results, a clause
    appears once, plot arrays line up."""
    problems = []
    results = report["results"]
    counted: dict[str, int] = {v: sum(r["verdict"] == v for r in results) for v in VERDICTS}
    counted["unexpected"] = sum(not r["expected"] for r in results)
    for key, n in counted.items():
        if report["summary"].get(key) != n:
            problems.append(f"summary/{key}: says {report['summary'].get(key)}, the results count {n}")
    seen: set[str] = set()
    for i, r in enumerate(results):
        if r["spec"] in seen:
            problems.append(f"results/{i}: clause {r['spec']} appears twice")
        seen.add(r["spec"])
        for j, s in enumerate(r["evidence"]["statistics"]):
            if isinstance(s.get("plot"), dict):
                problems += _plot_problems(s["plot"], f"results/{i}/evidence/statistics/{j}")
    return problems


def check_report(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Read and check one report file: the report, or ``None`` and its problems
    (each line starts with the file's path)."""

    def bad(*msgs: str) -> tuple[None, list[str]]:
        return None, [f"{path}: {m}" for m in msgs]

    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return bad(f"cannot read: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return bad(f"not UTF-8 text (byte {exc.start}): corrupted?")
    if not text.strip():
        return bad("empty file")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        hint = " (truncated?)" if cut else ""
        return bad(f"not valid JSON{hint}: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError as exc:  # NaN / Infinity
        return bad(f"not valid JSON: {exc}")
    if not isinstance(doc, dict):
        return bad(f"not a conformance report: the top level is a JSON {type(doc).__name__}, not an object")
    version = doc.get("schema_version")
    if not isinstance(version, str):
        return bad("not a conformance report: no schema_version")
    mm = _major_minor(version)
    if mm is None:
        return bad(f"schema_version {version!r} is not MAJOR.MINOR")
    if mm[0] != CURRENT[0]:
        return bad(
            f"schema_version {version} is not supported: this conformance reads {CURRENT[0]}.x reports "
            f"(its own are {SCHEMA_VERSION}); merge it with a conformance release that reads {mm[0]}.x"
        )
    problems = json_report.errors(doc, _schema(mm[1] > CURRENT[1]))
    if problems:
        return bad("does not match the report schema:", *(f"  {p}" for p in problems))
    problems = _consistency(doc)
    if problems:
        return bad("is inconsistent:", *(f"  {p}" for p in problems))
    return doc, []


@dataclass(frozen=True)
class Loaded:
    reports: list[tuple[Path, dict[str, Any]]]
    ignored: list[Path]  # JSON files in the directory not named conformance-*.json
    #: the bisections in the directory's bisect/ (``conformance bisect``), each with its file
    bisections: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)


def load_dir(directory: Path) -> Loaded:
    """Every ``conformance-*.json`` of ``directory``, checked. Raises
    :class:`BadInput` naming every problem of every file, a framework
    version and backend reported twice, or a directory without reports."""
    directory = Path(directory)
    paths = sorted(directory.glob(PATTERN))
    ignored = sorted(p for p in directory.glob("*.json") if p not in paths)
    if not paths:
        raise BadInput([f"{directory}: no report: no {PATTERN} file to merge"])
    problems: list[str] = []
    reports: list[tuple[Path, dict[str, Any]]] = []
    for path in paths:
        doc, errs = check_report(path)
        problems += errs
        if doc is not None:
            reports.append((path, doc))
    first: dict[tuple[Any, ...], Path] = {}
    for path, doc in reports:
        key = _identity(doc["framework"])
        if key in first:
            problems.append(
                f"{first[key]} and {path}: both report {_label(*key)}; keep one of them "
                "(a merge never picks a result silently)"
            )
        else:
            first[key] = path
    bisections: list[tuple[Path, dict[str, Any]]] = []
    if (directory / "bisect").is_dir():
        from conformance import bisect

        for path in sorted((directory / "bisect").glob("bisect-*.json")):
            docs, errs = bisect.load_dir_file(path)
            problems += errs
            bisections += [(path, d) for d in docs]
    if problems:
        raise BadInput(problems)
    return Loaded(reports, ignored, bisections)


# -- the merged model ----------------------------------------------------------


def _identity(fw: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    # Two Keras envs on one Keras release differ in their backend's version.
    return fw["name"], fw["version"], fw["backend"], fw.get("backend_version")


def _label(name: str, version: str | None, backend: str | None, backend_version: str | None = None) -> str:
    text = f"{name} {version or '(not installed)'}"
    if backend and backend_version:
        return f"{text} on {backend} {backend_version}"
    return f"{text} on {backend}" if backend else text


def version_key(version: str | None) -> tuple[int, Any]:
    """Sort key: PEP 440 versions in order, anything unparsable after them."""
    try:
        return (0, Version(version or ""))
    except InvalidVersion:
        return (1, version or "")


def score(counts: dict[str, int]) -> float | None:
    """Share of the applicable clauses that hold: holds / (holds + violated +
    error); not-applicable clauses are left out, known deviations count as
    violated. ``None`` when nothing applies."""
    applicable = counts["holds"] + counts["violated"] + counts["error"]
    return counts["holds"] / applicable if applicable else None


@dataclass(frozen=True)
class Column:
    """One report: one framework version on one backend."""

    index: int
    path: Path
    report: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.report["framework"]["name"])

    @property
    def version(self) -> str | None:
        return self.report["framework"]["version"]

    @property
    def backend(self) -> str | None:
        return self.report["framework"]["backend"]

    @property
    def backend_version(self) -> str | None:
        return self.report["framework"].get("backend_version")

    @property
    def backend_label(self) -> str:
        """The backend and, where the report records it, its version."""
        return " ".join(x for x in (self.backend, self.backend_version) if x)

    @property
    def label(self) -> str:
        return _label(self.name, self.version, self.backend, self.backend_version)

    @cached_property
    def results(self) -> dict[str, dict[str, Any]]:
        return {r["spec"]: r for r in self.report["results"]}

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.report["summary"])

    @property
    def score(self) -> float | None:
        return score(self.counts)


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    statement: str
    sources: tuple[dict[str, str], ...]

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class Change:
    """A clause whose verdict differs between two consecutive tested versions
    of one framework on one backend."""

    framework: str
    backend: str | None
    clause: str
    before_version: str | None
    before: str
    after_version: str | None
    after: str
    #: the bisection that located it between the two tested versions (conformance bisect)
    bisected: Bisected | None = None

    @property
    def group(self) -> str:
        return f"{self.framework} on {self.backend}" if self.backend else self.framework

    def describe(self) -> str:
        text = (
            f"last {PAST[self.before]} in {self.before_version}, "
            f"first {PAST[self.after]} in {self.after_version}"
        )
        return f"{text}; {self.bisected.describe()}" if self.bisected else text


@dataclass(frozen=True)
class Bisected:
    """Where a bisection put a change: the exact first release."""

    last_before: str
    first_after: str
    undecided: tuple[str, ...]
    file: str

    def describe(self) -> str:
        text = f"bisected: first release {self.first_after} (last before it {self.last_before})"
        if self.undecided:
            text += f", or one of the skipped {', '.join(self.undecided)}"
        return text


PAST = {"holds": "held", "violated": "violated", "not-applicable": "not applicable", "error": "errored"}


@dataclass(frozen=True)
class Claim:
    """One quoted claim of a source document, and what the reports say of it."""

    document: str
    section: str
    quote: str
    clause: str
    status: tuple[str, ...]  # plain sentences: stale since, wrong for every version, ...


@dataclass
class Matrix:
    columns: list[Column]
    clauses: list[Clause]
    changes: list[Change] = field(default_factory=list)
    documents: dict[str, list[Claim]] = field(default_factory=dict)
    ignored: list[Path] = field(default_factory=list)

    def cell(self, clause: str, column: Column) -> dict[str, Any] | None:
        return column.results.get(clause)

    def areas(self) -> dict[str, list[Clause]]:
        out: dict[str, list[Clause]] = {}
        for c in self.clauses:
            out.setdefault(c.area, []).append(c)
        return out

    @property
    def catalogue_versions(self) -> list[str]:
        return sorted({c.report["catalogue_version"] for c in self.columns})


def _column_order(doc: dict[str, Any]) -> tuple[Any, ...]:
    # The reference first (the baseline), then by framework, version (left to
    # right as releases came), backend.
    fw = doc["framework"]
    return (fw["name"] != "reference", fw["name"], version_key(fw["version"]), fw["backend"] or "",
            version_key(fw.get("backend_version")))


def _bisected(ch: Change, bisections: Sequence[tuple[Path, dict[str, Any]]]) -> Bisected | None:
    """The result of a bisection covering ``ch``: same framework, backend and
    clause, the two tested versions within its ends, the change it found
    between them."""
    lo, hi = version_key(ch.before_version), version_key(ch.after_version)
    for path, doc in bisections:
        if doc["framework"] != ch.framework or doc.get("backend") != ch.backend or doc["outcome"] != "found":
            continue
        if not (version_key(doc["from"]) <= lo and hi <= version_key(doc["to"])):
            continue
        for r in doc["results"]:
            if (r["clause"] == ch.clause and lo <= version_key(r["last_before"])
                    and version_key(r["first_after"]) <= hi and r["before"] == ch.before):
                return Bisected(r["last_before"], r["first_after"], tuple(r["undecided"]), path.name)
    return None


def _changes(columns: Sequence[Column], clauses: Sequence[Clause],
             bisections: Sequence[tuple[Path, dict[str, Any]]] = ()) -> list[Change]:
    groups: dict[tuple[str, str | None], list[Column]] = {}
    for col in columns:
        if col.report["framework"]["installed"]:  # a missing framework says nothing about behaviour
            groups.setdefault((col.name, col.backend), []).append(col)
    out = []
    for (name, backend), cols in groups.items():
        cols = sorted(cols, key=lambda c: version_key(c.version))
        for clause in clauses:
            tested = [(c, c.results[clause.id]["verdict"]) for c in cols if clause.id in c.results]
            for (a, va), (b, vb) in zip(tested, tested[1:]):
                if va != vb:
                    ch = Change(name, backend, clause.id, a.version, va, b.version, vb)
                    out.append(dataclasses.replace(ch, bisected=_bisected(ch, bisections)))
    return out


def _status(clause: str, columns: Sequence[Column], changes: Sequence[Change]) -> tuple[str, ...]:
    """What a reader of the claim should know: where it was never true, since
    when it is stale (or became true), where else it fails, and where it holds."""
    lines = []
    wrong = sorted({c.name for c in columns if clause in c.results and wrong_everywhere(c.results[clause])})
    lines += [f"wrong for every version of {name}" for name in wrong]
    explained = {(c.name, c.backend) for c in columns if c.name in wrong}
    for ch in changes:
        if ch.clause != clause:
            continue
        if ch.before == "holds" and ch.after in FAILING:
            lines.append(f"stale since {ch.group} {ch.after_version} (last held in {ch.before_version})")
        elif ch.before in FAILING and ch.after == "holds":
            lines.append(f"true since {ch.group} {ch.after_version} ({ch.before} in {ch.before_version})")
        else:
            continue
        explained.add((ch.framework, ch.backend))
    for col in columns:
        r = col.results.get(clause)
        if r is None or r["verdict"] not in FAILING or (col.name, col.backend) in explained:
            continue
        kd = r["known_deviation"]
        if r["verdict"] == "violated" and kd is not None:
            lines.append(f"violated on {col.label} (known deviation for {col.name} {kd['versions']})")
        else:
            lines.append(f"{r['verdict']} on {col.label}" + ("" if r["expected"] else " (unexpected)"))
    applies = [c for c in columns if clause in c.results and c.results[clause]["verdict"] != "not-applicable"]
    held = [c for c in applies if c.results[clause]["verdict"] == "holds"]
    if not applies:
        lines.append("applies to no report")
    elif len(held) == len(applies):
        lines.append(f"holds on all {len(applies)} reports it applies to")
    else:
        lines.append(f"holds on {len(held)} of {len(applies)} reports it applies to")
    return tuple(dict.fromkeys(lines))


def merge(loaded: Loaded | Iterable[tuple[Path, dict[str, Any]]]) -> Matrix:
    """The matrix of checked reports (see :func:`load_dir`)."""
    pairs = loaded.reports if isinstance(loaded, Loaded) else list(loaded)
    ordered = sorted(pairs, key=lambda pr: _column_order(pr[1]))
    columns = [Column(i, path, doc) for i, (path, doc) in enumerate(ordered)]
    # Clauses in catalogue order; a clause only some reports know (another
    # catalogue version) joins after the clauses of its area seen so far.
    clauses: dict[str, Clause] = {}
    for col in columns:
        for r in col.report["results"]:
            if r["spec"] not in clauses:
                clauses[r["spec"]] = Clause(r["spec"], r["title"], r["statement"], tuple(r["sources"]))
    areas: dict[str, list[Clause]] = {}
    for c in clauses.values():
        areas.setdefault(c.area, []).append(c)
    rows = [c for group in areas.values() for c in group]
    changes = _changes(columns, rows, loaded.bisections if isinstance(loaded, Loaded) else ())
    documents: dict[str, list[Claim]] = {}
    for c in rows:
        status = _status(c.id, columns, changes)
        for src in c.sources:
            claim = Claim(src["document"], src["section"], src["quote"], c.id, status)
            if claim not in documents.setdefault(src["document"], []):
                documents[src["document"]].append(claim)
    return Matrix(
        columns,
        rows,
        changes,
        dict(sorted(documents.items())),
        list(loaded.ignored) if isinstance(loaded, Loaded) else [],
    )


# How a cell reads: (short text, meaning). Known deviations and unexpected
# verdicts are told apart, in text, not only by colour.
CELL = {
    "holds": ("holds", "holds"),
    "known": ("known", "violated, a listed known deviation (expected)"),
    "violated": ("VIOLATED", "violated and not a listed deviation (unexpected)"),
    "holds-unexpected": (
        "holds!",
        "holds although listed as a known deviation (unexpected: remove the entry)",
    ),
    "na": ("n/a", "not applicable to this framework or version"),
    "error": ("ERROR", "the check itself could not run (unexpected)"),
    "absent": ("-", "not in this report (another catalogue version)"),
}


def cell_kind(result: dict[str, Any] | None) -> str:
    """The key into :data:`CELL` for one clause of one report."""
    if result is None:
        return "absent"
    verdict = result["verdict"]
    if verdict == "violated":
        return "known" if result["expected"] else "violated"
    if verdict == "holds":
        return "holds" if result["expected"] else "holds-unexpected"
    return "na" if verdict == "not-applicable" else "error"


def failing(result: dict[str, Any] | None) -> bool:
    """A violation or an error, expected or not: what "only failures" shows."""
    return result is not None and result["verdict"] in FAILING


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def distinct_checks(statistics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statistical checks of a clause, each once: Hypothesis replays a
    failing example to report it, so the same check can be recorded twice."""
    keys = ("label", "test", "n", "statistic", "p_value")
    return list({tuple(s.get(k) for k in keys): s for s in statistics}.values())
