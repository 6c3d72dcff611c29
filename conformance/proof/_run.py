"""Running the catalogue in a child process, as the proof commands need it:
isolated from the working directory's pytest configuration (like
``conformance run``), with a report written to a directory of our own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Run:
    """One catalogue run in a child process: its report, wall and CPU time."""

    report: dict[str, Any]
    wall: float
    cpu: float
    returncode: int
    output: str


def pytest_args(framework: str, seed: int, report_dir: Path, *extra: str) -> list[str]:
    """Arguments of ``pytest`` running the catalogue for one framework and
    seed, isolated as ``conformance run`` isolates it, reporting into
    ``report_dir``."""
    from conformance.cli import isolated_pytest_args

    return [*isolated_pytest_args(report_dir), "--framework", framework, "--seed", str(seed),
            "--report-dir", str(report_dir), *extra]


def run_catalogue(framework: str, seed: int, *extra: str, timeout: float | None = None) -> Run:
    """Run the catalogue (or the part ``extra`` selects) and return its report.
    Raises RuntimeError, with the child's output, when no report was written."""
    with tempfile.TemporaryDirectory(prefix="conformance-proof-") as tmp:
        cmd = [sys.executable, "-m", "pytest", *pytest_args(framework, seed, Path(tmp), *extra)]
        before = os.times()
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - start
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        reports = sorted(Path(tmp).glob("conformance-*.json"))
        if not reports:
            raise RuntimeError(
                f"no report from {' '.join(cmd)} (exit {proc.returncode}):\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        report = json.loads(reports[0].read_text(encoding="utf-8"))
    return Run(report, wall, cpu, proc.returncode, proc.stdout + proc.stderr)


def identity(report: dict[str, Any]) -> str:
    fw = report["framework"]
    return " ".join(str(x) for x in (fw["name"], fw["version"], fw.get("backend")) if x)


def load_results(directory: Path, pattern: str) -> list[dict[str, Any]]:
    """Every JSON result file matching ``pattern`` in ``directory``, in name order."""
    files = sorted(Path(directory).glob(pattern))
    if not files:
        raise FileNotFoundError(f"no {pattern} in {directory}")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]
