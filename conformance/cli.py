"""The ``conformance`` command: run the suite against a framework, merge
reports into a compatibility matrix, list the catalogue, list the frameworks.

``conformance run`` is ``pytest --pyargs conformance.properties`` with the
plugin's options, made independent of where it is started: pytest reads a
throw-away empty ini instead of the working directory's configuration, so a
project's ``pytest.ini``/``pyproject.toml`` cannot change the run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance import options

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NOT_INSTALLED = 3
EXIT_BAD_INPUT = 4
EXIT_REFUSED = 5

EXIT_CODES = """\
exit status:
  0  every verdict is as expected (holds, not applicable, or a listed known deviation)
  1  some verdict is not: an unlisted violation, an error, a known deviation that
     now holds; or the run could not complete (e.g. a collection error)
  2  usage error (bad option, unknown framework, no test selected, no such directory)
  3  the framework is registered but not installed (report: matplotlib is not installed)
  4  report: a file in DIR is not a mergeable report, two report the same framework
     version and backend, or DIR holds none; nothing is written
  5  bisect: refused (the ends do not differ on the clauses, or an end will not
     install or run); the observations are written all the same
"""

# What `run` collects; the suite's own tests point it at synthetic properties.
TARGET: list[str] = ["--pyargs", "conformance.properties"]


def _default_cache() -> Path:
    from conformance.releases import DEFAULT_CACHE

    return DEFAULT_CACHE


def _package_dir() -> Path:
    import conformance

    return Path(conformance.__file__).resolve().parent


def isolated_pytest_args(directory: Path) -> list[str]:
    """The start of every ``pytest`` command line that runs the catalogue:
    an empty ``pytest.ini`` written into ``directory`` instead of the working
    directory's configuration, no conftest.py from above the package, nothing
    cached next to it, and the properties (``TARGET``) to collect."""
    ini = directory / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    pkg = _package_dir()
    return [
        "-c",
        str(ini),  # never the cwd's pytest.ini / pyproject.toml / tox.ini / setup.cfg
        "--rootdir",
        str(pkg.parent),
        "--confcutdir",
        str(pkg),  # no conftest.py from above the package
        "-p",
        "no:cacheprovider",  # write nothing next to the installed package
        "-q",
        *TARGET,
    ]


def _err(msg: str) -> None:
    print(f"conformance: {msg}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the catalogue under :func:`conformance.supervisor.supervise`: pytest
    in a child process, resumed after a test that crashes or hangs, the report
    built once from the run's journal."""
    import importlib.util
    import secrets

    from conformance import adapters as registry
    from conformance import supervisor
    from conformance.journal import new_path as new_journal
    from conformance.reporting import json_report, markdown, write_reports
    from conformance.spec import SpecError, catalogue, load_catalogue
    from conformance.verdicts import summary_lines

    # Resolve the framework before starting pytest: a typo or a missing
    # framework is a one-line answer, not a test session.
    try:
        cls = registry.adapter_class(args.framework)
    except registry.UnknownFramework as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    if not cls.installed():
        _err(f"{args.framework} is not installed (cannot import {cls.module})")
        return EXIT_NOT_INSTALLED
    if args.workers is not None and importlib.util.find_spec("xdist") is None:
        _err("error: --workers needs pytest-xdist (pip install pytest-xdist)")
        return EXIT_USAGE

    report_dir = Path(args.report_dir).resolve()
    values = options.from_argparse(args)
    # One seed for the whole run: a child restarted after a crash must draw
    # the examples the first would have. The budget is stated too, so that
    # the report's reproduce commands name it.
    values.seed = args.seed if args.seed is not None else secrets.randbits(32)
    values.budget = values.effective_budget()
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        pytest_args = [
            *isolated_pytest_args(Path(tmp)),
            *options.pytest_args(values, [o.name for o in options.OPTIONS if o.name != "report_dir"]),
        ]
        if args.k:
            pytest_args += ["-k", args.k]
        if args.workers is not None:
            pytest_args += ["-n", str(args.workers)]
        if _autoload_disabled():  # the plugins normally load through their pytest11 entry points
            pytest_args += ["-p", "conformance.plugin"]
            if args.workers is not None:
                pytest_args += ["-p", "xdist"]
        journal = new_journal(report_dir, f"conformance-{args.framework}")
        # The child runs in the empty temp dir: nothing in the caller's
        # working directory lands on its sys.path or receives its files.
        outcome = supervisor.supervise(
            pytest_args, journal=journal, timeout=args.timeout or None, cwd=Path(tmp)
        )

    for line in (*outcome.notes, *outcome.problems):
        _err(line)
    results = outcome.results
    if results.run is None:
        journal.unlink(missing_ok=True)
        if outcome.early_exit == 4:  # pytest.ExitCode.USAGE_ERROR
            return EXIT_USAGE
        if outcome.early_exit == 5:  # NO_TESTS_COLLECTED
            _err("no property test selected" + (f" by -k {args.k!r}" if args.k else ""))
            return EXIT_USAGE
        _err(f"the run did not complete (pytest exit status {outcome.early_exit})")
        return EXIT_UNEXPECTED
    try:
        cat = load_catalogue(Path(args.catalogue)) if args.catalogue else catalogue()
    except (SpecError, FileNotFoundError) as exc:
        _err(f"spec catalogue: {exc}")
        return EXIT_UNEXPECTED
    report = results.report(cat, duration=outcome.duration, timestamp=outcome.timestamp)
    problems = json_report.errors(report)
    # An invalid report is a bug of this package: still write it (it is the
    # only record of the run) and say so below.
    paths = write_reports(report, report_dir, check=False)
    journal.unlink(missing_ok=True)
    print()
    print("\n".join([*summary_lines(report), f"report: {paths[0]}", f"summary: {paths[1]}"]))
    print()
    print(markdown.render(report))
    if problems:
        for problem in problems:
            _err(f"INVALID REPORT: {problem}")
        _err("the report does not match its schema (a bug in conformance)")
        return EXIT_UNEXPECTED
    if report["summary"]["unexpected"]:
        return EXIT_UNEXPECTED
    if outcome.interrupted:
        _err("interrupted: the report holds the tests that finished")
        return EXIT_UNEXPECTED
    if outcome.problems or any(code != 0 for code in outcome.statuses):
        _err(f"pytest reported a problem outside the clause verdicts (exit status {outcome.statuses})")
        return EXIT_UNEXPECTED
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from conformance.reporting import write_index
    from conformance.reporting.merge import BadInput
    from conformance.reporting.plots import PlotsUnavailable

    directory = Path(args.dir)
    if not directory.is_dir():
        _err(f"error: {directory} is not a directory")
        return EXIT_USAGE
    try:
        md_path, html_path, matrix = write_index(directory)
    except PlotsUnavailable as exc:
        _err(str(exc))
        return EXIT_NOT_INSTALLED
    except BadInput as exc:
        _err(f"cannot merge the reports in {directory}; nothing written:")
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in matrix.ignored:
        _err(f"not read (not named conformance-*.json): {path}")
    n, m = len(matrix.columns), len(matrix.clauses)
    print(f"merged {n} reports ({m} clauses) into {md_path} and {html_path}")
    return EXIT_OK


