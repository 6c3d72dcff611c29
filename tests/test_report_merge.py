"""`conformance report DIR`: merging reports into the matrix, what changed,
the claims per document, the evidence, escaping, and bad input that must
leave the directory as it was."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Runner

from conformance import cli
from conformance.reporting import html as page
from conformance.reporting import index_md, json_report, merge
from conformance.reporting.model import SCHEMA_VERSION, VERDICTS

REPORTS = Path(__file__).resolve().parent.parent / "reports"
STAMP = "2026-01-02T03:04:05Z"


def result(
    spec: str,
    verdict: str = "holds",
    *,
    expected: bool = True,
    deviation: str | None = None,
    document: str = "001_aaaa.txt",
    title: str | None = None,
    counterexample: str | None = None,
    statistics: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``results`` entry as the plugin writes it."""
    failing = verdict in ("violated", "error")
    return {
        "spec": spec,
        "title": title or f"Title of {spec}",
        "statement": f"The framework MUST do what {spec} says.",
        "area": spec.split(".")[0],
        "sources": [{"document": document, "section": "1.2 Section", "quote": f"a quote for {spec}"}],
        "verdict": verdict,
        "expected": expected,
        "reason": f"known deviation {spec}" if deviation else None,
        "known_deviation": (
            {"versions": deviation, "reason": "the framework differs", "link": "https://example.org/kd"}
            if deviation
            else None
        ),
        "tests": [{"nodeid": f"test_{spec}", "outcome": "failed" if failing else "passed", "duration": 0.1}],
        "evidence": {
            "message": "assert 1 == 2" if failing else None,
            "counterexample": counterexample if counterexample else ("f(x=3)" if failing else None),
            "reproduce": f"conformance run -k {spec} --seed 7" if failing else None,
            "statistics": statistics or [],
        },
    }


