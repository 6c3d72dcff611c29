"""Checkpoints across releases: the promise in a profile, the save/check
steps, and the clause ``serialisation.across-releases`` decided in a run
given another release's files (here: the reference saving and loading, with
a profile that documents a promise, and the same files corrupted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import cli, crossversion
from conformance.adapters import adapter_class
from conformance.profile import ProfileError, parse_profile

REFERENCE_PROFILE = Path(crossversion.__file__).resolve().parent / "frameworks" / "reference" / "profile.toml"
PROMISE = '\n[checkpoints]\nweights = {saved_by = "*", loaded_by = "*", doc = "a test promise"}\n'


def test_a_promise_covers_older_or_same_releases_in_its_ranges() -> None:
    text = REFERENCE_PROFILE.read_text() + (
        '\n[checkpoints]\nweights = {saved_by = "*", loaded_by = ">=3", doc = "x"}\n'
        'model = {saved_by = ">=2.13", loaded_by = ">=3", doc = "y"}\n'
    )
    p = parse_profile(text, "p.toml")
    assert "cross_version_checkpoints" in p.facts.capabilities
    w, m = p.checkpoints["weights"], p.checkpoints["model"]
    assert w.covers("2.15.0", "3.0.5") and w.covers("3.0.5", "3.0.5") and not w.covers("3.8.0", "3.0.5")
    assert not w.covers("2.14.0", "2.15.0")  # loaded_by >= 3
    assert m.covers("2.15.0", "3.15.1") and not m.covers("2.12.0", "3.0.0")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('weights = {saved_by = "*", loaded_by = "*"}', "saved_by = range, loaded_by = range, doc"),
        ('weights = {saved_by = "*", loaded_by = "*", doc = ""}', "needs the documentation"),
        ('optimizer = {saved_by = "*", loaded_by = "*", doc = "x"}', "must be a table of weights, model"),
    ],
)
def test_a_malformed_promise_is_refused(table: str, problem: str) -> None:
    with pytest.raises(ProfileError, match=problem):
        parse_profile(REFERENCE_PROFILE.read_text() + f"\n[checkpoints]\n{table}\n", "p.toml")


def test_the_capability_comes_only_from_a_promise() -> None:
    text = REFERENCE_PROFILE.read_text().replace(
        "capabilities = [", 'capabilities = [\n    "cross_version_checkpoints",', 1
    )
    with pytest.raises(ProfileError, match="comes from a \\[checkpoints\\] table"):
        parse_profile(text, "p.toml")


def test_check_records_each_case_and_mode(tmp_path: Path) -> None:
    ad = adapter_class("reference")()
    manifest = crossversion.save(ad, tmp_path / "a")
    assert all(e["saved"] for e in manifest["cases"])
    result = crossversion.check(ad, tmp_path / "a")
    assert {c["status"] for c in result["checks"]} == {"ok"}
    assert result["promise"]["weights"] == "reference documents no cross-release promise for weights files"
    # a saved value the file does not hold: the check says which parameter, in which mode
    doc = json.loads((tmp_path / "a" / crossversion.MANIFEST).read_text())
    key = next(iter(doc["cases"][0]["values"]))
    doc["cases"][0]["values"][key][0][0] += 1.0
    (tmp_path / "a" / crossversion.MANIFEST).write_text(json.dumps(doc))
    broken = [c for c in crossversion.check(ad, tmp_path / "a")["checks"] if c["status"] == "broken"]
    assert broken and all(c["case"] == "mlp" for c in broken)
    assert "entries differ" in broken[0]["what"]
    assert crossversion.breaks(broken)[0].startswith("mlp (weights, strict)")


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "reports"
    code = cli.main(
        [
            "run",
            "--framework",
            "reference",
            "--report-dir",
            str(out),
            "--max-examples",
            "5",
            "--seed",
            "3",
            "-k",
            "test_files_of_another_release",
            *extra,
        ]
    )
    assert code in (cli.EXIT_OK, cli.EXIT_UNEXPECTED)
    report = json.loads(next(out.glob("conformance-*.json")).read_text())
    return {r["spec"]: r for r in report["results"]}[crossversion.CLAUSE]


def test_the_clause_is_decided_only_given_another_release_s_files(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(REFERENCE_PROFILE.read_text() + PROMISE)
    alone = _run(tmp_path / "1", "--profile", str(profile))
    assert alone["verdict"] == "not-applicable" and "needs the files of another release" in alone["reason"]
    no_promise = _run(tmp_path / "2")
    assert no_promise["verdict"] == "not-applicable" and "cross version checkpoints" in no_promise["reason"]

    crossversion.save(adapter_class("reference")(), tmp_path / "saved")
    given = _run(tmp_path / "3", "--profile", str(profile), "--checkpoints-from", str(tmp_path / "saved"))
    assert given["verdict"] == "holds", given
    manifest = tmp_path / "saved" / crossversion.MANIFEST
    doc = json.loads(manifest.read_text())
    for case in doc["cases"]:  # every saved network's first weight is not what the file holds
        key = next(iter(case["values"]))
        case["values"][key][0][0] += 0.5
    manifest.write_text(json.dumps(doc))
    broken = _run(tmp_path / "4", "--profile", str(profile), "--checkpoints-from", str(tmp_path / "saved"))
    assert broken["verdict"] == "violated" and "entries differ" in (broken["evidence"]["message"] or ""), (
        broken
    )
