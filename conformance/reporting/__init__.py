"""Conformance reports: the data model, the JSON file (validated against
``report.schema.json``) and the Markdown summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.reporting import html, index_md, json_report, markdown, merge, plots
from conformance.reporting.model import (
    SCHEMA_VERSION,
    VERDICTS,
    Framework,
    RunInfo,
    TestVerdict,
    build_report,
    report_stem,
)


def write_reports(report: dict[str, Any], directory: Path, *, check: bool = True) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``directory`` (created if
    needed), each atomically; returns both paths."""
    stem = report_stem(report["framework"])
    json_path = Path(directory) / f"{stem}.json"
    md_path = Path(directory) / f"{stem}.md"
    json_report.write(report, json_path, check=check)
    json_report.write_atomic(md_path, markdown.render(report))
    return json_path, md_path


def write_index(directory: Path) -> tuple[Path, Path, merge.Matrix]:
    """Merge every ``conformance-*.json`` of ``directory`` into
    ``index.md`` and ``index.html`` there (each written atomically); returns
    both paths and the matrix. Everything is checked and rendered before the
    first write: a bad report raises :class:`merge.BadInput`, a missing
    matplotlib :class:`plots.PlotsUnavailable`, and nothing on disk changes."""
    plots.require()
    matrix = merge.merge(merge.load_dir(Path(directory)))
    md, page = index_md.render(matrix), html.render(matrix)
    md_path, html_path = Path(directory) / "index.md", Path(directory) / "index.html"
    json_report.write_atomic(md_path, md)
    json_report.write_atomic(html_path, page)
    return md_path, html_path, matrix


__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "Framework",
    "RunInfo",
    "TestVerdict",
    "build_report",
    "json_report",
    "markdown",
    "report_stem",
    "write_index",
    "write_reports",
]
