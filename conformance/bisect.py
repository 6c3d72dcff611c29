"""``conformance bisect``: the first release whose verdict on a clause differs.

The compatibility matrix runs a few pinned releases per framework, so it can
only say a verdict changed "between 2.15.0 and 3.0.5". A bisection lists the
releases between two ends on the package index
(:func:`conformance.releases.between`), probes both ends, takes the clauses
asked for (or every clause whose verdict differs between the ends), and for
each one binary-searches to the first release whose verdict differs from the
older end's. A probe runs the clauses' property tests in an environment of the
release (:mod:`conformance.releases`); one probe serves every clause. A
release that will not install, or cannot run the suite, is *skipped*: the
search goes on around it, and where a skipped release lies between the last
release of the old verdict and the first of the new one, the result says the
change may be there instead (``undecided``).

:func:`search` is the search alone, over any ``probe`` function, so it is
tested on a fake index and a fake runner. The result document is described
by ``conformance/reporting/bisect.schema.json``; :func:`render` is its Markdown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_FILE = "bisect.schema.json"
SCHEMA_VERSION = "1.0"
EVIDENCE_CHARS = 1500  # of a message or counterexample, per probed clause


class Refused(Exception):
    """The bisection cannot run or cannot decide; ``doc`` holds what was observed."""

    def __init__(self, message: str, doc: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.doc = doc


@dataclass
class Probe:
    """One release, probed: its verdict on each clause, or why it was skipped."""

    version: str
    status: str  # "ran" or "skipped"
    reason: str | None = None
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    framework: dict[str, Any] | None = None
    installed: dict[str, str] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    install_seconds: float = 0.0
    run_seconds: float = 0.0
    reused: bool = False

    def verdict(self, clause: str) -> str | None:
        v = self.verdicts.get(clause)
        return None if v is None else str(v["verdict"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "framework": self.framework,
            "requirements": self.requirements,
            "installed": self.installed,
            "install_seconds": round(self.install_seconds, 1),
            "run_seconds": round(self.run_seconds, 1),
            "reused_environment": self.reused,
            "verdicts": self.verdicts,
        }


def _cut(text: Any) -> str | None:
    if not text:
        return None
    text = str(text)
    return text if len(text) <= EVIDENCE_CHARS else text[:EVIDENCE_CHARS] + " [...]"


def evidence(result: dict[str, Any]) -> dict[str, Any]:
    """A report's result entry reduced to what a bisection keeps of it."""
    ev = result.get("evidence", {})
    kd = result.get("known_deviation")
    return {
        "title": result.get("title", ""),
        "verdict": result["verdict"],
        "expected": result["expected"],
        "reason": _cut(result.get("reason")),
        "message": _cut(ev.get("message")),
        "counterexample": _cut(ev.get("counterexample")),
        "reproduce": ev.get("reproduce"),
        "known_deviation": None if kd is None else {"versions": kd["versions"], "link": kd["link"]},
    }