def _progress(started: float) -> Any:
    import time

    def say(line: str) -> None:
        elapsed = int(time.monotonic() - started)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {line}", file=sys.stderr, flush=True)

    return say


def cmd_bisect(args: argparse.Namespace) -> int:
    """Find the first release whose verdict differs (:mod:`conformance.bisect`)."""
    import importlib.metadata
    import time

    from conformance import adapters as registry
    from conformance import bisect, releases
    from conformance.spec import catalogue

    started = time.monotonic()
    say = _progress(started)
    try:
        profile = registry.adapter_class(args.framework).default_profile()
    except registry.UnknownFramework as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    backends = sorted(profile.install.backends)
    if backends and args.backend not in backends:
        _err(f"error: {args.framework} needs --backend, one of {', '.join(backends)}")
        return EXIT_USAGE
    if not backends and args.backend:
        _err(f"error: {args.framework} has no backends to choose from (its profile's [install] names none)")
        return EXIT_USAGE
    for end in (args.first, args.last):
        refusal = profile.install.refusal(end)
        if refusal:
            _err(f"error: cannot bisect {args.framework}: {refusal}")
            return EXIT_USAGE
    source: releases.ReleaseSource = (
        releases.FileIndex(Path(args.index)) if args.index else releases.PipIndex()
    )
    try:
        listed = releases.between(source.versions(profile.distribution), args.first, args.last, pre=args.pre)
    except (ValueError, releases.IndexError_) as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    say(f"{profile.distribution}: {len(listed)} releases from {args.first} to {args.last}: "
        + ", ".join(listed))
    envs = releases.Environments(Path(args.cache_dir), progress=say)
    made: list[Path] = []

    def probe(version: str, target: Sequence[str] | None) -> bisect.Probe:
        reqs = envs.key(profile, version, args.backend)[1]
        try:
            env = envs.get(profile, version, args.backend)
        except releases.InstallFailed as exc:
            return bisect.Probe(version, "skipped", str(exc), requirements=reqs)
        if not env.reused:
            made.append(env.path)
        say(f"{version}: running {'the catalogue' if target is None else ', '.join(target)}")
        tests = releases.clause_tests(target) if target else None
        try:
            obs = releases.run_catalogue(env, tests=tests, seed=args.seed, max_examples=args.max_examples)
        except releases.InstallFailed as exc:
            return bisect.Probe(version, "skipped", str(exc), requirements=reqs, installed=env.installed)
        verdicts = {c: bisect.evidence(r) for c, r in obs.results.items() if target is None or c in target}
        names = [profile.distribution, *(["tensorflow-cpu", "tensorflow", "jax", "jaxlib", "torch"]), "numpy"]
        return bisect.Probe(version, "ran", None, verdicts, obs.framework,
                            releases.describe_installed(env.installed, names), reqs,
                            env.install_seconds, obs.seconds, env.reused)

    try:
        conformance_version = importlib.metadata.version("param-conformance")
    except importlib.metadata.PackageNotFoundError:
        conformance_version = "unknown"
    settings = {"seed": args.seed, "max_examples": args.max_examples,
                "catalogue_version": catalogue().version,
                "conformance_version": conformance_version}
    common: dict[str, Any] = {
        "framework": profile.name, "distribution": profile.distribution, "backend": args.backend,
        "first": args.first, "last": args.last, "releases": listed, "pre": args.pre,
        "index": source.describe(), "settings": settings, "started": started,
    }
    code = EXIT_OK
    try:
        found = bisect.search(listed, probe, args.clause or None, progress=say)
        doc = bisect.document(found=found, outcome="found", **common)
    except bisect.Refused as exc:
        _err(f"refused: {exc}")
        code = EXIT_REFUSED
        if exc.doc is None:
            return code
        outcome = "ends-agree" if "do not differ" in str(exc) else "end-failed"
        doc = bisect.document(found=exc.doc, outcome=outcome, message=str(exc), **common)
    json_path, md_path = bisect.write(doc, Path(args.report_dir))
    if args.drop_envs:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    print(bisect.render(doc))
    print(f"bisection: {json_path}\nsummary: {md_path}")
    return code


