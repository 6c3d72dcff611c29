"""Speed benchmark: the full catalogue against the framework's bare import.

Per framework, in the environment that has it installed:

* ``import``: wall time of ``python -c "import <framework>"``, best of three;
* ``suite import``: the same for what every run imports anyway (numpy, scipy,
  hypothesis, pytest) -- the floor below which no catalogue run can go;
* ``catalogue``: wall and CPU time of the whole catalogue at the default example
  count (100 per non-statistical property), one run with a fixed seed, and the
  time of each property from its report; ``lifecycle`` is the part of it the
  lifecycle machine's tests take (``lifecycle.*``, see ``specs/lifecycle.md``).

* ``outside tests``: the catalogue's wall time less the time its tests took
  (interpreter start, imports, collection, planning, the report), and the
  time of the tests by catalogue area: where the time goes.

Targets (``TARGETS``, issue "Speed"): the reference catalogue within 3 x the
import of torch, measured in the same run (``--baseline torch``, in an
environment that has torch), torch's within 6 x its own import, and every
framework's catalogue within 60 s. ``before``: the result of the same
framework in ``<directory>/before/`` (the measurement the work on speed
started from), shown beside the new one. ``<directory>/NOTES.md`` (written by
hand: the profile of each miss) is appended to the table.

This is a benchmark, not a test: it times, it asserts nothing, and the suite's
own tests check only that the committed table is consistent with its data.

    tox exec -e torch2.13 -- python -m conformance.proof.bench run --framework reference \
        --framework torch --baseline torch --out reports/proof/speed
    python -m conformance.proof.bench table reports/proof/speed   # -> reports/proof/speed.md
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.proof._run import identity, load_results, run_catalogue

#: framework -> (what its catalogue's wall time is compared with, the largest
#: ratio aimed at); every framework also aims at MAX_SECONDS.
TARGETS: dict[str, tuple[str, float]] = {"reference": ("torch", 3.0), "torch": ("torch", 6.0)}
MAX_SECONDS = 60.0
SUITE_IMPORTS = "import numpy, scipy.stats, hypothesis, pytest"


def import_time(statement: str, *, repeat: int = 3) -> float:
    """Best wall time of a fresh interpreter running ``statement``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def bench(framework: str, *, seed: int = 0, baseline: str | None = None) -> dict[str, Any]:
    from conformance import adapters as registry

    cls = registry.adapter_class(framework)
    if not cls.installed():
        raise SystemExit(f"{framework} is not installed here (cannot import {cls.module})")
    bare = import_time("pass")
    fw_import = import_time(f"import {cls.module}")
    suite_import = import_time(SUITE_IMPORTS)
    base = None
    if baseline is not None:
        base = {"module": baseline, "import": round(import_time(f"import {baseline}"), 3)}
    run = run_catalogue(framework, seed)
    report = run.report
    tests = sorted(
        ({"test": t["nodeid"].split("::")[-1], "clause": r["spec"], "seconds": round(t["duration"], 3)}
         for r in report["results"] for t in r["tests"]),
        key=lambda t: -t["seconds"],
    )
    return {
        "framework": framework,
        "identity": identity(report),
        "seed": seed,
        "max_examples": report["settings"]["max_examples"],
        "python_startup": round(bare, 3),
        "import": round(fw_import, 3),
        "suite_import": round(suite_import, 3),
        "catalogue_wall": round(run.wall, 2),
        "catalogue_cpu": round(run.cpu, 2),
        "ratio": round(run.wall / fw_import, 1),
        "baseline": base,
        "tests": tests,
        "summary": report["summary"],
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-")


def _area_seconds(r: dict[str, Any]) -> dict[str, float]:
    areas: dict[str, float] = {}
    for t in r["tests"]:
        area = t["clause"].split(".")[0]
        areas[area] = areas.get(area, 0.0) + t["seconds"]
    return areas


def _target(r: dict[str, Any]) -> tuple[str, bool]:
    """The target's text and whether the result meets it."""
    wall = r["catalogue_wall"]
    texts, met = [f"<= {MAX_SECONDS:g} s"], wall <= MAX_SECONDS
    if r["framework"] in TARGETS:
        module, limit = TARGETS[r["framework"]]
        if module == r["framework"]:
            ref = r["import"]
        elif r.get("baseline") and r["baseline"]["module"] == module:
            ref = r["baseline"]["import"]
        else:
            return f"<= {limit:g} x import {module} (not measured in this run)", False
        texts.insert(0, f"<= {limit:g} x import {module} = {limit * ref:.1f} s")
        met = met and wall <= limit * ref
    return ", ".join(texts), met


def table(results: list[dict[str, Any]], before: list[dict[str, Any]] | None = None,
          notes: str = "") -> str:
    """speed.md: one row per result, its target, the result it replaces
    (``before``, matched by identity) and ``notes`` appended."""
    was = {b["identity"]: b for b in before or []}
    lines = [
        "# Speed: the catalogue against the framework's import",
        "",
        "Generated by `python -m conformance.proof.bench` (see its docstring); do not edit.",
        "Default example count (100 per non-statistical property). Targets: every catalogue <= "
        f"{MAX_SECONDS:g} s; the reference <= 3 x `import torch` (measured in the same run), torch <= 6 x "
        "its own import.",
        "Wall times on this project's machine (2 cores), one catalogue at a time; CPU is user + system of "
        "the catalogue's process. Before: the measurement the work on speed started from (its catalogue had "
        "fewer clauses where its lifecycle column says so).",
        "",
        "| framework | import (s) | suite import (s) | catalogue wall (s) | before (s) | catalogue CPU (s) "
        "| catalogue / import | target | met | outside tests (s) | by area (s) "
        "| of which lifecycle machine (s) | slowest properties (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: r["identity"]):
        slow = ", ".join(f"{t['test']} {t['seconds']:.1f}" for t in r["tests"][:3])
        lifecycle = [t["seconds"] for t in r["tests"] if t["clause"].startswith("lifecycle.")]
        machine = f"{sum(lifecycle):.1f}" if lifecycle else "- (run before it existed)"
        b = was.get(r["identity"])
        then = "-" if b is None else f"{b['catalogue_wall']:.1f}" + (
            "" if any(t["clause"].startswith("lifecycle.") for t in b["tests"]) else " (no lifecycle)")
        target, met = _target(r)
        outside = r["catalogue_wall"] - sum(t["seconds"] for t in r["tests"])
        areas = sorted(_area_seconds(r).items(), key=lambda kv: -kv[1])[:4]
        by_area = ", ".join(f"{a} {sec:.1f}" for a, sec in areas)
        lines.append(
            f"| {r['identity']} | {r['import']:.2f} | {r['suite_import']:.2f} | {r['catalogue_wall']:.1f} | "
            f"{then} | {r['catalogue_cpu']:.1f} | {r['ratio']:.1f} | {target} | "
            f"{'yes' if met else '**no**'} | "
            f"{outside:.1f} | {by_area} | {machine} | {slow} |"
        )
    text = "\n".join(lines) + "\n"
    if notes.strip():
        text += "\n" + notes.strip() + "\n"
    return text


def load(directory: Path) -> list[dict[str, Any]]:
    return load_results(directory, "*.json")


def load_before(directory: Path) -> list[dict[str, Any]]:
    return load_results(directory / "before", "*.json") if (directory / "before").is_dir() else []


def load_notes(directory: Path) -> str:
    notes = directory / "NOTES.md"
    return notes.read_text(encoding="utf-8") if notes.is_file() else ""


def render(directory: Path) -> str:
    """speed.md for the results in ``directory``."""
    return table(load(directory), load_before(directory), load_notes(directory))


def main(argv: Sequence[str] | None = None) -> int:
    from conformance.reporting.json_report import write_atomic

    p = argparse.ArgumentParser(prog="python -m conformance.proof.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="benchmark frameworks installed here")
    r.add_argument("--framework", action="append", help="framework name (repeatable; default: reference)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--baseline", metavar="MODULE",
                   help="also time `import MODULE` in this run (the reference's target is 3 x import torch)")
    r.add_argument("--out", type=Path, default=Path("reports/proof/speed"))
    t = sub.add_parser("table", help="write speed.md beside a directory of results")
    t.add_argument("directory", type=Path, nargs="?", default=Path("reports/proof/speed"))
    args = p.parse_args(argv)
    if args.command == "run":
        for name in args.framework or ["reference"]:
            result = bench(name, seed=args.seed, baseline=args.baseline)
            out = args.out / f"{_slug(result['identity'])}.json"
            write_atomic(out, json.dumps(result, indent=1) + "\n")
            print(
                f"{result['identity']}: import {result['import']:.2f} s, "
                f"catalogue {result['catalogue_wall']:.1f} s wall / {result['catalogue_cpu']:.1f} s CPU, "
                f"ratio {result['ratio']}; wrote {out}"
            )
        return 0
    out = args.directory.parent / "speed.md"
    write_atomic(out, render(args.directory))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
