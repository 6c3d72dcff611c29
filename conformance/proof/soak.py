"""The soak: the statistical clauses, and the lifecycle machine, against
correct implementations under many seeds, counting false alarms.

A seed-run is one run of every statistical test of the catalogue (``pytest -m
statistical``) with one ``--seed``; the seed decides every layer size and
every framework seed the tests draw, so seed-runs are independent repetitions.
With ``--kind lifecycle`` a seed-run is instead one run of every lifecycle
test (``-k test_lifecycle``): the scripted sequences and the rule sequences the
machine draws from that seed, each step checked against the mirror within its
float32 bounds; a false alarm there is a bound too tight for a correct
framework (or a mirror that assumes what a framework does not document).
Against a framework whose statistical verdicts are known (the reference: every
clause holds; torch: every clause holds but the one listed deviation), a false
alarm is a statistical clause whose verdict is not the expected one. The run's
budget bounds the chance of one false alarm per seed-run by ``A`` (default
1e-6), so over ``R`` seed-runs at most ``R * A``: zero false alarms is the only
acceptable outcome, and a listed deviation that *holds* in some seed-run (a
miss) is counted too.

    python -m conformance.proof.soak run --framework reference --seeds 100 --out reports/proof
    python -m conformance.proof.soak run --framework torch --seeds 100 --out reports/proof
    python -m conformance.proof.soak run --kind lifecycle --framework torch --seeds 100 --out reports/proof
    python -m conformance.proof.soak table reports/proof

``run`` writes ``soak-<framework>.json`` (``soak-lifecycle-<framework>.json``);
``table`` turns every such file in the directory into ``soak.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.proof._run import identity, load_results

#: Seed-runs the issue asks for, over all frameworks soaked together.
MIN_SEED_RUNS = 200
#: What a seed-run runs, by kind: pytest arguments selecting its tests.
KINDS: dict[str, tuple[str, ...]] = {
    "statistical": ("-m", "statistical"),
    "lifecycle": ("-k", "test_lifecycle"),
}


def result_name(framework: str, kind: str) -> str:
    return f"soak-{framework}.json" if kind == "statistical" else f"soak-{kind}-{framework}.json"


def _clauses(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdict of every clause a seed-run ran (not those not applicable), and its checks."""
    clauses = []
    for r in report["results"]:
        stats = r["evidence"]["statistics"]
        if not stats and r["verdict"] == "not-applicable":
            continue
        ratios = [
            s["p_value"] / s["alpha"] for s in stats if s["p_value"] is not None and s["expect"] == "fit"
        ]
        clauses.append({
            "clause": r["spec"],
            "verdict": r["verdict"],
            "expected": r["expected"],
            "known_deviation": r["known_deviation"] is not None,
            "checks": len(stats),
            "min_p_over_alpha": min(ratios) if ratios else None,
            "failed_checks": [
                {"label": s["label"], "p_value": s["p_value"], "alpha": s["alpha"], "expect": s["expect"]}
                for s in stats if not s["passed"]
            ],
        })
    return clauses


def _child(framework: str, seeds: Sequence[int], directory: Path, kind: str = "statistical") -> None:
    """Seed-runs one after another in this process (``pytest.main`` per seed):
    the framework and the suite are imported once, not once per seed."""
    import pytest

    from conformance.proof._run import pytest_args

    for seed in seeds:
        out = directory / f"seed-{seed}"
        out.mkdir(parents=True)
        pytest.main(pytest_args(framework, seed, out, *KINDS[kind]))


