"""Write the report as JSON, atomically, and validate it against its schema."""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_FILE = "report.schema.json"


class ReportInvalid(ValueError):
    """A report that does not match ``report.schema.json``; lists every problem."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("conformance.reporting").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def errors(report: Any, against: dict[str, Any] | None = None) -> list[str]:
    """Every schema violation of ``report``, as 'path: message' lines; against
    ``report.schema.json`` unless another schema is given."""
    validator = jsonschema.Draft202012Validator(
        against or schema(), format_checker=jsonschema.FormatChecker()
    )
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))
    ]


def validate(report: Any) -> None:
    problems = errors(report)
    if problems:
        raise ReportInvalid("report does not match its schema:\n  " + "\n  ".join(problems))


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old or the new file,
    never a half-written one: write a temp file in the same directory (same
    file system, so the rename is atomic), then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a report is an artifact to
        # share, so give it the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def dumps(report: dict[str, Any]) -> str:
    # allow_nan=False: NaN is not JSON; the model stores non-finite numbers as null.
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write(report: dict[str, Any], path: Path, *, check: bool = True) -> None:
    """Validate (unless ``check`` is false) and atomically write ``report`` to ``path``."""
    if check:
        validate(report)
    write_atomic(path, dumps(report))


def read(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
