"""``conformance bisect``: the release list, the search, the environments'
cache, the result's schema, the merged page's "what changed", the command.
No network: a fake index of releases and a fake runner stand in for pip and
for the environments."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_report_merge import report, result, save

from conformance import bisect, cli, releases
from conformance.bisect import Probe, Refused, search
from conformance.profile import parse_profile
from conformance.reporting import html as page
from conformance.reporting import index_md, merge

REPORTS = Path(__file__).resolve().parents[1] / "reports"

# -- the release list -------------------------------------------------------------------


def test_releases_are_in_pep440_order_without_pre_releases() -> None:
    listed = ["3.10.0", "3.9.0", "3.0.0", "3.1.0rc1", "2.15.0", "3.1.0", "3.2.0.dev1", "3.0.0.post1", "junk"]
    assert releases.between(listed, "2.15.0", "3.10.0") == [
        "2.15.0",
        "3.0.0",
        "3.0.0.post1",
        "3.1.0",
        "3.9.0",
        "3.10.0",
    ]
    with_pre = releases.between(listed, "2.15.0", "3.10.0", pre=True)
    assert with_pre == [
        "2.15.0",
        "3.0.0",
        "3.0.0.post1",
        "3.1.0rc1",
        "3.1.0",
        "3.2.0.dev1",
        "3.9.0",
        "3.10.0",
    ]


def test_an_end_named_explicitly_is_kept_even_as_a_pre_release() -> None:
    assert releases.between(["1.0", "1.1rc1", "1.1", "1.2"], "1.1rc1", "1.2") == ["1.1rc1", "1.1", "1.2"]


@pytest.mark.parametrize(
    ("first", "last", "problem"),
    [
        ("2.0.0", "3.0.0", "2.0.0 is not a release"),
        ("3.0.0", "2.15.0", "not older than"),
        ("3.0.0", "3.0.0", "not older than"),
    ],
)
def test_bad_ends_are_refused(first: str, last: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        releases.between(["2.15.0", "3.0.0"], first, last)


def test_a_file_index_stands_in_for_pip(tmp_path: Path) -> None:
    f = tmp_path / "index.json"
    f.write_text(json.dumps({"keras": ["3.0.0", "2.15.0"]}))
    assert releases.FileIndex(f).versions("keras") == ["3.0.0", "2.15.0"]
    with pytest.raises(releases.IndexError_, match="no releases of torch"):
        releases.FileIndex(f).versions("torch")


# -- the search ---------------------------------------------------------------------------


class FakeRunner:
    """Verdicts by release, from a table; releases in ``broken`` will not install."""

    def __init__(self, table: dict[str, dict[str, str]], broken: Sequence[str] = ()) -> None:
        self.table, self.broken = table, set(broken)
        self.calls: list[str] = []

    def __call__(self, version: str, clauses: Sequence[str] | None) -> Probe:
        self.calls.append(version)
        if version in self.broken:
            return Probe(version, "skipped", f"pip could not install x=={version}")
        verdicts = {
            c: {"verdict": v, "expected": True, "title": c}
            for c, v in self.table[version].items()
            if clauses is None or c in clauses
        }
        return Probe(version, "ran", None, verdicts, {"name": "x", "version": version})


def table(
    versions: Sequence[str], first_new: dict[str, str], *, old: str = "holds", new: str = "violated"
) -> dict[str, dict[str, str]]:
    """Each clause is ``old`` before its first_new release and ``new`` from it on."""
    order = {v: i for i, v in enumerate(versions)}
    return {
        v: {c: (new if order[v] >= order[f] else old) for c, f in first_new.items()}
        | {"same.clause": "holds"}
        for v in versions
    }


VERSIONS = [f"1.{i}.0" for i in range(17)]


@pytest.mark.parametrize("first", VERSIONS[1:])
def test_the_search_finds_the_first_release_in_log_probes(first: str) -> None:
    run = FakeRunner(table(VERSIONS, {"a.b": first}))
    found = search(VERSIONS, run, ["a.b"])
    (r,) = found["results"]
    assert (r["first_after"], r["status"], r["before"], r["after"]) == (first, "found", "holds", "violated")
    assert r["last_before"] == VERSIONS[VERSIONS.index(first) - 1]
    assert len(run.calls) == len(set(run.calls)) <= 2 + 4  # the ends, then log2(15) probes at most
    assert [p["version"] for p in found["probes"]] == sorted(set(run.calls), key=VERSIONS.index)


def test_without_clauses_every_clause_that_differs_is_bisected_and_probes_are_shared() -> None:
    run = FakeRunner(table(VERSIONS, {"a.b": "1.5.0", "c.d": "1.6.0"}))
    found = search(VERSIONS, run, None)
    assert found["clauses"] == ["a.b", "c.d"] and found["selection"].startswith("every clause")
    assert {r["clause"]: r["first_after"] for r in found["results"]} == {"a.b": "1.5.0", "c.d": "1.6.0"}
    assert len(run.calls) == len(set(run.calls)) <= 2 + 4 + 2  # the second clause reuses most probes
    assert all(set(p["verdicts"]) <= {"a.b", "c.d"} for p in found["probes"])  # only the bisected clauses


def test_a_release_that_will_not_install_is_skipped_and_the_search_goes_on() -> None:
    versions = VERSIONS[:9]
    run = FakeRunner(table(versions, {"a.b": "1.6.0"}), broken=["1.4.0"])
    found = search(versions, run, ["a.b"])
    (r,) = found["results"]
    assert (r["first_after"], r["status"]) == ("1.6.0", "found")
    skipped = [p for p in found["probes"] if p["status"] == "skipped"]
    assert [p["version"] for p in skipped] == ["1.4.0"] and "could not install" in skipped[0]["reason"]


def test_a_skipped_release_where_the_change_may_be_leaves_it_undecided() -> None:
    versions = VERSIONS[:5]
    run = FakeRunner(table(versions, {"a.b": "1.3.0"}), broken=["1.2.0"])
    (r,) = search(versions, run, ["a.b"])["results"]
    assert (r["last_before"], r["first_after"], r["status"], r["undecided"]) == (
        "1.1.0",
        "1.3.0",
        "undecided",
        ["1.2.0"],
    )


def test_ends_that_do_not_differ_are_refused_with_what_was_seen() -> None:
    run = FakeRunner(table(VERSIONS, {"a.b": "1.5.0"}))
    said = r"do not differ: same\.clause is holds at both 1\.0\.0 and 1\.16\.0"
    with pytest.raises(Refused, match=said) as exc:
        search(VERSIONS, run, ["same.clause"])
    assert run.calls == ["1.0.0", "1.16.0"]  # nothing between the ends was probed
    assert exc.value.doc is not None and len(exc.value.doc["probes"]) == 2
    with pytest.raises(Refused, match="every one of the 1 clauses"):
        search(VERSIONS[:2], FakeRunner(table(VERSIONS[:2], {})), None)


def test_an_end_that_will_not_install_is_refused() -> None:
    with pytest.raises(Refused, match=r"the end 1\.0\.0 could not be probed: pip could not install"):
        search(VERSIONS, FakeRunner(table(VERSIONS, {"a.b": "1.5.0"}), broken=["1.0.0"]), ["a.b"])


def test_an_unknown_clause_is_refused() -> None:
    with pytest.raises(Refused, match=r"no verdict on no\.such"):
        search(VERSIONS, FakeRunner(table(VERSIONS, {"a.b": "1.5.0"})), ["no.such"])


def test_a_verdict_that_comes_back_is_flagged_not_monotonic() -> None:
    versions = VERSIONS[:9]
    t = table(versions, {"a.b": "1.2.0"})
    t["1.6.0"]["a.b"] = "holds"  # the old verdict again, after the change
    t["1.4.0"]["a.b"] = "holds"
    run = FakeRunner(t)
    (r,) = search(versions, run, ["a.b"])["results"]
    assert r["first_after"] in ("1.2.0", "1.5.0", "1.7.0")
    if "1.4.0" in run.calls and r["first_after"] == "1.2.0":
        assert "1.4.0" in r["not_monotonic"]


def test_progress_is_reported_while_it_runs() -> None:
    lines: list[str] = []
    search(VERSIONS, FakeRunner(table(VERSIONS, {"a.b": "1.3.0"})), ["a.b"], progress=lines.append)
    assert lines[0].startswith("probe 1: 1.0.0") and any("bisecting 1 clause" in x for x in lines)
    assert lines[-1] == "a.b: first violated in 1.3.0 (last holds in 1.2.0)"


# -- the document ---------------------------------------------------------------------------


def document(found: dict[str, Any], outcome: str = "found", **over: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(  # noqa: C408 - the keywords of bisect.document
        framework="x",
        distribution="x",
        backend="tensorflow",
        first=VERSIONS[0],
        last=VERSIONS[-1],
        releases=VERSIONS,
        pre=False,
        index="a fake index",
        settings={
            "seed": 0,
            "max_examples": 10,
            "catalogue_version": "1.0.0",
            "conformance_version": "0.1.0",
        },
        found=found,
        outcome=outcome,
        started=0.0,
    )
    args.update(over)
    return bisect.document(**args)


def test_the_document_matches_its_schema_and_renders(tmp_path: Path) -> None:
    doc = document(search(VERSIONS, FakeRunner(table(VERSIONS, {"a.b": "1.3.0"})), ["a.b"]))
    assert bisect.errors(doc) == []
    json_path, md_path = bisect.write(doc, tmp_path)
    assert json_path.name == "bisect-x-tensorflow-1.0.0-1.16.0.json"
    md = md_path.read_text()
    assert "| `a.b` | 1.2.0 (holds) | **1.3.0** (violated) |" in md and "## Probes" in md
    broken = json.loads(json_path.read_text())
    broken["results"][0]["first_after"] = 3
    del broken["probes"][0]["status"]
    problems = bisect.errors(broken)
    assert any("first_after" in p for p in problems) and any("status" in p for p in problems)
    with pytest.raises(ValueError, match="does not match its schema"):
        bisect.write(broken, tmp_path)


# -- environments: cached and reused, refused where the profile says -----------------------

PROFILE = """
[framework]
name = "x"
distribution = "x-dist"
module = "x"

