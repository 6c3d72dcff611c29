"""Conformance reports: the data model, the JSON file (validated against
``report.schema.json``) and the Markdown summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.reporting import json_report, markdown
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
    "write_reports",
]
