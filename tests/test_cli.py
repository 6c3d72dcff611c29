"""The `conformance` command, in-process, on synthetic properties."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import fake_profile_text

from conformance import cli

PROPS = """
import pytest

@pytest.mark.clause("alpha.holds")
def test_holds(adapter):
    assert adapter.name == "fake"

@pytest.mark.clause("alpha.old")
def test_old():
    raise AssertionError("does not apply to fake 1.2.3")
"""

BROKEN = """
import pytest

@pytest.mark.clause("alpha.broken")
def test_broken():
    assert 1 + 1 == 3, "arithmetic is broken"
"""


@pytest.fixture
def props(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_env: None) -> Path:
    """Point `conformance run` at a directory of synthetic properties."""
    d = tmp_path / "props"
    d.mkdir()
    (d / "test_props.py").write_text(PROPS, encoding="utf-8")
    monkeypatch.setattr(cli, "TARGET", [str(d)])
    return d


def run(catalogue_dir: Path, tmp_path: Path, *extra: str) -> int:
    return cli.main(
        [
            "run",
            "--framework",
            "fake",
            "--catalogue",
            str(catalogue_dir),
            "--report-dir",
            str(tmp_path / "out"),
            "--seed",
            "7",
            *extra,
        ]
    )


def test_as_expected_exits_0_and_prints_summary(
    props: Path, catalogue_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(catalogue_dir, tmp_path) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "# Conformance: fake 1.2.3+cpu (cpu)" in out
    assert "**2 clauses:** 1 holds, 0 violated, 1 not-applicable, 0 error; as expected." in out
    report = json.loads((tmp_path / "out" / "conformance-fake-1.2.3+cpu-cpu.json").read_text())
    assert report["seed"] == 7


def test_unlisted_violation_exits_1(
    props: Path, catalogue_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (props / "test_broken.py").write_text(BROKEN, encoding="utf-8")
    assert run(catalogue_dir, tmp_path) == cli.EXIT_UNEXPECTED
    out = capsys.readouterr().out
    assert "arithmetic is broken" in out
    assert "conformance run --framework fake" not in out  # synthetic tests: only the pytest command
    assert "-k test_broken" in out


def test_listed_deviation_that_holds_exits_1(props: Path, catalogue_dir: Path, tmp_path: Path) -> None:
    dev = tmp_path / "profile.toml"
    entry = ("alpha.holds", "*", "thought broken", "https://example.org/1")
    dev.write_text(fake_profile_text([entry]), encoding="utf-8")
    assert run(catalogue_dir, tmp_path, "--profile", str(dev)) == cli.EXIT_UNEXPECTED


def test_listed_violation_exits_0(props: Path, catalogue_dir: Path, tmp_path: Path) -> None:
    (props / "test_broken.py").write_text(BROKEN, encoding="utf-8")
    dev = tmp_path / "profile.toml"
    entry = ("alpha.broken", ">=1.2", "known upstream", "https://example.org/1")
    dev.write_text(fake_profile_text([entry]), encoding="utf-8")
    # In a pytest-xdist worker, too (tests/test_parallel.py: the same report as a serial run).
    workers = ["--workers", "1"] if importlib.util.find_spec("xdist") else []
    assert run(catalogue_dir, tmp_path, "--profile", str(dev), *workers) == cli.EXIT_OK


def test_unknown_framework_exits_2(props: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--framework", "nope"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown framework 'nope'" in err and "fake" in err and "ghost" in err


def test_bad_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run"]) == cli.EXIT_USAGE  # --framework is required
    assert cli.main(["run", "--framework", "fake", "--max-examples", "many"]) == cli.EXIT_USAGE
    assert cli.main(["run", "--framework", "fake", "--max-examples", "0"]) == cli.EXIT_USAGE
    assert cli.main(["run", "--framework", "fake", "--false-alarm-budget", "2"]) == cli.EXIT_USAGE


def test_nothing_selected_exits_2(props: Path, catalogue_dir: Path, tmp_path: Path) -> None:
    assert run(catalogue_dir, tmp_path, "-k", "no_such_test") == cli.EXIT_USAGE


def test_not_installed_exits_3_before_running(
    props: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(["run", "--framework", "ghost", "--report-dir", str(tmp_path / "out")])
        == cli.EXIT_NOT_INSTALLED
    )
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "conformance: ghost is not installed "
        "(cannot import conformance_ghost_framework_that_is_not_installed)"
    ]
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_run_ignores_the_cwd_pytest_configuration(
    props: Path, catalogue_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option -x\n", encoding="utf-8")
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--no-such-option"\n')
    (project / "conftest.py").write_text("raise RuntimeError('a project conftest must not load')\n")
    monkeypatch.chdir(project)
    assert run(catalogue_dir, tmp_path) == cli.EXIT_OK
    assert not (project / ".pytest_cache").exists()


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["run", "--help"], ["specs", "--help"], ["frameworks", "--help"]):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "exit status:" in out and "3  the framework is registered but not installed" in out


def test_specs_json_dumps_every_field(catalogue_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["specs", "--json", "--catalogue", str(catalogue_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["catalogue_version"] == "test-1"
    clauses = {c["id"]: c for c in doc["clauses"]}
    old = clauses["alpha.old"]
    assert old["attributed"] is True and clauses["alpha.holds"]["attributed"] is False
    assert clauses["alpha.needs-cap"]["requires"] == []
    assert old["sources"] == [
        {"document": "002_bbbb.txt", "section": "1.2 Section", "quote": "a quote for alpha.old"}
    ]
    assert set(old) == {
        "id",
        "title",
        "statement",
        "area",
        "requires",
        "facts",
        "attributed",
        "sources",
        "statistical",
        "notes",
        "file",
    }
    assert clauses["beta.stat-a"]["statistical"] is True


def test_specs_lists_the_catalogue(catalogue_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["specs", "--catalogue", str(catalogue_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("catalogue test-1: 13 clauses")
    assert any(
        line.startswith("alpha.old") and "Title of alpha.old" in line and "[attributed]" in line
        for line in out.splitlines()
    )


def test_specs_with_a_broken_catalogue_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["specs", "--catalogue", str(tmp_path)]) == cli.EXIT_UNEXPECTED
    assert "README.md" in capsys.readouterr().err


def test_frameworks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frameworks"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "installed 1.2.3+cpu" in lines["fake"]
    assert "not installed" in lines["ghost"]


def test_the_script_flushes_its_output_and_keeps_the_exit_status() -> None:
    """The console entry point leaves through os._exit (a framework may crash
    while the interpreter finalises): output must still be flushed and the
    status must be main's."""
    ok = subprocess.run([sys.executable, "-m", "conformance.cli", "frameworks"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "reference" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--framework", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown framework 'nope'" in bad.stderr


def test_bad_timeout_exits_2(props: Path) -> None:
    assert cli.main(["run", "--framework", "fake", "--timeout", "-1"]) == cli.EXIT_USAGE
