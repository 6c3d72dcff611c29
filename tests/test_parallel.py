"""pytest-xdist gives the report a serial run gives; a run that dies leaves
its journal; runs writing into one directory never collide."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from conftest import Runner
from fakes import fake_profile_text
from test_plugin import DEVIATIONS, STATISTICAL, SYNTHETIC

from conformance.journal import read
from conformance.reporting import json_report, report_stem, write_reports
from conformance.reporting.model import VOLATILE, without_volatile

STEM = "conformance-fake-1.2.3+cpu-cpu"

pytest.importorskip("xdist")


def run_subprocess(r: Runner, *args: str) -> pytest.RunResult:
    """pytest in a child process (pytest-xdist cannot run in-process)."""
    return r.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--framework", "fake", "--catalogue", str(r.catalogue_dir),
        "--report-dir", str(r.report_dir), *args,
    )


def report_of(r: Runner) -> dict[str, Any]:
    report = r.report()
    assert json_report.errors(report) == []
    # The reporting process writes the report, no worker does, and the
    # journal is gone once the report holds everything.
    assert sorted(p.name for p in r.report_dir.iterdir()) == [f"{STEM}.json", f"{STEM}.md"]
    return report


def test_xdist_gives_the_serial_report(runner: Runner, child_env: None) -> None:
    runner.pytester.makepyfile(test_synthetic=SYNTHETIC, test_stats=STATISTICAL)
    (runner.pytester.path / "profile.toml").write_text(fake_profile_text(DEVIATIONS), encoding="utf-8")
    dev = str(runner.pytester.path / "profile.toml")
    args = ("--profile", dev, "--max-examples", "20", "--seed", "7")
    run_subprocess(runner, *args)
    serial = report_of(runner)
    for p in runner.report_dir.iterdir():
        p.unlink()
    result = run_subprocess(runner, "-n", "2", *args)
    assert "2 workers" in result.stdout.str()
    parallel = report_of(runner)
    # Everything but VOLATILE: verdicts, evidence, every statistical check.
    assert VOLATILE == ("timestamp", "duration", "results[].tests[].duration")
    assert without_volatile(parallel) == without_volatile(serial)
    assert sum(len(r["evidence"]["statistics"]) for r in serial["results"]) >= 3
    assert {r["spec"]: r["verdict"] for r in serial["results"]}["alpha.broken"] == "violated"


CRASH = """
import os, signal
import pytest

@pytest.mark.clause("alpha.holds")
def test_holds():
    pass

@pytest.mark.clause("alpha.broken")
def test_segfaults():
    os.kill(os.getpid(), signal.SIGSEGV)

@pytest.mark.clause("alpha.runtime-na")
def test_after():
    pass
"""


def test_xdist_worker_crash_is_an_error(runner: Runner, child_env: None) -> None:
    runner.pytester.makepyfile(test_crash=CRASH)
    run_subprocess(runner, "-n", "1", "--seed", "1")  # xdist starts a new worker after the crash
    res = {r["spec"]: r for r in report_of(runner)["results"]}
    assert res["alpha.holds"]["verdict"] == res["alpha.runtime-na"]["verdict"] == "holds"
    broken = res["alpha.broken"]
    assert (broken["verdict"], broken["expected"]) == ("error", False)
    assert broken["reason"].startswith("the worker process died while running ")
    assert broken["reason"].endswith("test_crash.py::test_segfaults")
    assert "crashed while running" in broken["evidence"]["message"]


def test_a_dead_session_leaves_its_journal(runner: Runner, child_env: None) -> None:
    """The pytest-plugin path, in the process that dies: the report
    directory keeps a journal of every verdict reached before the crash."""
    runner.pytester.makepyfile(test_crash=CRASH)
    result = run_subprocess(runner, "--seed", "1")
    assert result.ret < 0  # killed by SIGSEGV
    [journal] = runner.report_dir.glob(f"{STEM}.*.journal.jsonl")
    assert not list(runner.report_dir.glob("*.json"))
    results = read(journal)
    assert results.run is not None
    holds, segfaults, after = results.run["items"]
    assert segfaults.endswith("test_crash.py::test_segfaults")
    assert results.verdicts[holds]["verdict"] == "holds"  # type: ignore[index]
    assert list(results.in_flight) == [segfaults]
    assert results.remaining == [segfaults, after]


@pytest.mark.slow
def test_reference_under_xdist_gives_the_serial_report(pytester: pytest.Pytester) -> None:
    """The real catalogue, statistical clauses included, on the reference."""
    args = ["-p", "no:cacheprovider", "--pyargs", "conformance.properties", "--framework", "reference",
            "--seed", "5", "--max-examples", "5", "-k", "default_init"]
    reports = []
    for extra, name in (([], "serial"), (["-n", "2"], "xdist")):
        pytester.runpytest_subprocess(*args, *extra, "--report-dir", name)
        [path] = (pytester.path / name).glob("*.json")
        reports.append(json.loads(path.read_text(encoding="utf-8")))
    serial, parallel = reports
    assert any(r["evidence"]["statistics"] for r in serial["results"])
    assert without_volatile(parallel) == without_volatile(serial)


def _write_many(directory: str, framework: dict[str, Any], report: dict[str, Any], n: int) -> None:
    for i in range(n):
        write_reports({**report, "framework": framework, "seed": i}, Path(directory))


def test_concurrent_runs_in_one_directory_do_not_collide(runner: Runner, tmp_path: Path) -> None:
    """`tox -p`: envs write into one reports/ at once. Runs of different
    environments get different files; writers of one file (the same env run
    twice) replace it whole, never leaving it torn, nor temp files behind."""
    runner.pytester.makepyfile(test_synthetic=SYNTHETIC)
    runner.run("-k", "holds")
    report = runner.report()
    frameworks = [
        {"name": "keras", "version": "3.15.1", "backend": "tensorflow", "installed": True,
         "backend_version": v}
        for v in ("2.20.0", "2.21.0")
    ] + [{"name": "torch", "version": "2.13.0+cpu", "backend": None, "installed": True}] * 2
    stems = [report_stem(f) for f in frameworks]
    assert stems[0] == "conformance-keras-3.15.1-tensorflow2.20.0" and len(set(stems)) == 3
    out = tmp_path / "reports"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(out), f, report, 20)) for f in frameworks]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    expected = sorted(f"{s}.{ext}" for s in set(stems) for ext in ("json", "md"))
    assert sorted(p.name for p in out.iterdir()) == expected
    for stem in set(stems):
        written = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        assert written["seed"] == 19 and json_report.errors(written) == []
