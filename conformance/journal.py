"""The run journal: each test's verdict, recorded the moment it is known.

A conformance run keeps what it has learned in a :class:`Results`: the run's
plan (framework, seed, budget, known deviations, every selected test with its
clauses), which tests started, which finished with what verdict, which were
lost to a crash or a hang. The report is built from it and nothing else,
whether the tests ran in this process, in pytest-xdist workers or in a chain
of child processes restarted after crashes, so all three give the same report.

A :class:`Journal` appends the same records to a file, one JSON object per
line, each written by one ``write`` and fsync'd, so a run that dies keeps
every result that finished before it::

    {"event": "run", "run": {...}}                      the plan, once per process that collected it
    {"event": "started", "nodeid": "..."}                before a test's setup
    {"event": "finished", "nodeid": "...", "verdict": {...} | null}   after its teardown
                                                         (null: not a conformance test)
    {"event": "crashed", "nodeid": "...", "reason": "...", "message": "..." | null}
                                                         the process running it died or hung
    {"event": "end", "exitstatus": 0}                    the pytest session ended normally

A reader skips a line it cannot parse (the last one, if the writer died in
the middle of it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.reporting import TestVerdict
    from conformance.spec import Catalogue


@dataclass
class Results:
    """Everything a run has recorded so far; :meth:`apply` one record at a time."""

    run: dict[str, Any] | None = None
    verdicts: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    crashed: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: Started and not finished: node id -> time.monotonic() when the start was seen.
    in_flight: dict[str, float] = field(default_factory=dict)
    exitstatus: list[int] = field(default_factory=list)

    def apply(self, record: dict[str, Any]) -> None:
        event, nodeid = record.get("event"), record.get("nodeid")
        if event == "run":
            if self.run is None:  # a restarted process plans the same run again
                self.run = record["run"]
        elif event == "end":
            self.exitstatus.append(int(record["exitstatus"]))
        elif not isinstance(nodeid, str):
            return  # a test's event naming no test: malformed, skipped like a torn line
        elif event == "started":
            self.in_flight[nodeid] = time.monotonic()
        elif event == "finished":
            self.in_flight.pop(nodeid, None)
            self.verdicts[nodeid] = record.get("verdict")
        elif event == "crashed":
            self.in_flight.pop(nodeid, None)
            self.crashed[nodeid] = (record["reason"], record.get("message"))

    @property
    def done(self) -> set[str]:
        """Tests with an outcome: finished, or lost to a crash or hang."""
        return set(self.verdicts) | set(self.crashed)

    @property
    def remaining(self) -> list[str]:
        """Planned conformance tests without an outcome, in collection order."""
        done = self.done
        return [n for n in (self.run or {}).get("items", {}) if n not in done]

    def test_verdicts(self) -> list[TestVerdict]:
        """Every planned test's verdict, in collection order (so a clause's
        tests, and the one whose evidence is shown, do not depend on which
        process ran first)."""
        from conformance.reporting import TestVerdict

        out: list[TestVerdict] = []
        for nodeid, item in (self.run or {}).get("items", {}).items():
            v = self.verdicts.get(nodeid)
            if v is not None:
                out.append(TestVerdict(**{**v, "clauses": tuple(v["clauses"])}))
            elif nodeid in self.crashed:
                reason, message = self.crashed[nodeid]
                out.append(
                    TestVerdict(
                        nodeid,
                        tuple(item["clauses"]),
                        "error",
                        "error",
                        False,
                        reason,
                        message=message or reason,
                        reproduce=item.get("reproduce"),
                    )
                )
        return out

    def report(
        self, catalogue: Catalogue, *, duration: float, timestamp: str | None = None
    ) -> dict[str, Any]:
        """The report document of what is recorded (needs the ``run`` record);
        ``timestamp`` replaces the planning process's start time."""
        from conformance.deviations import Deviation
        from conformance.reporting import Framework, RunInfo, build_report

        if self.run is None:
            raise ValueError("no run record: the run never finished collecting its tests")
        r = self.run
        info = RunInfo(**{**r["info"], "timestamp": timestamp or r["info"]["timestamp"]}, duration=duration)
        deviations = {c: Deviation(**d) for c, d in r["deviations"].items()}
        return build_report(
            catalogue, Framework(**r["framework"]), info, self.test_verdicts(), deviations, r["stale"]
        )


def verdict_record(verdict: TestVerdict) -> dict[str, Any]:
    """A :class:`TestVerdict` as plain data (JSON, and pytest-xdist's wire format)."""
    d = dataclasses.asdict(verdict)
    d["clauses"] = list(d["clauses"])
    return d


def new_path(directory: Path, stem: str) -> Path:
    """A new, empty journal file ``<stem>.<unique>.journal.jsonl`` in
    ``directory``: unique per run, beside the report; removed once the report
    is written, so one left behind is the record of a run that died."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=directory, prefix=f"{stem}.", suffix=".journal.jsonl")
    os.close(fd)
    return Path(path)


class Journal:
    """Appends records to a file, each durable before :meth:`write` returns.

    Records written before :meth:`open` are kept in memory and written then:
    a session only learns that it is a conformance run (and the report's name)
    once the plan is known."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._pending: list[bytes] = []
        self._fd: int | None = None

    def open(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        pending, self._pending = self._pending, []
        if pending:
            self._append(b"".join(pending))

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        if self._fd is None:
            self._pending.append(line)
        else:
            self._append(line)

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        # One write on an O_APPEND descriptor: a reader sees whole lines, and
        # another writer's lines never interleave inside ours.
        os.write(self._fd, data)
        os.fsync(self._fd)

    def close(self, *, remove: bool = False) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove and self.path is not None:
            self.path.unlink(missing_ok=True)


def parse(lines: Iterable[bytes | str]) -> list[dict[str, Any]]:
    """The records among ``lines``; malformed lines (a torn last write) are skipped."""
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "event" in rec:
            out.append(rec)
    return out


def read(path: Path) -> Results:
    results = Results()
    with open(path, "rb") as fh:
        for rec in parse(fh):
            results.apply(rec)
    return results
