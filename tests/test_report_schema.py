"""Reports produced by the plugin validate against report.schema.json, and
the schema rejects malformed ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import Runner
from fakes import fake_profile_text

from conformance.reporting import json_report, markdown
from conformance.reporting.json_report import ReportInvalid

MIXED = """
import pytest
from hypothesis import given, strategies as st

@pytest.mark.clause("alpha.holds")
@given(x=st.integers())
def test_holds(x):
    pass

@pytest.mark.clause("alpha.broken")
@given(x=st.integers())
def test_broken(x):
    assert x < 3

@pytest.mark.clause("alpha.errs")
def test_errs():
    raise RuntimeError("boom")

@pytest.mark.clause("alpha.old")
def test_old():
    pass

@pytest.mark.clause("alpha.listed")
def test_listed():
    assert False

@pytest.mark.clause("beta.stat-a")
@pytest.mark.statistical(checks=1)
def test_stat(stat):
    stat.binomial(50, 100, 0.5, label="fair coin")
"""


@pytest.fixture
def report(runner: Runner) -> dict[str, Any]:
    runner.pytester.makepyfile(test_mixed=MIXED)
    dev = runner.pytester.path / "profile.toml"
    dev.write_text(fake_profile_text([("alpha.listed", "*", "known", "https://example.org/1"),
                                      ("alpha.gone", "*", "x", "https://example.org/2")]))
    runner.run("--profile", str(dev), "--max-examples", "10")
    return runner.report()


def test_the_schema_is_valid_draft_2020_12() -> None:
    schema = json_report.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == "1.0"


def test_every_schema_property_is_documented() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                assert "description" in sub, f"{where}/{name} has no description"
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}/{i}")

    walk(json_report.schema(), "")


def test_plugin_report_validates(report: dict[str, Any]) -> None:
    json_report.validate(report)
    verdicts = {r["spec"]: r["verdict"] for r in report["results"]}
    assert set(verdicts.values()) == {"holds", "violated", "error", "not-applicable"}
    assert report["stale_deviations"][0]["clause"] == "alpha.gone"
    assert report["results"][-1]["evidence"]["statistics"][0]["label"] == "fair coin"


def test_not_installed_report_validates(runner: Runner) -> None:
    runner.pytester.makepyfile(test_mixed=MIXED)
    runner.run(framework="ghost")
    json_report.validate(runner.report())


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r.pop("seed"),
        lambda r: r.__setitem__("schema_version", "2.0"),
        lambda r: r["framework"].pop("installed"),
        lambda r: r["results"][0].__setitem__("verdict", "passed"),
        lambda r: r["results"][0].__setitem__("expected", "yes"),
        lambda r: r["results"][0]["sources"].clear(),
        lambda r: r["results"][0]["evidence"].pop("reproduce"),
        lambda r: r["error_budget"].__setitem__("correction", "holm"),
        lambda r: r["error_budget"].__setitem__("total", 1.5),
        lambda r: r["summary"].pop("unexpected"),
        lambda r: r.__setitem__("timestamp", "yesterday"),
        lambda r: r.__setitem__("surprise", True),
    ],
)
def test_a_bad_report_fails_validation(report: dict[str, Any], breakage: Any) -> None:
    bad = copy.deepcopy(report)
    breakage(bad)
    assert json_report.errors(bad)
    with pytest.raises(ReportInvalid):
        json_report.validate(bad)


def test_write_refuses_an_invalid_report_and_keeps_the_old_file(
    report: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    json_report.write(report, path)
    bad = copy.deepcopy(report)
    bad.pop("results")
    with pytest.raises(ReportInvalid, match="results"):
        json_report.write(bad, path)
    assert json.loads(path.read_text()) == report
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_nan_is_not_written(report: dict[str, Any], tmp_path: Path) -> None:
    bad = copy.deepcopy(report)
    bad["duration"] = float("nan")
    with pytest.raises(ValueError):
        json_report.write(bad, tmp_path / "r.json", check=False)
    assert not list(tmp_path.iterdir())


def test_markdown_renders_every_verdict(report: dict[str, Any]) -> None:
    md = markdown.render(report)
    for spec in ("alpha.holds", "alpha.broken", "alpha.errs", "alpha.old", "alpha.listed"):
        assert f"`{spec}`" in md
    assert "known deviation" in md and "Reproduce:" in md and "## By source document" in md


def test_markdown_says_plainly_when_a_claim_is_wrong_for_every_version(report: dict[str, Any]) -> None:
    listed = next(r for r in report["results"] if r["spec"] == "alpha.listed")
    assert listed["verdict"] == "violated" and listed["known_deviation"]["versions"] == "*"
    md = markdown.render(report)
    assert "`alpha.listed` (wrong for every version)" in md
    assert "wrong for every version of" in md
    # A deviation for some versions only is a stale claim, not a wrong one.
    ranged = copy.deepcopy(report)
    next(r for r in ranged["results"] if r["spec"] == "alpha.listed")["known_deviation"]["versions"] = ">=3"
    assert "wrong for every version" not in markdown.render(ranged)
