"""The reference implementation holds on every clause that applies to it.

Runs the real catalogue against the reference through the command a user runs,
in a subprocess (a clean interpreter, as in a framework's CI), with fewer
examples than the default so the suite's own tests stay fast; the full count
runs in the `reference` tox env.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conformance import planning
from conformance.frameworks import builtin_profiles
from conformance.spec import catalogue

REFERENCE = builtin_profiles()["reference"]


def test_reference_holds_on_every_applicable_clause(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--framework", "reference",
         "--report-dir", str(tmp_path), "--max-examples", "30", "--seed", "20261122"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    [report_file] = tmp_path.glob("conformance-reference-*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    results = {r["spec"]: r for r in report["results"]}
    assert set(results) == {c.id for c in catalogue()}, "every clause gets a verdict"
    for clause in catalogue():
        r = results[clause.id]
        why = planning.not_applicable(clause, REFERENCE, REFERENCE.facts)
        if why is None:
            assert r["verdict"] == "holds", (clause.id, r["verdict"], r["reason"], r["evidence"])
        else:
            assert r["verdict"] == "not-applicable" and why in r["reason"], (clause.id, r)
    assert report["summary"]["unexpected"] == 0
    assert report["error_budget"]["total"] == 1e-6
    stats = [s for r in report["results"] for s in r["evidence"]["statistics"]]
    assert stats and all(s["passed"] for s in stats)
    assert (
        sum(
            1
            for c in catalogue()
            if c.statistical and not planning.not_applicable(c, REFERENCE, REFERENCE.facts)
        )
        == report["error_budget"]["statistical_tests"]
    )
