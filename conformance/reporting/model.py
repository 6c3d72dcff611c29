"""The report's data model: per-test outcomes in, the report dict out.

The plugin turns each pytest test into a :class:`TestVerdict`; this module
aggregates them per clause and assembles the document described by
``report.schema.json``. Nothing here knows about pytest, so the report can be
built (and tested) from plain data.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.deviations import Deviation
from conformance.spec import Catalogue, Clause

SCHEMA_VERSION = "1.0"

Verdict = Literal["holds", "violated", "not-applicable", "error"]
VERDICTS: tuple[Verdict, ...] = ("holds", "violated", "not-applicable", "error")
# A clause tested by several tests takes the most serious of their verdicts.
PRIORITY: dict[str, int] = {"error": 3, "violated": 2, "holds": 1, "not-applicable": 0}
Outcome = Literal["passed", "failed", "skipped", "xfailed", "xpassed", "error"]


@dataclass
class TestVerdict:
    """What one test says about every clause it names."""

    nodeid: str
    clauses: tuple[str, ...]
    outcome: Outcome
    verdict: Verdict
    expected: bool
    reason: str | None = None
    duration: float = 0.0
    message: str | None = None
    counterexample: str | None = None
    reproduce: str | None = None
    statistics: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Framework:
    name: str
    version: str | None
    backend: str | None
    installed: bool
    #: Version of the backend, where it is a separate package (Keras 3 on
    #: TensorFlow 2.21): two runs differing only there must not share a report.
    backend_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "backend": self.backend,
            "installed": self.installed,
        }
        if self.backend_version is not None:  # optional in the schema: 1.0 reports lack it
            d["backend_version"] = self.backend_version
        return d


@dataclass(frozen=True)
class RunInfo:
    seed: int | str
    max_examples: int
    stat_examples: int | None
    derandomize: bool
    budget_total: float
    statistical_tests: int
    per_test: float
    timestamp: str  # ISO 8601, UTC
    duration: float


def clause_result(
    clause: Clause, tests: Sequence[TestVerdict], deviation: Deviation | None
) -> dict[str, Any]:
    """One ``results`` entry: the verdicts of ``tests`` aggregated for ``clause``."""
    worst = max(tests, key=lambda t: PRIORITY[t.verdict])
    deciding = [t for t in tests if t.verdict == worst.verdict]
    unexpected = [t for t in tests if not t.expected]
    # The reason shown is the one that needs attention first: an unexpected
    # outcome's, else the deciding verdict's.
    explain = unexpected[0] if unexpected else deciding[0]
    evidence_from = next((t for t in deciding if t.message or t.counterexample), deciding[0])
    return {
        "spec": clause.id,
        "title": clause.title,
        "statement": clause.statement,
        "area": clause.area,
        "sources": [s.as_dict() for s in clause.sources],
        "verdict": worst.verdict,
        "expected": not unexpected,
        "reason": explain.reason,
        "known_deviation": deviation.as_dict() if deviation is not None else None,
        "tests": [
            {"nodeid": t.nodeid, "outcome": t.outcome, "duration": round(t.duration, 6)} for t in tests
        ],
        "evidence": {
            "message": evidence_from.message,
            "counterexample": evidence_from.counterexample,
            "reproduce": evidence_from.reproduce,
            "statistics": [s for t in tests for s in t.statistics],
        },
    }


def build_report(
    catalogue: Catalogue,
    framework: Framework,
    run: RunInfo,
    tests: Iterable[TestVerdict],
    deviations: Mapping[str, Deviation],
    stale: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report document. ``deviations`` maps a clause id to the entry that
    matched it for the installed version; ``stale`` lists entries that match
    nothing. A clause with no test that ran or was skipped is omitted."""
    by_clause: dict[str, list[TestVerdict]] = {}
    for t in tests:
        for cid in t.clauses:
            by_clause.setdefault(cid, []).append(t)
    results = [
        clause_result(c, by_clause[c.id], deviations.get(c.id)) for c in catalogue if c.id in by_clause
    ]
    summary: dict[str, int] = dict.fromkeys(VERDICTS, 0)
    for r in results:
        summary[r["verdict"]] += 1
    summary["unexpected"] = sum(not r["expected"] for r in results)
    return {
        "schema_version": SCHEMA_VERSION,
        "catalogue_version": catalogue.version,
        "framework": framework.as_dict(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "timestamp": run.timestamp,
        "duration": round(run.duration, 3),
        "seed": run.seed,
        "settings": {
            "max_examples": run.max_examples,
            "stat_examples": run.stat_examples,
            "derandomize": run.derandomize,
        },
        "error_budget": {
            "total": run.budget_total,
            "correction": "bonferroni",
            "statistical_tests": run.statistical_tests,
            "per_test": run.per_test,
        },
        "results": results,
        "summary": summary,
        "stale_deviations": [dict(s) for s in stale],
    }


def report_stem(framework: Mapping[str, Any]) -> str:
    """``conformance-<framework>-<version>[-<backend>[<backend version>]]``, safe
    as a file name: everything that tells two environments' runs apart, so
    environments writing into one directory (``tox -p``) never share a file."""
    parts = [framework["name"], framework.get("version") or "not-installed"]
    if framework.get("backend"):
        parts.append(framework["backend"] + (framework.get("backend_version") or ""))
    return "conformance-" + "-".join(re.sub(r"[^A-Za-z0-9._+-]+", "_", str(p)) for p in parts)


#: The fields of a report that depend on when and how fast it ran, not on what
#: ran: the start time, the run's duration and each test's duration. Two runs
#: with the same seed, framework and options agree on everything else, however
#: their tests were spread over processes (pytest-xdist workers, restarts).
VOLATILE = ("timestamp", "duration", "results[].tests[].duration")


def without_volatile(report: Mapping[str, Any]) -> dict[str, Any]:
    """``report`` without its :data:`VOLATILE` fields, for comparing runs."""
    out = {k: v for k, v in report.items() if k not in ("timestamp", "duration")}
    out["results"] = [
        {**r, "tests": [{k: v for k, v in t.items() if k != "duration"} for t in r["tests"]]}
        for r in report["results"]
    ]
    return out