Prober = Callable[[str, "Sequence[str] | None"], Probe]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def search(
    releases: Sequence[str],
    probe: Prober,
    clauses: Sequence[str] | None = None,
    *,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Bisect ``releases`` (oldest first; the ends are the first and last).
    ``probe(version, clauses)`` runs ``clauses`` (None: the whole catalogue)
    at ``version``. Returns ``{"clauses", "selection", "probes", "results"}``;
    raises :class:`Refused` when an end cannot be probed, when an asked clause
    is missing at an end, or when no asked clause differs between the ends."""
    if len(releases) < 2:
        raise Refused("a bisection needs two releases")
    first, last = releases[0], releases[-1]
    probes: dict[str, Probe] = {}
    wanted = list(clauses) if clauses else None

    def at(version: str, target: Sequence[str] | None) -> Probe:
        if version not in probes:
            n = len(probes) + 1
            progress(f"probe {n}: {version} ({'every clause' if target is None else ', '.join(target)})")
            p = probe(version, target)
            probes[version] = p
            if p.status == "skipped":
                progress(f"probe {n}: {version} skipped: {(p.reason or '').splitlines()[0][:200]}")
            else:
                shown = target or sorted(p.verdicts)
                said = ", ".join(f"{c} {p.verdict(c)}" for c in shown) if target else f"{len(shown)} clauses"
                progress(f"probe {n}: {version}: {said}")
        return probes[version]

    ends = [at(first, wanted), at(last, wanted)]

    def doc(results: list[dict[str, Any]], chosen: Sequence[str]) -> dict[str, Any]:
        order = {v: i for i, v in enumerate(releases)}
        listed = []
        for p in sorted(probes.values(), key=lambda p: order[p.version]):
            d = p.as_dict()
            if chosen:  # every probe's verdicts on the clauses bisected (an end ran them all)
                d["verdicts"] = {c: v for c, v in d["verdicts"].items() if c in chosen}
            listed.append(d)
        return {
            "clauses": list(chosen),
            "selection": "given" if wanted else "every clause whose verdict differs between the ends",
            "probes": listed,
            "results": results,
        }

    for end in ends:
        if end.status != "ran":
            raise Refused(f"the end {end.version} could not be probed: {end.reason}", doc([], wanted or []))
    if wanted:
        missing = [c for c in wanted for e in ends if c not in e.verdicts]
        if missing:
            raise Refused(
                f"no verdict on {', '.join(sorted(set(missing)))} at an end (unknown clause, or no test ran)",
                doc([], wanted),
            )
        chosen = [c for c in wanted if ends[0].verdict(c) != ends[1].verdict(c)]
        same = [c for c in wanted if c not in chosen]
        if not chosen:
            raise Refused(
                f"the ends do not differ: {', '.join(f'{c} is {ends[0].verdict(c)}' for c in same)} "
                f"at both {first} and {last}; nothing to bisect",
                doc([], wanted),
            )
    else:
        common = [c for c in ends[0].verdicts if c in ends[1].verdicts]
        chosen = [c for c in common if ends[0].verdict(c) != ends[1].verdict(c)]
        if not chosen:
            raise Refused(
                f"the ends do not differ: every one of the {len(common)} clauses has one verdict at both "
                f"{first} and {last}; nothing to bisect",
                doc([], []),
            )
    progress(f"bisecting {len(chosen)} clause(s) over {len(releases) - 2} release(s) between the ends")

    results = []
    for clause in chosen:
        before = ends[0].verdict(clause)
        lo, hi = 0, len(releases) - 1
        skipped: set[int] = {
            i for i, v in enumerate(releases) if v in probes and probes[v].status == "skipped"
        }
        while True:
            inside = [i for i in range(lo + 1, hi) if i not in skipped]
            if not inside:
                break
            middle = (lo + hi) / 2
            mid = min(inside, key=lambda i: (abs(i - middle), i))
            p = at(releases[mid], chosen)
            if p.status != "ran" or p.verdict(clause) is None:
                skipped.add(mid)
                continue
            if p.verdict(clause) == before:
                lo = mid
            else:
                hi = mid
        undecided = [releases[i] for i in range(lo + 1, hi) if i in skipped]
        # A probed release outside (lo, hi) that contradicts a single change.
        returns = []
        for i, v in enumerate(releases):
            seen = probes.get(v)
            if seen is None or seen.status != "ran" or seen.verdict(clause) is None:
                continue
            p = seen
            if (i < lo and p.verdict(clause) != before) or (i > hi and p.verdict(clause) == before):
                returns.append(v)
        after = probes[releases[hi]].verdict(clause)
        results.append(
            {
                "clause": clause,
                "title": _title(probes, clause),
                "before": before,
                "after": after,
                "last_before": releases[lo],
                "first_after": releases[hi],
                "status": "undecided" if undecided else "found",
                "undecided": undecided,
                "not_monotonic": returns,
            }
        )
        where = f"first {after} in {releases[hi]} (last {before} in {releases[lo]})"
        progress(f"{clause}: {where}" + (f"; or in skipped {', '.join(undecided)}" if undecided else ""))
    return doc(results, chosen)


def _title(probes: dict[str, Probe], clause: str) -> str:
    for p in probes.values():
        if clause in p.verdicts and p.verdicts[clause].get("title"):
            return str(p.verdicts[clause]["title"])
    return ""


# -- the document ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("conformance.reporting").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def errors(doc: Any) -> list[str]:
    """Every way ``doc`` does not match the bisection schema."""
    from conformance.reporting import json_report

    return json_report.errors(doc, schema())


def stem(doc: dict[str, Any]) -> str:
    parts = [
        "bisect",
        doc["framework"],
        *([doc["backend"]] if doc.get("backend") else []),
        doc["from"],
        doc["to"],
    ]
    return "-".join(str(p) for p in parts)


def document(
    *,
    framework: str,
    distribution: str,
    backend: str | None,
    first: str,
    last: str,
    releases: Sequence[str],
    pre: bool,
    index: str,
    settings: dict[str, Any],
    found: dict[str, Any],
    outcome: str,
    started: float,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "framework": framework,
        "distribution": distribution,
        "backend": backend,
        "from": first,
        "to": last,
        "pre_releases": pre,
        "index": index,
        "releases": list(releases),
        "settings": settings,
        "outcome": outcome,
        "message": message,
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": round(time.monotonic() - started, 1),
        **found,
    }


def render(doc: dict[str, Any]) -> str:
    """The bisection as Markdown: what changed where, then every probe."""
    on = f" on {doc['backend']}" if doc.get("backend") else ""
    out = [f"# Bisection: {doc['framework']} {doc['from']} .. {doc['to']}{on}", ""]
    out += [
        f"{len(doc['releases'])} releases of `{doc['distribution']}` from {doc['index']} "
        f"({'pre-releases included' if doc['pre_releases'] else 'no pre-releases'}): "
        + ", ".join(doc["releases"]),
        "",
        f"Clauses: {doc['selection']}. Outcome: **{doc['outcome']}**"
        + (f": {doc['message']}" if doc.get("message") else "."),
        "",
    ]
    if doc["results"]:
        out += [
            "| clause | last release of the old verdict | first release of the new verdict | notes |",
            "|---|---|---|---|",
        ]
        for r in doc["results"]:
            notes = []
            if r["undecided"]:
                notes.append(f"or in {', '.join(r['undecided'])} (skipped: did not install or run)")
            if r["not_monotonic"]:
                notes.append(f"not monotonic: the old verdict again in {', '.join(r['not_monotonic'])}")
            out.append(
                f"| `{r['clause']}` | {r['last_before']} ({r['before']}) | **{r['first_after']}** "
                f"({r['after']}) | {'; '.join(notes)} |"
            )
        out.append("")
    out += [
        "## Probes",
        "",
        "| release | status | backend | verdicts | install / run (s) |",
        "|---|---|---|---|---|",
    ]
    for p in doc["probes"]:
        fw = p.get("framework") or {}
        backend = " ".join(str(x) for x in (fw.get("backend"), fw.get("backend_version")) if x) or "-"
        if p["status"] == "ran":
            said = "; ".join(f"`{c}` {v['verdict']}" for c, v in p["verdicts"].items() if c in doc["clauses"])
            said = said or f"{len(p['verdicts'])} clauses"
        else:
            said = f"skipped: {(p['reason'] or '').splitlines()[0][:160]}"
        out.append(
            f"| {p['version']} | {p['status']} | {backend} | {said} | "
            f"{p['install_seconds']:g} / {p['run_seconds']:g} |"
        )
    out += ["", "## Evidence", ""]
    for p in doc["probes"]:
        for c, v in p["verdicts"].items():
            if c in doc["clauses"] and (v.get("message") or v.get("counterexample")):
                out += [f"### `{c}` at {p['version']}: {v['verdict']}", ""]
                text = v.get("counterexample") or v.get("message")
                out += ["```", str(text).strip(), "```", ""]
    s = doc["settings"]
    out += [
        f"Settings: seed {s['seed']}, {s['max_examples']} examples per property; "
        f"took {doc['duration']:g} s ({doc['timestamp']}).",
        "",
    ]
    return "\n".join(out)


def write(doc: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """``<stem>.json`` (checked against the schema) and ``<stem>.md`` in ``directory``."""
    from conformance.reporting import json_report

    problems = errors(doc)
    if problems:
        raise ValueError("the bisection does not match its schema:\n  " + "\n  ".join(problems))
    base = Path(directory) / stem(doc)
    json_path, md_path = base.with_name(base.name + ".json"), base.with_name(base.name + ".md")
    json_report.write_atomic(json_path, json_report.dumps(doc))
    json_report.write_atomic(md_path, render(doc))
    return json_path, md_path


def load_dir_file(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The bisection in ``path`` (a list of one), or a problem line naming the file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], [f"{path}: not a readable JSON file: {exc}"]
    errs = errors(doc)
    if errs:
        return [], [f"{path}: does not match the bisection schema: " + "; ".join(errs[:5])]
    return [doc], []