def report(
    name: str, version: str | None, backend: str | None, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """A complete, valid report of ``results``."""
    summary: dict[str, int] = {v: sum(r["verdict"] == v for r in results) for v in VERDICTS}
    summary["unexpected"] = sum(not r["expected"] for r in results)
    return {
        "schema_version": SCHEMA_VERSION,
        "catalogue_version": "test-1",
        "framework": {"name": name, "version": version, "backend": backend, "installed": version is not None},
        "python": "3.11.2",
        "platform": "Linux",
        "timestamp": STAMP,
        "duration": 1.5,
        "seed": 7,
        "settings": {"max_examples": 10, "stat_examples": 4, "derandomize": False},
        "error_budget": {"total": 1e-6, "correction": "bonferroni", "statistical_tests": 1, "per_test": 1e-6},
        "results": results,
        "summary": summary,
        "stale_deviations": [],
    }


def save(directory: Path, doc: dict[str, Any], stem: str | None = None) -> Path:
    from conformance.reporting.model import report_stem

    path = directory / f"{stem or report_stem(doc['framework'])}.json"
    json_report.write(doc, path)
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def matrix_of(text: str) -> str:
    """The matrix section of the page (the per-document tables repeat its header)."""
    return text.split('<section id="matrix">', 1)[1].split("</section>", 1)[0]


def qq_record(n: int, passed: bool = True) -> dict[str, Any]:
    probs = [(i + 0.5) / 20 for i in range(20)]
    law = [(p - 0.5) * 2 for p in probs]
    sample: list[float | None] = [q * (1.0 if passed else 1.6) for q in law]
    sample[3] = None  # a non-finite quantile is null and is not drawn
    return {
        "label": f"weights of Dense({n} -> {n})",
        "test": "kolmogorov-smirnov",
        "n": n * n,
        "statistic": 0.01,
        "p_value": 0.5 if passed else 1e-12,
        "alpha": 1e-8,
        "expect": "fit",
        "passed": passed,
        "plot": {"kind": "qq", "probabilities": probs, "sample": sample, "law": law},
    }


KERAS = [("2.15.0", "holds"), ("3.9.0", "violated"), ("3.10.0", "violated"), ("3.11.0", "holds")]


@pytest.fixture
def keras_dir(tmp_path: Path) -> Path:
    """Four Keras versions on tensorflow (3.10 after 3.9: PEP 440 order, not
    string order) where ``tied.flip`` stops holding at 3.9 and holds again at
    3.11, plus a torch report and a reference report."""
    d = tmp_path / "reports"
    d.mkdir()
    for version, flip in KERAS:
        save(
            d,
            report(
                "keras",
                version,
                "tensorflow",
                [
                    result("access.always"),
                    result(
                        "tied.flip",
                        flip,
                        deviation=">=3.9,<3.11" if flip == "violated" else None,
                        document="000_tf.txt",
                    ),
                    result("default-init.uniform", "violated", deviation="*", document="004_tf2.txt"),
                ],
            ),
        )
    save(
        d,
        report(
            "torch",
            "2.13.0+cpu",
            None,
            [
                result("access.always"),
                result("tied.flip", "not-applicable", document="000_tf.txt"),
                result("default-init.uniform", "violated", expected=False, document="004_tf2.txt"),
            ],
        ),
    )
    save(
        d,
        report(
            "reference",
            "0.1.0",
            None,
            [
                result("access.always"),
                result("tied.flip", document="000_tf.txt"),
                result("default-init.uniform", document="004_tf2.txt"),
            ],
        ),
    )
    return d


def test_the_matrix_has_a_column_per_report_in_pep440_order(keras_dir: Path) -> None:
    m = merge.merge(merge.load_dir(keras_dir))
    assert [c.label for c in m.columns] == [
        "reference 0.1.0",
        "keras 2.15.0 on tensorflow",
        "keras 3.9.0 on tensorflow",
        "keras 3.10.0 on tensorflow",
        "keras 3.11.0 on tensorflow",
        "torch 2.13.0+cpu",
    ]
    assert list(m.areas()) == ["access", "tied", "default-init"]
    keras39 = m.columns[2]
    assert merge.cell_kind(m.cell("tied.flip", keras39)) == "known"
    torch = m.columns[-1]
    assert merge.cell_kind(m.cell("default-init.uniform", torch)) == "violated"
    assert merge.cell_kind(m.cell("tied.flip", torch)) == "na"


def test_score_is_holds_over_applicable() -> None:
    assert merge.score({"holds": 3, "violated": 1, "error": 1, "not-applicable": 5}) == pytest.approx(0.6)
    assert merge.score({"holds": 0, "violated": 0, "error": 0, "not-applicable": 5}) is None
    assert merge.percent(None) == "-" and merge.percent(2 / 3) == "66.7%"


def test_scores_appear_per_column(keras_dir: Path) -> None:
    m = merge.merge(merge.load_dir(keras_dir))
    assert [merge.percent(c.score) for c in m.columns] == [
        "100.0%",
        "66.7%",
        "33.3%",
        "33.3%",
        "66.7%",
        "50.0%",
    ]
    md = index_md.render(m)
    assert "| torch 2.13.0+cpu | 1 | 1 | 1 | 0 | **1** | 50.0% |" in md


def test_what_changed_names_the_last_version_it_held_and_the_first_it_did_not(keras_dir: Path) -> None:
    m = merge.merge(merge.load_dir(keras_dir))
    flips = [(c.clause, c.before_version, c.before, c.after_version, c.after) for c in m.changes]
    assert flips == [
        ("tied.flip", "2.15.0", "holds", "3.9.0", "violated"),
        ("tied.flip", "3.10.0", "violated", "3.11.0", "holds"),
    ]
    assert m.changes[0].group == "keras on tensorflow"
    assert m.changes[0].describe() == "last held in 2.15.0, first violated in 3.9.0"
    md = index_md.render(m)
    assert "| keras on tensorflow | `tied.flip` | last violated in 3.10.0, first held in 3.11.0 |" in md
    assert "last held in 2.15.0, first violated in 3.9.0" in page.render(m)


def test_versions_of_one_framework_on_other_backends_are_not_compared(tmp_path: Path) -> None:
    for version, backend, verdict in (("3.0.0", "jax", "holds"), ("3.1.0", "torch", "violated")):
        save(
            tmp_path, report("keras", version, backend, [result("a.b", verdict, expected=verdict == "holds")])
        )
    assert merge.merge(merge.load_dir(tmp_path)).changes == []


def test_per_document_claims_say_stale_since_and_wrong_for_every_version(keras_dir: Path) -> None:
    m = merge.merge(merge.load_dir(keras_dir))
    assert list(m.documents) == ["000_tf.txt", "001_aaaa.txt", "004_tf2.txt"]
    (flip,) = m.documents["000_tf.txt"]
    assert flip.quote == "a quote for tied.flip"
    assert flip.status == (
        "stale since keras on tensorflow 3.9.0 (last held in 2.15.0)",
        "true since keras on tensorflow 3.11.0 (violated in 3.10.0)",
        "holds on 3 of 5 reports it applies to",
    )
    (uniform,) = m.documents["004_tf2.txt"]
    assert uniform.status == (
        "wrong for every version of keras",
        "violated on torch 2.13.0+cpu (unexpected)",
        "holds on 1 of 6 reports it applies to",
    )
    (always,) = m.documents["001_aaaa.txt"]
    assert always.status == ("holds on all 6 reports it applies to",)
    md = index_md.render(m)
    assert "### 004_tf2.txt" in md and "wrong for every version of keras" in md


def test_evidence_shows_counterexample_and_reproduce_command(keras_dir: Path) -> None:
    m = merge.merge(merge.load_dir(keras_dir))
    text = page.render(m)
    assert "Minimal counterexample" in text and "f(x=3)" in text
    assert "conformance run -k default-init.uniform --seed 7" in text
    # the torch cell of the unexpected violation links to its evidence
    torch = m.columns[-1].index
    assert f'href="#ev-{torch}-default-init.uniform"' in text
    md = index_md.render(m)
    assert "conformance run -k tied.flip --seed 7" in md


def test_rows_carry_the_columns_the_filters_need(keras_dir: Path) -> None:
    text = page.render(merge.merge(merge.load_dir(keras_dir)))
    row = re.search(r'<tr data-row data-area="default-init" data-fail="([^"]*)" data-unexp="([^"]*)">', text)
    assert row is not None
    assert row.group(1) == "1 2 3 4 5" and row.group(2) == "5"
    assert len(re.findall(r'<th class="c\d+" data-col="\d+" data-fw="keras"', matrix_of(text))) == 4


def test_statistical_records_are_plotted_inline(tmp_path: Path) -> None:
    counts = {
        "label": "mixture counts",
        "test": "chi-square",
        "n": 300,
        "statistic": 1.0,
        "p_value": 0.4,
        "alpha": 1e-8,
        "expect": "fit",
        "passed": True,
        "plot": {
            "kind": "counts",
            "labels": ["lo", "0", "hi"],
            "observed": [98, 105, 97],
            "expected": [100, 100, 100],
        },
    }
    qq2 = {
        "label": "two layers",
        "test": "kolmogorov-smirnov two-sample",
        "n": 200,
        "statistic": 0.3,
        "p_value": 1e-20,
        "alpha": 1e-8,
        "expect": "differ",
        "passed": True,
        "plot": {"kind": "qq2", "probabilities": [0.25, 0.5, 0.75], "a": [-1, 0, 1], "b": [-2, 0, 2]},
    }
    no_plot = {k: v for k, v in qq_record(8).items() if k != "plot"}
    save(
        tmp_path,
        report(
            "fake",
            "1.0",
            None,
            [
                result("stat.law", statistics=[qq_record(16), qq_record(32, passed=False), counts, qq2]),
                result("stat.old", statistics=[no_plot]),
            ],
        ),
    )
    text = page.render(merge.merge(merge.load_dir(tmp_path)))
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == 1  # one figure for stat.law; stat.old has no plot data
    assert base64.b64decode(uris[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "carry no plot data" in text


STATISTICAL = """
import numpy as np
import pytest
from scipy import stats as sps

@pytest.mark.clause("beta.stat-a")
@pytest.mark.statistical(checks=2)
def test_law(stat):
    x = np.random.default_rng(1).normal(size=2000)
    stat.ks(x, sps.norm.cdf, label="standard normal")
    stat.binomial(50, 100, 0.5, label="fair coin")
"""


def test_a_report_the_plugin_writes_is_plotted(runner: Runner) -> None:
    """End to end: the plugin records plot data, the merge draws it."""
    runner.pytester.makepyfile(test_law=STATISTICAL)
    runner.run("--max-examples", "2")
    (path,) = runner.report_dir.glob("conformance-*.json")
    assert {s["plot"]["kind"] for s in runner.results()["beta.stat-a"]["evidence"]["statistics"]} == {
        "qq",
        "counts",
    }
    text = page.render(merge.merge(merge.load_dir(runner.report_dir)))
    assert text.count('<img class="plot"') == 1
    assert path.name in text


def test_a_plot_with_arrays_of_different_lengths_is_refused(tmp_path: Path) -> None:
    bad = qq_record(16)
    bad["plot"]["law"] = bad["plot"]["law"][:-1]
    path = save(tmp_path, report("fake", "1.0", None, [result("stat.law", statistics=[bad])]))
    with pytest.raises(merge.BadInput, match="arrays of different lengths") as info:
        merge.load_dir(tmp_path)
    assert info.value.problems[0].startswith(f"{path}: is inconsistent")
    assert (
        "results/0/evidence/statistics/0/plot: "
        "arrays of different lengths (probabilities 20, sample 20, law 19)" in str(info.value)
    )


HOSTILE = "<script>alert('x')</script>"


def test_everything_from_a_report_is_escaped(tmp_path: Path) -> None:
    bad = result(
        "hostile.clause",
        "violated",
        expected=False,
        title=HOSTILE,
        counterexample=f"f(x='{HOSTILE}')",
        document=f"<img src=x onerror=alert(1)>{HOSTILE}",
    )
    bad["known_deviation"] = {"versions": HOSTILE, "reason": HOSTILE, "link": "javascript:alert(1)"}
    bad["evidence"]["statistics"] = [dict(qq_record(4), label=HOSTILE)]
    doc = report("fake<b>", f"1.0{HOSTILE}", '"><script>x</script>', [bad])
    save(tmp_path, doc, stem="conformance-hostile")
    text = page.render(merge.merge(merge.load_dir(tmp_path)))
    # the page's own script is the only script element; no injected tag or handler survives
    assert text.count("<script") == 1
    assert "<img" not in text.replace('<img class="plot"', "")
    assert 'href="javascript:' not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text


def test_the_committed_reports_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = sorted(REPORTS.glob("conformance-*.json"))
    assert len(committed) >= 12
    for p in committed:
        shutil.copy(p, tmp_path / p.name)
    start = time.perf_counter()
    assert cli.main(["report", str(tmp_path)]) == cli.EXIT_OK
    elapsed = time.perf_counter() - start
    print(f"merged {len(committed)} committed reports in {elapsed:.2f} s")
    out = capsys.readouterr().out
    assert f"merged {len(committed)} reports" in out
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<th class="c\d+" data-col=', matrix_of(text))) == len(committed)
    for p in committed:
        fw = json.loads(p.read_text(encoding="utf-8"))["framework"]
        assert merge._label(fw["name"], fw["version"], fw["backend"]) in (tmp_path / "index.md").read_text()
    assert "tied.repeated-layer-deduplicated" in text and "stale since keras on tensorflow 3.0.5" in text
    # self-contained: nothing the browser would fetch (links to read are fine)
    assert not re.search(r'<(script|link|img|iframe|object|embed)\b[^>]*\b(src|href)="(?!data:)', text)
    assert "@import" not in text and "url(" not in text


def test_the_committed_index_shows_every_committed_report() -> None:
    """reports/index.html is regenerated with the reports (`tox` ends with the
    `report` env); its bytes depend on matplotlib, so compare what it shows."""
    text = (REPORTS / "index.html").read_text(encoding="utf-8")
    shown = re.findall(
        r'<th class="c\d+" data-col="\d+" data-fw="[^"]*" title="[^"]*\n([^"]*)">', matrix_of(text)
    )
    assert sorted(shown) == sorted(p.name for p in REPORTS.glob("conformance-*.json")), (
        "reports/index.html does not show exactly the committed reports: run `conformance report reports`"
    )
    assert (REPORTS / "index.md").is_file()


# -- bad input: a clear message naming the file, exit 4, nothing written --------


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _set(key: str, value: Any) -> Any:
    def edit(p: Path) -> None:
        doc = json.loads(p.read_text())
        doc[key] = value
        p.write_text(json.dumps(doc))

    return edit


def _cut_in_a_string(p: Path) -> None:
    text = p.read_text()
    p.write_text(text[: text.index('"title": "') + 12])


BREAKAGES = {
    "truncated in a string": (_cut_in_a_string, "not valid JSON (truncated?)"),
    "truncated": (_truncate, "not valid JSON (truncated?)"),
    "corrupted bytes": (lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()), "not UTF-8"),
    "empty": (lambda p: p.write_text(""), "empty file"),
    "not an object": (lambda p: p.write_text("[1, 2]"), "top level is a JSON list"),
    "NaN": (lambda p: p.write_text(p.read_text().replace('"duration": 1.5', '"duration": NaN')), "NaN"),
    "no schema_version": (lambda p: p.write_text('{"hello": 1}'), "no schema_version"),
    "wrong schema": (_set("results", "none"), "does not match the report schema"),
    "missing field": (_set("seed", None), "seed"),
    "inconsistent summary": (
        _set("summary", {**dict.fromkeys(VERDICTS, 0), "unexpected": 0}),
        "summary/holds",
    ),
    "other major version": (_set("schema_version", "2.0"), "schema_version 2.0 is not supported"),
    "not MAJOR.MINOR": (_set("schema_version", "1"), "is not MAJOR.MINOR"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_bad_report_names_the_file_exits_4_and_changes_nothing(
    keras_dir: Path, breakage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (keras_dir / "index.md").write_text("old index\n")
    (keras_dir / "index.html").write_text("<p>old</p>\n")
    victim = sorted(keras_dir.glob("conformance-keras-3.9*.json"))[0]
    edit, message = BREAKAGES[breakage]
    edit(victim)
    before = snapshot(keras_dir)
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{victim}: " in err and message in err, err
    assert "nothing written" in err
    assert snapshot(keras_dir) == before


def test_every_bad_file_is_named_at_once(keras_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = sorted(keras_dir.glob("conformance-keras-*.json"))[:2]
    for p in bad:
        _truncate(p)
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert all(f"{p}: not valid JSON" in err for p in bad)


def test_two_reports_of_one_framework_version_and_backend_are_refused(
    keras_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = keras_dir / "conformance-torch-2.13.0+cpu.json"
    again = keras_dir / "conformance-torch-rerun.json"
    shutil.copy(original, again)
    before = snapshot(keras_dir)
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{original} and {again}: both report torch 2.13.0+cpu" in err
    assert snapshot(keras_dir) == before


def test_an_empty_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.json").write_text("{}")
    assert cli.main(["report", str(tmp_path)]) == cli.EXIT_BAD_INPUT
    assert "no report: no conformance-*.json file" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.json"]


def test_a_missing_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(tmp_path / "nope")]) == cli.EXIT_USAGE
    assert "is not a directory" in capsys.readouterr().err


def test_other_json_files_are_not_read_and_are_listed(
    keras_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (keras_dir / "results.json").write_text("not even JSON")
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_OK
    assert f"not read (not named conformance-*.json): {keras_dir / 'results.json'}" in capsys.readouterr().err
    assert "results.json" in (keras_dir / "index.html").read_text()


def test_a_newer_minor_schema_version_is_read_and_may_add_fields(tmp_path: Path) -> None:
    doc = report("fake", "1.0", None, [result("a.b")])
    doc["schema_version"] = f"{merge.CURRENT[0]}.{merge.CURRENT[1] + 7}"
    doc["new_field"] = {"anything": True}
    doc["results"][0]["new_too"] = 1
    (tmp_path / "conformance-fake-1.0.json").write_text(json.dumps(doc))
    m = merge.merge(merge.load_dir(tmp_path))
    assert m.columns[0].label == "fake 1.0"


def test_the_current_minor_version_stays_closed(tmp_path: Path) -> None:
    doc = report("fake", "1.0", None, [result("a.b")])
    doc["new_field"] = 1
    (tmp_path / "conformance-fake-1.0.json").write_text(json.dumps(doc))
    with pytest.raises(merge.BadInput, match="new_field"):
        merge.load_dir(tmp_path)


def test_without_matplotlib_the_command_says_how_to_install_it(
    keras_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    before = snapshot(keras_dir)
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_NOT_INSTALLED
    assert "pip install 'param-conformance[report]'" in capsys.readouterr().err
    assert snapshot(keras_dir) == before


def test_writing_leaves_no_temporary_file(keras_dir: Path) -> None:
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_OK
    names = {p.name for p in keras_dir.iterdir()}
    assert {"index.md", "index.html"} <= names
    assert not [n for n in names if n.endswith(".tmp")]


def test_a_not_installed_report_is_a_column_too(tmp_path: Path) -> None:
    save(tmp_path, report("ghost", None, None, [result("a.b", "not-applicable")]))
    save(tmp_path, report("ghost", "1.0", None, [result("a.b")]))
    m = merge.merge(merge.load_dir(tmp_path))
    assert [c.label for c in m.columns] == ["ghost 1.0", "ghost (not installed)"]
    assert m.changes == []  # a framework that was not installed says nothing about behaviour


def test_the_reports_are_only_read(keras_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in keras_dir.glob("conformance-*.json")}
    assert cli.main(["report", str(keras_dir)]) == cli.EXIT_OK
    assert {p.name: p.read_bytes() for p in keras_dir.glob("conformance-*.json")} == before


def test_one_release_on_two_backend_versions_is_two_columns(tmp_path):
    """Keras 3.15.1 on TensorFlow 2.20 and on 2.21 are different envs: both
    merge, labelled by the backend's version, and are not duplicates."""
    from conformance.reporting import merge

    src = sorted(
        Path(__file__).resolve().parent.parent.joinpath("reports").glob("conformance-reference-*.json")
    )[0]
    for bv in ("2.20.0", "2.21.0"):
        doc = json.loads(src.read_text(encoding="utf-8"))
        doc["framework"].update(name="keras", version="3.15.1", backend="tensorflow", backend_version=bv)
        (tmp_path / f"conformance-keras-3.15.1-tensorflow{bv}.json").write_text(
            json.dumps(doc), encoding="utf-8"
        )
    loaded = merge.load_dir(tmp_path)
    labels = sorted(merge.Column(i, p, d).label for i, (p, d) in enumerate(loaded.reports))
    assert labels == ["keras 3.15.1 on tensorflow 2.20.0", "keras 3.15.1 on tensorflow 2.21.0"]