[install]
installable = ">=1"
reason = "older wheels are not on the index"
backends = {tf = {X_BACKEND = "tf"}}
[[install.pins]]
versions = "<2"
requires = ["numpy<2"]
[[install.pins]]
backend = "tf"
requires = ["tensorflow-cpu==2.16.2"]

[facts]
weight_layout = "out_in"
default_weight = {family = "zeros"}
default_bias = {family = "zeros"}
"""


def test_an_environment_is_reused_and_refused_releases_are_not_installed(tmp_path: Path) -> None:
    profile = parse_profile(PROFILE, "x.toml")
    assert profile.install.requirements("1.5", "tf") == ["numpy<2", "tensorflow-cpu==2.16.2"]
    assert profile.install.requirements("2.0", None) == []
    envs = releases.Environments(tmp_path, source=Path(__file__).resolve().parents[1])
    fp = releases.fingerprint(envs.source)  # type: ignore[arg-type]
    (tmp_path / "self" / fp).mkdir(parents=True)
    (tmp_path / "self" / fp / "param_conformance-0.1.0-py3-none-any.whl").write_text(
        "stands in for the wheel"
    )
    name, reqs = envs.key(profile, "1.5", "tf")
    assert reqs == ["x-dist==1.5", "numpy<2", "tensorflow-cpu==2.16.2"]
    assert envs.key(profile, "1.6", "tf")[0] != name and envs.key(profile, "1.5", "tf")[0] == name
    (tmp_path / name).mkdir()
    marker = {"installed": {"x-dist": "1.5"}, "self": fp}
    (tmp_path / name / releases.MARKER).write_text(json.dumps(marker))
    env = envs.get(profile, "1.5", "tf")  # no venv, no pip: the marker says it is complete and current
    assert env.reused and env.installed == {"x-dist": "1.5"} and env.environ == {"X_BACKEND": "tf"}
    with pytest.raises(releases.InstallFailed, match="only >=1 can be installed: older wheels"):
        envs.get(profile, "0.9", "tf")


def test_the_property_tests_of_a_clause_are_found_by_name() -> None:
    names = releases.clause_tests(["tied.repeated-layer-kept", "tied.repeated-layer-deduplicated"])
    assert len(names) == 2 and all(n.startswith("test_") for n in names)
    assert releases.clause_tests(["no.such-clause"]) == []


def test_torch_other_than_the_local_wheel_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["bisect", "--framework", "torch", "--from", "2.12.0", "--to", "2.13.0"])
    assert code == cli.EXIT_USAGE
    assert "only ==2.13.0 can be installed" in capsys.readouterr().err


# -- the command, with a fake index and fake environments -------------------------------


@pytest.fixture
def fake_envs(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    run = FakeRunner(
        table(
            ["2.15.0", "3.0.0", "3.0.1", "3.0.2"],
            {"tied.repeated-layer-kept": "3.0.0"},
            old="violated",
            new="holds",
        )
    )

    def get(self: releases.Environments, profile: Any, version: str, backend: str | None) -> releases.Env:
        if version == "3.0.1":
            raise releases.InstallFailed("pip could not install keras==3.0.1")
        return releases.Env(
            Path("/nonexistent") / version, profile.name, version, backend, [], {}, {"keras": version}
        )

    def run_catalogue(env: releases.Env, **kw: Any) -> releases.Observation:
        probe = run(env.version, None)
        results = {c: result(c, v["verdict"]) for c, v in probe.verdicts.items()}
        fw = {"name": "keras", "version": env.version, "backend": "tensorflow", "installed": True}
        return releases.Observation(fw, results, 1.0)

    monkeypatch.setattr(releases.Environments, "get", get)
    monkeypatch.setattr(releases, "run_catalogue", run_catalogue)
    return run


def test_the_command_bisects_writes_the_result_and_shows_progress(
    fake_envs: FakeRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"keras": ["3.0.2", "3.0.1", "3.0.0", "3.0.0rc1", "2.15.0", "2.14.0"]}))
    out = tmp_path / "bisect"
    code = cli.main(
        [
            "bisect",
            "--framework",
            "keras",
            "--backend",
            "tensorflow",
            "--from",
            "2.15.0",
            "--to",
            "3.0.2",
            "--index",
            str(index),
            "--report-dir",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    captured = capsys.readouterr()
    assert code == cli.EXIT_OK, captured.err
    doc = json.loads((out / "bisect-keras-tensorflow-2.15.0-3.0.2.json").read_text())
    assert doc["releases"] == ["2.15.0", "3.0.0", "3.0.1", "3.0.2"]  # no 3.0.0rc1
    assert [(r["clause"], r["first_after"]) for r in doc["results"]] == [
        ("tied.repeated-layer-kept", "3.0.0")
    ]
    assert bisect.errors(doc) == []
    assert (
        "probe 1: 2.15.0" in captured.err and "tied.repeated-layer-kept: first holds in 3.0.0" in captured.err
    )
    assert "**3.0.0**" in captured.out


def test_the_command_refuses_ends_that_agree_and_says_so(
    fake_envs: FakeRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"keras": ["3.0.0", "3.0.1", "3.0.2"]}))
    code = cli.main(
        [
            "bisect",
            "--framework",
            "keras",
            "--backend",
            "tensorflow",
            "--from",
            "3.0.0",
            "--to",
            "3.0.2",
            "--index",
            str(index),
            "--report-dir",
            str(tmp_path / "b"),
        ]
    )
    assert code == cli.EXIT_REFUSED
    assert "refused: the ends do not differ" in capsys.readouterr().err
    doc = json.loads(next((tmp_path / "b").glob("*.json")).read_text())
    assert doc["outcome"] == "ends-agree" and doc["results"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--framework", "keras", "--from", "2.15.0", "--to", "3.0.2"],
            "needs --backend, one of jax, tensorflow, torch",
        ),
        (["--framework", "paddle", "--backend", "x", "--from", "2.6.2", "--to", "3.3.1"], "has no backends"),
        (["--framework", "nope", "--from", "1", "--to", "2"], "unknown framework"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bisect", *argv]) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


# -- the merged page's "what changed" ------------------------------------------------------


def test_what_changed_names_the_first_release_a_bisection_found(tmp_path: Path) -> None:
    d = tmp_path / "reports"
    d.mkdir()
    for version, verdict in (("2.15.0", "violated"), ("3.0.5", "holds")):
        save(d, report("keras", version, "tensorflow", [result("tied.flip", verdict)]))
    run = FakeRunner(
        table(["2.15.0", "3.0.0", "3.0.1", "3.0.5"], {"tied.flip": "3.0.1"}, old="violated", new="holds")
    )
    found = search(["2.15.0", "3.0.0", "3.0.1", "3.0.5"], run, ["tied.flip"])
    doc = document(
        found,
        framework="keras",
        distribution="keras",
        first="2.15.0",
        last="3.0.5",
        releases=["2.15.0", "3.0.0", "3.0.1", "3.0.5"],
    )
    bisect.write(doc, d / "bisect")
    m = merge.merge(merge.load_dir(d))
    (ch,) = m.changes
    assert ch.bisected is not None and ch.bisected.first_after == "3.0.1"
    assert "bisected: first release 3.0.1 (last before it 3.0.0)" in index_md.render(m)
    assert '<strong class="first-release">3.0.1</strong>' in page.render(m)
    # another backend's bisection does not cover it
    doc2 = {**doc, "backend": "jax"}
    shutil.rmtree(d / "bisect")
    bisect.write(doc2, d / "bisect")
    assert merge.merge(merge.load_dir(d)).changes[0].bisected is None


def test_a_bad_bisection_file_is_named_and_nothing_merges(tmp_path: Path) -> None:
    d = tmp_path / "reports"
    (d / "bisect").mkdir(parents=True)
    save(d, report("keras", "3.0.5", "tensorflow", [result("tied.flip")]))
    (d / "bisect" / "bisect-keras-1-2.json").write_text('{"schema_version": "1.0"}')
    with pytest.raises(merge.BadInput, match=r"bisect-keras-1-2\.json: does not match the bisection schema"):
        merge.load_dir(d)


def test_the_committed_bisections_match_the_schema_and_name_a_first_release() -> None:
    committed = sorted((REPORTS / "bisect").glob("bisect-*.json"))
    assert committed, "reports/bisect/ holds the committed bisections"
    for path in committed:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert bisect.errors(doc) == [], path.name
        assert doc["outcome"] != "found" or all(r["first_after"] in doc["releases"] for r in doc["results"])
        assert (path.with_suffix(".md")).is_file()