def cmd_cross_version(args: argparse.Namespace) -> int:
    """Files saved by each release loaded by each other (:mod:`conformance.crossversion`)."""
    import time
    from datetime import datetime, timezone

    from conformance import adapters as registry
    from conformance import crossversion, releases
    from conformance.reporting import json_report

    say = _progress(time.monotonic())
    try:
        profile = registry.adapter_class(args.framework).default_profile()
    except registry.UnknownFramework as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    backends = sorted(profile.install.backends)
    if (backends and args.backend not in backends) or (not backends and args.backend):
        _err(f"error: --backend must be one of {', '.join(backends)}" if backends
             else f"error: {args.framework} has no backends to choose from")
        return EXIT_USAGE
    versions = list(dict.fromkeys(args.versions))
    for v in versions:
        refusal = profile.install.refusal(v)
        if refusal:
            _err(f"error: cannot run {args.framework} {v}: {refusal}")
            return EXIT_USAGE
    envs = releases.Environments(Path(args.cache_dir), progress=say)
    work = Path(args.cache_dir).expanduser() / "cross-version" / f"{profile.name}-{args.backend or 'none'}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    got: dict[str, releases.Env] = {}
    problems: dict[str, str] = {}
    for v in versions:
        try:
            env = envs.get(profile, v, args.backend)
        except releases.InstallFailed as exc:
            problems[v] = f"{v} did not install: {str(exc).splitlines()[0][:300]}"
            say(problems[v])
            continue
        say(f"{v}: saving the networks")
        log = work / f"save-{v}.log"
        if env.run(["-m", "conformance.crossversion", "save", "--framework", profile.name,
                    "--out", str(work / v)], log) or not (work / v / crossversion.MANIFEST).is_file():
            problems[v] = f"{v} could not save: {log.read_text(errors='replace')[-600:]}"
            say(problems[v])
            continue
        got[v] = env
    tests = releases.clause_tests([crossversion.CLAUSE])
    rows = []
    for a in versions:
        for b in versions:
            row: dict[str, Any] = {
                "saved_by": a, "loaded_by": b, "promise": {}, "verdict": None, "evidence": None,
                "checks": [], "breaks": [], "problem": problems.get(a) or problems.get(b),
            }
            if a in got and b in got:
                say(f"{a} -> {b}")
                out = work / f"check-{a}-{b}.json"
                log = work / f"check-{a}-{b}.log"
                if got[b].run(["-m", "conformance.crossversion", "check", "--framework", profile.name,
                               "--from", str(work / a), "--out", str(out)], log) or not out.is_file():
                    row["problem"] = f"the check could not run: {log.read_text(errors='replace')[-600:]}"
                else:
                    checked = json.loads(out.read_text(encoding="utf-8"))
                    row.update(promise=checked["promise"], checks=checked["checks"],
                               breaks=crossversion.breaks(checked["checks"]))
                try:
                    obs = releases.run_catalogue(
                        got[b], tests=tests, seed=args.seed, max_examples=args.max_examples,
                        extra=["--checkpoints-from", str(work / a)],
                    )
                    r = obs.results.get(crossversion.CLAUSE)
                    if r is not None:
                        from conformance.bisect import evidence

                        row["verdict"], row["evidence"] = r["verdict"], evidence(r)
                except releases.InstallFailed as exc:
                    row["problem"] = str(exc)[:600]
                weights = crossversion.summarise(row["checks"], "weights")
                model = crossversion.summarise(row["checks"], "model")
                say(f"{a} -> {b}: clause {row['verdict']}, weights {weights}, model {model}")
            rows.append(row)
    names = [profile.distribution, "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "torch", "numpy", "h5py"]
    doc = {
        "framework": profile.name,
        "backend": args.backend,
        "versions": versions,
        "environments": {v: releases.describe_installed(e.installed, names) for v, e in got.items()},
        "settings": {"seed": args.seed, "max_examples": args.max_examples},
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": rows,
    }
    stem = "-".join([profile.name, *([args.backend] if args.backend else [])])
    out_dir = Path(args.report_dir)
    json_report.write_atomic(out_dir / f"{stem}.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    json_report.write_atomic(out_dir / f"{stem}.md", crossversion.render(doc))
    print(crossversion.render(doc))
    print(f"table: {out_dir / (stem + '.md')}")
    return EXIT_OK


def _autoload_disabled() -> bool:
    return bool(os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"))


def _clause_dict(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "statement": c.statement,
        "area": c.area,
        "requires": list(c.requires),
        "facts": list(c.facts),
        "attributed": c.attributed,
        "sources": [s.as_dict() for s in c.sources],
        "statistical": c.statistical,
        "notes": c.notes,
        "file": c.file,
    }


def cmd_specs(args: argparse.Namespace) -> int:
    from conformance.spec import SpecError, catalogue, load_catalogue

    try:
        cat = load_catalogue(Path(args.catalogue)) if args.catalogue else catalogue()
    except (SpecError, FileNotFoundError) as exc:
        _err(f"spec catalogue: {exc}")
        return EXIT_UNEXPECTED
    if args.json:
        doc = {"catalogue_version": cat.version, "clauses": [_clause_dict(c) for c in cat]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"catalogue {cat.version}: {len(cat)} clauses")
    width = max(len(c.id) for c in cat)
    for c in cat:
        needs = [*c.requires, *(["attributed"] if c.attributed else [])]
        print(f"{c.id:<{width}}  {c.title}" + (f"  [{', '.join(needs)}]" if needs else ""))
    return EXIT_OK


def cmd_frameworks(args: argparse.Namespace) -> int:
    from conformance import adapters as registry

    names = registry.known_frameworks()
    width = max((len(n) for n in names), default=0)
    for name in names:
        try:
            cls = registry.adapter_class(name)
            if cls.installed():
                state = f"installed {cls.version()}"
            else:
                state = f"not installed (needs {cls.module})"
        except Exception as exc:  # a broken third-party entry point must not hide the others
            state = f"adapter failed to load: {type(exc).__name__}: {exc}"
        print(f"{name:<{width}}  {state}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="conformance",
        description="Property-based conformance suite for how deep-learning frameworks manage parameters.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    try:
        version = importlib.metadata.version("param-conformance")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    p.add_argument("--version", action="version", version=f"%(prog)s {version}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser(
        "run",
        help="run the suite against a framework and print the summary",
        description="Run the property tests against one framework, write the JSON report and "
        "Markdown summary, and print the summary.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    options.add_argparse_options(r)
    r.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "specs",
        help="list the spec catalogue",
        description="List the catalogue's clauses (id, title, frameworks), or dump them as JSON.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    s.add_argument("--json", action="store_true", help="dump every clause field, sources included, as JSON")
    s.add_argument(
        "--catalogue", metavar="DIR", default=None, help="spec catalogue directory (default: the shipped one)"
    )
    s.set_defaults(func=cmd_specs)

    rp = sub.add_parser(
        "report",
        help="merge the JSON reports of a directory into index.md and index.html",
        description="Merge every conformance-*.json in DIR into a compatibility matrix: DIR/index.md and a "
        "self-contained DIR/index.html (filters, evidence, plots). Every report is checked first; "
        "nothing is written if one is bad. Needs matplotlib: pip install 'conformance[report]'.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    rp.add_argument("dir", metavar="DIR", help="directory holding the reports")
    rp.set_defaults(func=cmd_report)

    b = sub.add_parser(
        "bisect",
        help="find the first release whose verdict on a clause differs",
        description="List the releases of a framework between two ends on the package index (pip's, PEP 440 "
        "order), run the clauses at each end in an environment of its own (cached), and binary-search to the "
        "first release whose verdict differs. Without --clause, every clause whose verdict differs "
        "between the ends. Writes bisect-<framework>[-<backend>]-<from>-<to>.json (schema: "
        "conformance/reporting/bisect.schema.json) and .md into --report-dir.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    b.add_argument("--framework", required=True, metavar="NAME", help="framework to bisect")
    b.add_argument("--from", dest="first", required=True, metavar="OLD", help="the older release (an end)")
    b.add_argument("--to", dest="last", required=True, metavar="NEW", help="the newer release (an end)")
    b.add_argument("--backend", default=None, metavar="B",
                   help="the backend, where the framework has several")
    b.add_argument("--clause", action="append", metavar="ID",
                   help="a clause to bisect (repeatable; default: every clause whose verdict differs)")
    b.add_argument("--pre", action="store_true", help="include pre-releases")
    b.add_argument("--index", default=None, metavar="FILE",
                   help="read the releases from FILE (JSON: {distribution: [versions]}) instead of "
                   "pip's index")
    b.add_argument("--cache-dir", default=str(_default_cache()), metavar="DIR",
                   help="where the environments are kept and reused (default: %(default)s)")
    b.add_argument("--report-dir", default=os.path.join("reports", "bisect"), metavar="DIR",
                   help="where the result goes (default: %(default)s)")
    b.add_argument("--seed", type=int, default=0, metavar="S", help="the seed of every probe (default: 0)")
    b.add_argument("--max-examples", type=int, default=options.DEFAULT_MAX_EXAMPLES, metavar="N",
                   help="Hypothesis examples per property (default: %(default)s)")
    b.add_argument("--drop-envs", action="store_true",
                   help="delete the environments this bisection made once it is done")
    b.set_defaults(func=cmd_bisect)

    x = sub.add_parser(
        "cross-version",
        help="load the files each release saves in each other release, and tabulate what breaks",
        description="For every ordered pair (A, B) of the given releases, in an environment of each (cached, "
        "as for bisect): A saves the chapter's networks (weights, whole models), B loads them, and the "
        "clause serialisation.across-releases runs in B on A's files. Writes "
        "<framework>[-<backend>].json and .md.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    x.add_argument("--framework", required=True, metavar="NAME")
    x.add_argument("--backend", default=None, metavar="B")
    x.add_argument("--versions", nargs="+", required=True, metavar="V", help="the releases, oldest first")
    x.add_argument("--cache-dir", default=str(_default_cache()), metavar="DIR")
    x.add_argument("--report-dir", default=os.path.join("reports", "cross-version"), metavar="DIR")
    x.add_argument("--seed", type=int, default=0, metavar="S")
    x.add_argument("--max-examples", type=int, default=20, metavar="N",
                   help="examples of the clause's property per pair (default: %(default)s)")
    x.set_defaults(func=cmd_cross_version)

    f = sub.add_parser(
        "frameworks",
        help="list known frameworks and whether each is installed",
        description="List the frameworks registered in the conformance.adapters entry-point group, "
        "with the installed version of each.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    f.set_defaults(func=cmd_frameworks)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `conformance specs | head`
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    if args.func is cmd_run:
        for problem in options.problems(args, scope="cli"):
            _err(f"error: {problem}")
            return EXIT_USAGE
    return int(args.func(args))


def console() -> None:
    """The ``conformance`` script: :func:`main`, then exit without interpreter
    finalisation. TensorFlow 2.15 (Keras 2) segfaults while the interpreter
    finalises after a complete catalogue run (observed: exit -11 after the
    report was written and the summary printed, with no Python frame on the
    stack). By then the outcome is decided and written, so its exit status is
    ours, not the crash's. (``main`` itself returns normally, for callers in
    the same process.)"""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
