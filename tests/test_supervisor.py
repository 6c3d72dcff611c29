"""`conformance run` never loses a result: a test that kills the interpreter
or hangs is reported as an error, and every other verdict is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import cli
from conformance.reporting import json_report

CRASHY = """
import os, signal, time
import pytest

@pytest.mark.clause("alpha.holds")
def test_holds():
    pass

@pytest.mark.clause("beta.stat-a")
@pytest.mark.statistical(checks=1)
def test_stat_before(stat):
    stat.binomial(5, 10, 0.5, label="fair coin")

@pytest.mark.clause("alpha.broken")
def test_segfaults():
    os.kill(os.getpid(), signal.SIGSEGV)

@pytest.mark.clause("alpha.errs")
def test_aborts():
    os.abort()

@pytest.mark.clause("alpha.needs-cap")
def test_hangs():
    time.sleep(600)

@pytest.mark.clause("beta.stat-b")
@pytest.mark.statistical(checks=1)
def test_stat_after(stat):
    stat.binomial(5, 10, 0.5, label="fair coin")

@pytest.mark.clause("alpha.runtime-na")
def test_after_the_crashes():
    assert 1 + 1 == 3, "arithmetic is broken"
"""


def run_module(
    tmp_path: Path, catalogue_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str
) -> tuple[int, dict[str, dict], Path]:
    """`conformance run` on one synthetic module: exit code, results by clause, report dir."""
    d = tmp_path / "props"
    d.mkdir()
    (d / name).write_text(source, encoding="utf-8")
    monkeypatch.setattr(cli, "TARGET", [str(d)])
    out = tmp_path / "out"
    code = cli.main(
        ["run", "--framework", "fake", "--catalogue", str(catalogue_dir), "--report-dir", str(out),
         "--seed", "7", "--timeout", "2"]
    )
    report = json.loads((out / "conformance-fake-1.2.3+cpu-cpu.json").read_text(encoding="utf-8"))
    assert json_report.errors(report) == []
    return code, {r["spec"]: r for r in report["results"]}, out


def test_a_crash_or_a_hang_loses_only_its_clause(
    tmp_path: Path, catalogue_dir: Path, monkeypatch: pytest.MonkeyPatch, child_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, res, out = run_module(tmp_path, catalogue_dir, monkeypatch, "test_crashy.py", CRASHY)
    assert code == cli.EXIT_UNEXPECTED
    verdicts = {k: (v["verdict"], v["expected"]) for k, v in res.items()}
    assert verdicts == {
        "alpha.holds": ("holds", True),
        "beta.stat-a": ("holds", True),
        "alpha.broken": ("error", False),
        "alpha.errs": ("error", False),
        "alpha.needs-cap": ("error", False),
        "beta.stat-b": ("holds", True),
        "alpha.runtime-na": ("violated", False),
    }
    segv = res["alpha.broken"]
    assert segv["reason"].startswith("the interpreter died with signal 11 (SIGSEGV) while running ")
    assert segv["reason"].endswith("test_crashy.py::test_segfaults")
    # faulthandler's traceback, from the child's stderr, shows where it died.
    assert "Fatal Python error: Segmentation fault" in segv["evidence"]["message"]
    assert "in test_segfaults" in segv["evidence"]["message"]
    assert "-k test_segfaults" in segv["evidence"]["reproduce"]
    assert segv["tests"][0]["outcome"] == "error"
    abort = res["alpha.errs"]
    assert abort["reason"].startswith("the interpreter died with signal 6 (SIGABRT) while running ")
    hang = res["alpha.needs-cap"]
    assert hang["reason"].startswith("timed out after 2 s while running ")
    assert "in test_hangs" in hang["evidence"]["message"]  # where it hung
    assert "arithmetic is broken" in res["alpha.runtime-na"]["evidence"]["message"]
    # Both statistical tests were planned by every child, so the one that ran
    # after the restarts spent the same share of the budget as the first.
    alphas = [s["alpha"] for k in ("beta.stat-a", "beta.stat-b") for s in res[k]["evidence"]["statistics"]]
    assert len(alphas) == 2 and alphas[0] == alphas[1]
    # The journal is gone once the report holds everything; no temp file is left.
    assert sorted(p.name for p in out.iterdir()) == [
        "conformance-fake-1.2.3+cpu-cpu.json", "conformance-fake-1.2.3+cpu-cpu.md"
    ]
    captured = capsys.readouterr()
    assert "**7 clauses:** 3 holds, 1 violated, 0 not-applicable, 3 error" in captured.out
    assert "resuming with" in captured.err


DIES_AT_EXIT = """
import atexit, os, signal
import pytest

# As TensorFlow 2.15 does while the interpreter finalises after a full run.
atexit.register(lambda: os.kill(os.getpid(), signal.SIGSEGV))

@pytest.mark.clause("alpha.holds")
def test_holds():
    pass
"""


def test_a_crash_after_the_session_ended_changes_nothing(
    tmp_path: Path, catalogue_dir: Path, monkeypatch: pytest.MonkeyPatch, child_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, res, _ = run_module(tmp_path, catalogue_dir, monkeypatch, "test_dies_at_exit.py", DIES_AT_EXIT)
    assert code == cli.EXIT_OK
    assert [r["verdict"] for r in res.values()] == ["holds"]
    assert "signal 11 (SIGSEGV) after its session ended; every result was kept" in capsys.readouterr().err
