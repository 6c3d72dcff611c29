"""Shared fixtures for the suite's own tests: a fake framework registry, a
small synthetic spec catalogue, and helpers to run the plugin with pytester."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The plugin imports numpy, scipy and Hypothesis lazily. Import them here,
# before pytester's in-process runs: those forget modules first imported inside
# a run, so each run would import them again (slow), and a C extension such as
# numpy's cannot be loaded twice in one process.
import hypothesis.strategies  # noqa: F401
import numpy as np
import pytest
from fakes import FakeAdapter, GhostAdapter, with_fakes

import conformance.adapters as registry
import conformance.reporting
import conformance.stats  # noqa: F401

HERE = Path(__file__).resolve().parent

pytest_plugins = ["pytester"]


def batch(rows: int = 3, cols: int = 4, seed: int = 1) -> np.ndarray:
    """A reproducible float32 input batch for the adapters' own tests."""
    return np.random.default_rng(seed).normal(size=(rows, cols)).astype(np.float32)


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``fake`` and ``ghost`` next to the real adapters (in-process,
    so pytester.runpytest_inprocess and cli.main see them; a child process
    gets them from the ``child_env`` fixture)."""
    monkeypatch.setattr(registry, "_entry_points", with_fakes(registry._entry_points))


@pytest.fixture
def child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest processes started by the test (`conformance run`'s child,
    pytest-xdist workers) load :mod:`fakes`, so they know ``fake`` too."""
    path = [str(HERE), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    monkeypatch.setenv("PYTEST_PLUGINS", "fakes")


def _clause(cid: str, extra: str = "", doc: str = "001_aaaa.txt", statistical: bool = False) -> str:
    return textwrap.dedent(
        f"""\
        ```clause
        id: {cid}
        title: Title of {cid}
        statement: The framework MUST do what {cid} says.
        {extra}
        statistical: {"true" if statistical else "false"}
        sources:
          - document: {doc}
            section: "1.2 Section"
            quote: "a quote for {cid}"
        ```
        """
    )


# (id, extra clause fields, document). alpha.old is a claim no edition makes of
# `fake` (attributed); the fake profile lists alpha.other-only as unsupported;
# alpha.needs-cap's test (a `requires` marker) needs a capability `fake` lacks.
ALPHA = [
    ("alpha.holds", "", "001_aaaa.txt"),
    ("alpha.broken", "", "001_aaaa.txt"),
    ("alpha.errs", "", "002_bbbb.txt"),
    ("alpha.old", "attributed: true", "002_bbbb.txt"),
    ("alpha.other-only", "", "002_bbbb.txt"),
    ("alpha.needs-cap", "", "003_cccc.txt"),
    ("alpha.runtime-na", "", "003_cccc.txt"),
    ("alpha.listed", "", "004_dddd.txt"),
    ("alpha.stale-listed", "", "004_dddd.txt"),
    ("alpha.unused", "", "005_eeee.txt"),
]


@pytest.fixture(scope="session")
def catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic catalogue: area ``alpha`` (plain clauses) and ``beta``
    (statistical ones), version ``test-1``."""
    d = tmp_path_factory.mktemp("specs")
    (d / "README.md").write_text(
        "---\ncatalogue_version: test-1\n---\n# Synthetic catalogue\n", encoding="utf-8"
    )
    (d / "alpha.md").write_text(
        "# alpha\n\n" + "\n".join(_clause(c, f, doc) for c, f, doc in ALPHA), encoding="utf-8"
    )
    (d / "beta.md").write_text(
        "# beta\n\n"
        + "\n".join(
            _clause(c, "", "005_eeee.txt", True)
            for c in ("beta.stat-a", "beta.stat-b", "beta.stat-c")
        ),
        encoding="utf-8",
    )
    return d


class Runner:
    """Runs pytest in-process on synthetic test files with the plugin's options
    and hands back the pytest result and the JSON report."""

    def __init__(self, pytester: pytest.Pytester, catalogue_dir: Path) -> None:
        self.pytester = pytester
        self.catalogue_dir = catalogue_dir
        self.report_dir = pytester.path / "reports"

    def run(self, *args: str, framework: str = "fake", report: bool = True) -> pytest.RunResult:
        opts = [
            "-p",
            "no:cacheprovider",
            "--framework",
            framework,
            "--catalogue",
            str(self.catalogue_dir),
            "--seed",
            "12345",
        ]
        if report:
            opts += ["--report-dir", str(self.report_dir)]
        return self.pytester.runpytest_inprocess(*opts, *args)

    def report(self) -> dict[str, Any]:
        files = sorted(self.report_dir.glob("conformance-*.json"))
        assert len(files) == 1, files
        return json.loads(files[0].read_text(encoding="utf-8"))

    def results(self) -> dict[str, dict[str, Any]]:
        return {r["spec"]: r for r in self.report()["results"]}


@pytest.fixture
def runner(pytester: pytest.Pytester, catalogue_dir: Path) -> Iterator[Runner]:
    yield Runner(pytester, catalogue_dir)


__all__ = ["FakeAdapter", "GhostAdapter", "Runner"]