def soak(framework: str, seeds: Sequence[int], *, jobs: int = 2, kind: str = "statistical") -> dict[str, Any]:
    """Seed-runs of ``kind`` spread over ``jobs`` child processes."""
    if kind not in KINDS:
        raise ValueError(f"unknown soak kind {kind!r}; known: {', '.join(KINDS)}")
    start = time.perf_counter()
    seeds = list(seeds)
    shares = [seeds[i::jobs] for i in range(jobs) if seeds[i::jobs]]
    with tempfile.TemporaryDirectory(prefix="conformance-soak-") as tmp:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "conformance.proof.soak", "_child", "--framework", framework,
                 "--dir", tmp, "--seed-list", ",".join(map(str, share)), "--kind", kind],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for share in shares
        ]
        outputs = [proc.communicate()[0] for proc in procs]
        runs = []
        for seed in seeds:
            found = sorted((Path(tmp) / f"seed-{seed}").glob("conformance-*.json"))
            if not found:
                raise RuntimeError(
                    f"seed-run {seed} of {framework} wrote no report:\n"
                    + "\n".join(o[-3000:] for o in outputs)
                )
            report = json.loads(found[0].read_text(encoding="utf-8"))
            if not report["results"]:
                raise RuntimeError(f"seed-run {seed} of {framework} reported no clause:\n"
                                   + "\n".join(o[-3000:] for o in outputs))
            runs.append({"seed": seed, "identity": identity(report), "budget": report["error_budget"],
                         "catalogue_version": report["catalogue_version"], "clauses": _clauses(report)})
    return summarise(framework, runs, time.perf_counter() - start, kind=kind)


def summarise(framework: str, runs: list[dict[str, Any]], wall: float, *,
              kind: str = "statistical") -> dict[str, Any]:
    identities = {r["identity"] for r in runs}
    if len(identities) != 1:
        raise RuntimeError(f"seed-runs of {framework} saw different installations: {sorted(identities)}")
    false_alarms = [
        {"seed": r["seed"], "clause": c["clause"], "verdict": c["verdict"],
         "failed_checks": c["failed_checks"]}
        for r in runs for c in r["clauses"] if not c["expected"] and not c["known_deviation"]
    ]
    misses = [  # a listed deviation that held: the check lacked power in that seed-run
        {"seed": r["seed"], "clause": c["clause"]}
        for r in runs for c in r["clauses"] if c["known_deviation"] and c["verdict"] != "violated"
    ]
    ratios = [c["min_p_over_alpha"] for r in runs for c in r["clauses"]
              if c["min_p_over_alpha"] is not None and not c["known_deviation"]]
    clauses = sorted({c["clause"] for r in runs for c in r["clauses"]})
    return {
        "framework": framework,
        "kind": kind,
        "identity": identities.pop(),
        "catalogue_version": runs[0]["catalogue_version"],
        "budget": runs[0]["budget"]["total"],
        "statistical_tests": runs[0]["budget"]["statistical_tests"],
        "seeds": [r["seed"] for r in runs],
        "seed_runs": len(runs),
        "clauses": clauses,
        "checks": sum(c["checks"] for r in runs for c in r["clauses"]),
        "false_alarms": false_alarms,
        "known_deviations": sorted({c["clause"] for r in runs for c in r["clauses"] if c["known_deviation"]}),
        "misses": misses,
        "min_p_over_alpha": min(ratios) if ratios else None,
        "wall": round(wall, 1),
    }


