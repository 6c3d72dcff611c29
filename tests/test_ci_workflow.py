"""The GitHub Actions workflow and tox.ini describe one matrix: the workflow's
framework jobs are exactly tox.ini's framework envs, and tox's `report` env
runs last, after every one of them."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
NOT_FRAMEWORKS = {"lint", "tests", "report"}


def _tox() -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini", encoding="utf-8")
    return ini


def _names(value: str) -> list[str]:
    return [n for n in re.split(r"[\s,]+", value) if n]


def _workflow() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "conformance.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_the_workflow_runs_exactly_the_framework_envs_of_tox_ini() -> None:
    env_list = _names(_tox()["tox"]["env_list"])
    frameworks = [n for n in env_list if n not in NOT_FRAMEWORKS]
    matrix = _workflow()["jobs"]["catalogue"]["strategy"]["matrix"]["env"]
    assert matrix == frameworks, "the workflow's matrix and tox.ini's env_list differ"


def test_the_workflow_merges_after_the_framework_jobs_and_runs_the_tests() -> None:
    jobs = _workflow()["jobs"]
    assert jobs["matrix"]["needs"] == "catalogue"
    steps = [s.get("run", "") for s in jobs["matrix"]["steps"]]
    assert "conformance report merged" in steps
    assert "tox -e tests" in [s.get("run", "") for s in jobs["tests"]["steps"]]


def test_the_lint_gates_run_in_the_workflow_and_in_ci_run_but_not_in_the_catalogue_label() -> None:
    assert "tox -e lint" in [s.get("run", "") for s in _workflow()["jobs"]["lint"]["steps"]]
    assert re.search(r"^run lint tox -e lint\b", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.M)
    ci = _names(_tox()["tox"]["labels"].split("=", 1)[1])
    assert "lint" not in ci, "`tox -m ci` would run lint a second time after .ci/run's own step"


def test_the_report_env_runs_last_after_every_framework_env() -> None:
    tox = _tox()
    env_list = _names(tox["tox"]["env_list"])
    assert env_list[-1] == "report"
    frameworks = {n for n in env_list if n not in NOT_FRAMEWORKS}
    assert set(_names(tox["testenv:report"]["depends"])) == frameworks
    assert "conformance report" in tox["testenv:report"]["commands"]
