"""The merged page in a real browser: Debian's Chromium, headless, through
selenium. Loads index.html of the committed reports from a file:// URL and
checks it runs without a console error, shows a column per report, and that
the filters hide what they should. A screenshot is kept as a test artifact
(in $CONFORMANCE_ARTIFACTS if set, else the test's tmp_path).

Debian's /usr/bin/chromium and /usr/bin/chromedriver by default;
$CONFORMANCE_CHROMIUM and $CONFORMANCE_CHROMEDRIVER name others (CI points
them at the runner's Chrome)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import cli
from conformance.reporting.merge import FAILING

REPORTS = Path(__file__).resolve().parent.parent / "reports"
CHROMIUM = Path(os.environ.get("CONFORMANCE_CHROMIUM") or "/usr/bin/chromium")
CHROMEDRIVER = Path(os.environ.get("CONFORMANCE_CHROMEDRIVER") or "/usr/bin/chromedriver")
# Without these Chromium reaches for the network (updates, sync, QUIC probes).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,1000",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium not installed: pip install selenium"
    )
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            pytest.skip(f"{path} not installed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("reports")
    for p in REPORTS.glob("conformance-*.json"):
        shutil.copy(p, d / p.name)
    assert cli.main(["report", str(d)]) == cli.EXIT_OK
    return d


@pytest.fixture
def page(browser: Any, merged: Path) -> Any:
    browser.get((merged / "index.html").as_uri())
    browser.get_log("browser")  # drop what an earlier test left
    browser.refresh()
    return browser


def _visible(driver: Any, css: str) -> list[Any]:
    return [el for el in driver.find_elements("css selector", css) if el.is_displayed()]


def _columns(driver: Any) -> list[str]:
    return [th.get_attribute("data-fw") for th in _visible(driver, "#matrix thead th[data-col]")]


def _select(driver: Any, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def _reports(merged: Path) -> list[dict[str, Any]]:
    """The reports the page was made from: the copies in ``merged`` (a
    framework env of a parallel `tox -p` may rewrite reports/ meanwhile)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(merged.glob("conformance-*.json"))]


def test_the_page_loads_without_console_errors_and_shows_every_report(
    page: Any, merged: Path, tmp_path: Path
) -> None:
    logs = [entry for entry in page.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert logs == [], f"console: {logs}"
    reports = _reports(merged)
    assert len(_columns(page)) == len(reports)
    assert sorted(_columns(page)) == sorted(r["framework"]["name"] for r in reports)
    rows = _visible(page, "#matrix tr[data-row]")
    assert len(rows) == len({r["spec"] for rep in reports for r in rep["results"]})
    shots = Path(os.environ.get("CONFORMANCE_ARTIFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "report-matrix.png"
    assert page.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


def test_selecting_a_framework_hides_the_other_columns(page: Any, merged: Path) -> None:
    _select(page, "f-fw", "keras")
    keras = [r for r in _reports(merged) if r["framework"]["name"] == "keras"]
    assert _columns(page) == ["keras"] * len(keras)
    assert f"{len(keras)} of {len(_reports(merged))} reports" in page.find_element("id", "f-count").text
    # the evidence of other frameworks is hidden too
    shown = {el.get_attribute("data-fwrow") for el in _visible(page, "details.ev")}
    assert shown == {"keras"}


def test_only_failures_keeps_exactly_the_clauses_that_fail_somewhere(page: Any, merged: Path) -> None:
    page.find_element("id", "f-fail").click()
    failing = {r["spec"] for rep in _reports(merged) for r in rep["results"] if r["verdict"] in FAILING}
    shown = {
        row.find_element("css selector", "th.clause code").text
        for row in _visible(page, "#matrix tr[data-row]")
    }
    assert shown == failing
    # with one framework selected, only the clauses failing on its columns remain
    _select(page, "f-fw", "torch")
    torch = {
        r["spec"]
        for rep in _reports(merged)
        if rep["framework"]["name"] == "torch"
        for r in rep["results"]
        if r["verdict"] in FAILING
    }
    shown = {
        row.find_element("css selector", "th.clause code").text
        for row in _visible(page, "#matrix tr[data-row]")
    }
    assert shown == torch
    # an area header stays only above areas with a clause shown
    areas = {row.text.strip() for row in _visible(page, "#matrix tr.area")}
    assert areas == {spec.split(".")[0] for spec in torch}


def test_the_area_filter_keeps_one_area(page: Any) -> None:
    _select(page, "f-area", "tied")
    codes = [
        row.find_element("css selector", "th.clause code").text
        for row in _visible(page, "#matrix tr[data-row]")
    ]
    assert codes and all(code.startswith("tied.") for code in codes)


def test_a_cell_link_opens_its_evidence(page: Any) -> None:
    link = next(a for a in page.find_elements("css selector", "#matrix td.v-known a"))
    target = link.get_attribute("href").split("#", 1)[1]
    link.click()
    article = page.find_element("id", target)
    assert article.is_displayed(), "the evidence behind a linked cell is shown when the link is followed"