def table(results: list[dict[str, Any]]) -> str:
    stat = [r for r in results if r.get("kind", "statistical") == "statistical"]
    life = [r for r in results if r.get("kind") == "lifecycle"]
    total = sum(r["seed_runs"] for r in stat)
    alarms = sum(len(r["false_alarms"]) for r in stat)
    bound = sum(r["seed_runs"] * r["budget"] for r in stat)
    lines = [
        "# Soak: false alarms under many seeds",
        "",
        "Generated by `python -m conformance.proof.soak` (see its docstring); do not edit.",
        "Each seed-run is every statistical test of the catalogue (`pytest -m statistical`) with",
        "one `--seed`, against an implementation whose statistical verdicts are known.",
        "A false alarm is a statistical clause whose verdict is not the expected one; a miss is a",
        "listed deviation that held in a seed-run. `min p/alpha` is the smallest ratio of a",
        "passing goodness-of-fit check's p-value to the alpha it spent (below 1 is an alarm).",
        "",
        "| framework | seed-runs | statistical tests per run | checks | false alarms "
        "| listed deviations (misses) | min p/alpha | wall (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in stat:
        devs = ", ".join(f"`{d}`" for d in r["known_deviations"]) or "-"
        ratio = f"{r['min_p_over_alpha']:.3g}" if r["min_p_over_alpha"] is not None else "-"
        lines.append(
            f"| {r['identity']} | {r['seed_runs']} | {r['statistical_tests']} | {r['checks']} | "
            f"{len(r['false_alarms'])} | {devs} ({len(r['misses'])}) | {ratio} | {r['wall']} |"
        )
    lines += [
        "",
        f"**{total} seed-runs, {alarms} false alarms.** The budget bounds the chance of any false alarm",
        f"in the whole soak by the sum of the seed-runs' budgets, {bound:.2g}.",
    ]
    lines += _incidents(stat)
    if life:
        runs = sum(r["seed_runs"] for r in life)
        lalarms = sum(len(r["false_alarms"]) for r in life)
        lines += [
            "",
            "## The lifecycle machine",
            "",
            "Each seed-run is every lifecycle test (`-k test_lifecycle`) with one `--seed`: the scripted",
            "sequences, then the rule sequences the machine draws from that seed, every step checked",
            "against the mirror within its float32 bounds (`specs/lifecycle.md`). A false alarm is a",
            "lifecycle clause whose verdict is not the expected one (a bound too tight, or a mirror",
            "assuming what the framework does not document); a miss is a listed deviation that held.",
            "",
            "| framework | seed-runs | lifecycle clauses | false alarms | listed deviations (misses) "
            "| wall (s) |",
            "|---|---|---|---|---|---|",
        ]
        for r in life:
            devs = ", ".join(f"`{d}`" for d in r["known_deviations"]) or "-"
            lines.append(
                f"| {r['identity']} | {r['seed_runs']} | {len(r['clauses'])} | {len(r['false_alarms'])} | "
                f"{devs} ({len(r['misses'])}) | {r['wall']} |"
            )
        lines += ["", f"**{runs} seed-runs of the machine, {lalarms} false alarms.**"]
        lines += _incidents(life)
    return "\n".join(lines) + "\n"


def _incidents(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in results:
        for fa in r["false_alarms"]:
            lines.append(
                f"- false alarm: {r['identity']} seed {fa['seed']} `{fa['clause']}`: {fa['failed_checks']}"
            )
        for m in r["misses"]:
            lines.append(f"- miss: {r['identity']} seed {m['seed']} `{m['clause']}` held")
    return lines


def load(directory: Path) -> list[dict[str, Any]]:
    return load_results(directory, "soak-*.json")


def main(argv: Sequence[str] | None = None) -> int:
    from conformance.reporting.json_report import write_atomic

    p = argparse.ArgumentParser(prog="python -m conformance.proof.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="soak one framework")
    r.add_argument("--framework", required=True)
    r.add_argument("--seeds", type=int, default=100, help="number of seed-runs (default: %(default)s)")
    r.add_argument("--first-seed", type=int, default=1)
    r.add_argument("--jobs", type=int, default=2, help="seed-runs in parallel (default: %(default)s)")
    r.add_argument("--out", type=Path, default=Path("reports/proof"))
    r.add_argument("--kind", choices=list(KINDS), default="statistical",
                   help="the statistical tests, or the lifecycle machine (default: %(default)s)")
    c = sub.add_parser("_child", help=argparse.SUPPRESS)
    c.add_argument("--framework", required=True)
    c.add_argument("--kind", choices=list(KINDS), default="statistical")
    c.add_argument("--dir", type=Path, required=True)
    c.add_argument("--seed-list", required=True)
    t = sub.add_parser("table", help="write soak.md from the soak-*.json in a directory")
    t.add_argument("directory", type=Path, nargs="?", default=Path("reports/proof"))
    args = p.parse_args(argv)
    if args.command == "_child":
        _child(args.framework, [int(x) for x in args.seed_list.split(",")], args.dir, args.kind)
        return 0
    if args.command == "run":
        if args.seeds < 1 or args.jobs < 1:
            p.error("--seeds and --jobs must be at least 1")
        result = soak(args.framework, range(args.first_seed, args.first_seed + args.seeds), jobs=args.jobs,
                      kind=args.kind)
        out = args.out / result_name(args.framework, args.kind)
        write_atomic(out, json.dumps(result, indent=1) + "\n")
        print(
            f"{result['identity']}: {result['seed_runs']} seed-runs, "
            f"{len(result['false_alarms'])} false alarms, {len(result['misses'])} misses, "
            f"min p/alpha {result['min_p_over_alpha']}; wrote {out}"
        )
        return 1 if result["false_alarms"] or result["misses"] else 0
    results = load(args.directory)
    write_atomic(args.directory / "soak.md", table(results))
    print(f"wrote {args.directory / 'soak.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
