"""A test's verdict, as a pure function of its phases' outcomes.

The plugin hands :func:`classify` what pytest reported of each phase of a
test (setup, call, teardown), reduced to plain data (:class:`Phase`, made by
:func:`phase` from a report and its exception); unit tests build phases by
hand. ``NotApplicable`` raised by a test or a fixture has already become a
skip by then (the plugin's run hooks), so it reads as ``skipped``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.reporting.model import Outcome, TestVerdict, Verdict

STALE_XPASS = "listed as a known deviation but holds: remove the entry"
UNLISTED = "violated and not listed as a known deviation"
COUNTEREXAMPLE_RE = re.compile(r"^(Falsifying|Failing) (explicit )?(example|test case)\b")


@dataclass(frozen=True)
class Raised:
    """The exception a phase raised."""

    type: str  # its class's name
    message: str  # str() of it
    assertion: bool = False  # an AssertionError (a violation, not an error)
    notes: tuple[str, ...] = ()  # its __notes__ (Hypothesis puts the falsifying example there)


@dataclass(frozen=True)
class Phase:
    """What pytest reported of one phase of a test."""

    outcome: str  # "passed", "failed" or "skipped"
    duration: float = 0.0
    wasxfail: str | None = None  # set when pytest's xfail handling saw the phase
    text: str = ""  # the report's long representation, as text
    skip_reason: str = ""  # a skip's reason
    sections: tuple[str, ...] = ()  # captured output and log sections
    raised: Raised | None = None


def phase(rep: Any, excinfo: Any = None) -> Phase:
    """A pytest ``TestReport`` and the phase's ``ExceptionInfo`` (or None) as a :class:`Phase`."""
    if isinstance(rep.longrepr, tuple):
        reason = str(rep.longrepr[2])
    else:
        reason = str(rep.longrepr or "")
    raised = None
    if excinfo is not None:
        notes = getattr(excinfo.value, "__notes__", None) or ()
        raised = Raised(
            excinfo.type.__name__,
            str(excinfo.value),
            isinstance(excinfo.value, AssertionError),
            tuple(n for n in notes if isinstance(n, str)),
        )
    return Phase(
        rep.outcome,
        float(rep.duration),
        str(rep.wasxfail) if hasattr(rep, "wasxfail") else None,
        rep.longreprtext,
        reason.removeprefix("Skipped: ") if rep.skipped else "",
        tuple(content for _, content in rep.sections),
        raised,
    )


def describe(p: Phase) -> str:
    """An error's one-paragraph description."""
    if p.raised is None:
        return p.text.strip() or p.outcome
    return f"{p.raised.type}: {p.raised.message}"


def assertion_message(p: Phase) -> str:
    if p.raised is None:
        return p.text.strip()
    return p.raised.message.strip() or p.raised.type


def counterexample(p: Phase) -> str | None:
    """The minimal falsifying example Hypothesis reported: an exception note
    (Hypothesis >= 6.x on every supported Python), else its report text."""
    notes = p.raised.notes if p.raised is not None else ()
    found = [n.strip() for n in notes if COUNTEREXAMPLE_RE.match(n.strip())]
    if found:
        program = _state_machine_program(notes)
        return "\n".join(found[:1] + program) if program else "\n".join(found)
    for text in (p.text, *p.sections):
        lines = [re.sub(r"^E {0,7}", "", ln) for ln in text.splitlines()]
        for i, ln in enumerate(lines):
            if COUNTEREXAMPLE_RE.match(ln.strip()):
                block = [ln.strip()]
                for nxt in lines[i + 1 :]:
                    if not nxt.strip() or (block[-1] == ")" and not nxt.startswith(" ")):
                        break
                    block.append(nxt.rstrip())
                return "\n".join(block)
    return None


def _state_machine_program(notes: tuple[str, ...]) -> list[str]:
    """The rule sequence of a failing state machine: Hypothesis adds its
    header (``Failing test case: <state machine>``) and then each line of the
    program as a note of its own (``state = M()``, ``models_0 =
    state.start(...)``, ..., ``state.teardown()``). Empty for any other test."""
    for i, note in enumerate(notes):
        if COUNTEREXAMPLE_RE.match(note.strip()) and "<state machine>" in note:
            program = []
            for line in notes[i + 1:]:
                program.append(line.rstrip())
                if line.strip() == "state.teardown()":
                    break
            return program
    return []


def _finite(x: Any) -> Any:
    return x if not isinstance(x, float) or math.isfinite(x) else None


def stat_record(nodeid: str, r: Any) -> dict[str, Any]:
    """A :class:`conformance.stats.StatRecord` as the report holds it. Named
    fields, not ``r.as_dict()``: a field added to StatRecord later must not
    make the report fail its schema."""
    return {
        "nodeid": nodeid,
        "label": r.label,
        "test": r.test,
        "n": int(r.n),
        "statistic": _finite(float(r.statistic)),
        "p_value": _finite(float(r.p_value)),
        "alpha": float(r.alpha),
        "expect": str(getattr(r, "expect", "fit")),
        "passed": bool(r.passed),
        **({"plot": r.plot} if getattr(r, "plot", None) is not None else {}),
    }


def classify(
    phases: Mapping[str, Phase],
    *,
    nodeid: str,
    clauses: tuple[str, ...],
    reproduce: str | None = None,
    statistics: Iterable[Any] = (),
) -> TestVerdict | None:
    """The verdict of a test from its phases (``"setup"``, ``"call"``,
    ``"teardown"``; None if it never started). ``reproduce`` is kept for a
    violation or an error; ``statistics`` are its checks' records."""
    if "setup" not in phases:
        return None  # never ran (session interrupted)
    duration = sum(p.duration for p in phases.values())
    outcome: Outcome = "passed"
    verdict: Verdict = "holds"
    expected = True
    reason: str | None = None
    message = example = None
    setup = phases["setup"]
    call = phases.get("call")
    if setup.outcome == "skipped":
        if setup.wasxfail is not None:
            outcome, verdict, reason = "xfailed", "violated", setup.wasxfail
        else:
            outcome, verdict, reason = "skipped", "not-applicable", setup.skip_reason
    elif setup.outcome == "failed":
        outcome, verdict, expected = "error", "error", False
        message = describe(setup)
        reason = f"error in setup: {message.splitlines()[0] if message else ''}"
    elif call is not None:
        if call.outcome == "skipped" and call.wasxfail is not None:
            outcome, verdict, reason = "xfailed", "violated", call.wasxfail
            message, example = assertion_message(call), counterexample(call)
        elif call.outcome == "skipped":
            outcome, verdict, reason = "skipped", "not-applicable", call.skip_reason
        elif call.outcome == "passed":
            outcome = "xpassed" if call.wasxfail is not None else "passed"
        elif call.raised is None and call.text.startswith("[XPASS(strict)]"):
            outcome, verdict, expected, reason = "xpassed", "holds", False, STALE_XPASS
        elif call.raised is not None and call.raised.assertion:
            outcome, verdict, expected = "failed", "violated", False
            message, example = assertion_message(call), counterexample(call)
            reason = UNLISTED
        else:
            outcome, verdict, expected = "failed", "error", False
            message, example = describe(call), counterexample(call)
            reason = f"error: {message.splitlines()[0]}"
    teardown = phases.get("teardown")
    if teardown is not None and teardown.outcome == "failed" and verdict in ("holds", "not-applicable"):
        outcome, verdict, expected = "error", "error", False
        message = describe(teardown)
        reason = f"error in teardown: {message.splitlines()[0] if message else ''}"
    return TestVerdict(
        nodeid,
        clauses,
        outcome,
        verdict,
        expected,
        reason,
        duration,
        message,
        example,
        reproduce if verdict in ("violated", "error") else None,
        [stat_record(nodeid, r) for r in statistics],
    )


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A report's outcome in a few lines, for the terminal."""
    s, fw = report["summary"], report["framework"]
    lines = [(
        f"{fw['name']} {fw['version']}: {len(report['results'])} clauses: "
        f"{s['holds']} holds, {s['violated']} violated, {s['not-applicable']} not applicable, "
        f"{s['error']} error; {s['unexpected']} unexpected (seed {report['seed']})"
    )]
    for st in report["stale_deviations"]:
        lines.append(f"stale known deviation {st['file']}:{st['line']}: {st['clause']}: {st['problem']}")
    return lines
