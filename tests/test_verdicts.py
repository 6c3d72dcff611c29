"""Verdict classification, without pytest: synthetic phase outcomes in, a
TestVerdict out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from conformance import verdicts
from conformance.verdicts import Phase, Raised, classify

if TYPE_CHECKING:
    from conformance.reporting import TestVerdict

OK = Phase("passed", 0.5)
FALSIFYING = "Falsifying example: test_x(\n    x=7,\n)"


def verdict(**phases: Phase) -> TestVerdict:
    v = classify(phases, nodeid="t.py::test_x", clauses=("a.b",), reproduce="pytest t.py -k test_x")
    assert v is not None
    return v


def test_never_started_is_no_verdict() -> None:
    assert classify({}, nodeid="t.py::test_x", clauses=("a.b",)) is None


def test_passed_holds() -> None:
    v = verdict(setup=OK, call=OK, teardown=OK)
    assert (v.outcome, v.verdict, v.expected, v.reason, v.reproduce) == ("passed", "holds", True, None, None)
    assert v.duration == 1.5 and v.clauses == ("a.b",)


def test_skipped_at_setup_is_not_applicable() -> None:
    v = verdict(setup=Phase("skipped", skip_reason="fake has no lazy layers"), teardown=OK)
    assert (v.outcome, v.verdict, v.expected, v.reason) == (
        "skipped",
        "not-applicable",
        True,
        "fake has no lazy layers",
    )


def test_assertion_is_a_violation_with_its_counterexample() -> None:
    call = Phase("failed", raised=Raised("AssertionError", "x must be small", True, (FALSIFYING,)))
    v = verdict(setup=OK, call=call, teardown=OK)
    assert (v.outcome, v.verdict, v.expected, v.reason) == ("failed", "violated", False, verdicts.UNLISTED)
    assert v.message == "x must be small" and v.counterexample == FALSIFYING
    assert v.reproduce == "pytest t.py -k test_x"


def test_counterexample_from_the_report_text_when_there_is_no_note() -> None:
    text = (
        "def test_x():\nE       AssertionError\nE       Falsifying example: test_x(\n"
        "E           x=7,\nE       )\n\nmore"
    )
    call = Phase("failed", text=text, raised=Raised("AssertionError", "", True))
    v = verdict(setup=OK, call=call, teardown=OK)
    assert v.counterexample == "Falsifying example: test_x(\n    x=7,\n)"
    assert v.message == "AssertionError"  # an empty assertion message: its type


def test_another_exception_is_an_error() -> None:
    call = Phase("failed", raised=Raised("KeyError", "'no such parameter'"))
    v = verdict(setup=OK, call=call, teardown=OK)
    assert (v.outcome, v.verdict, v.expected) == ("failed", "error", False)
    assert v.message == "KeyError: 'no such parameter'" and v.reason == "error: KeyError: 'no such parameter'"


def test_known_deviation_shown_is_violated_as_expected() -> None:
    call = Phase(
        "skipped",
        wasxfail="known deviation a.b (*): bug <https://x>",
        raised=Raised("AssertionError", "documented upstream bug", True),
    )
    v = verdict(setup=OK, call=call, teardown=OK)
    assert (v.outcome, v.verdict, v.expected) == ("xfailed", "violated", True)
    assert (v.reason or "").startswith("known deviation a.b") and v.message == "documented upstream bug"


def test_known_deviation_that_holds_is_stale() -> None:
    call = Phase("failed", text="[XPASS(strict)] known deviation a.b")
    v = verdict(setup=OK, call=call, teardown=OK)
    assert (v.outcome, v.verdict, v.expected, v.reason) == ("xpassed", "holds", False, verdicts.STALE_XPASS)


def test_setup_and_teardown_errors() -> None:
    v = verdict(setup=Phase("failed", raised=Raised("RuntimeError", "no GPU\nmore")), teardown=OK)
    assert (v.verdict, v.reason) == ("error", "error in setup: RuntimeError: no GPU")
    v = verdict(setup=OK, call=OK, teardown=Phase("failed", text="teardown broke"))
    assert (v.outcome, v.verdict, v.reason) == ("error", "error", "error in teardown: teardown broke")
    # A teardown error does not hide a violation.
    call = Phase("failed", raised=Raised("AssertionError", "bad", True))
    assert verdict(setup=OK, call=call, teardown=Phase("failed", text="x")).verdict == "violated"


def test_statistics_are_recorded_with_finite_numbers() -> None:
    rec = SimpleNamespace(
        label="coin",
        test="binomial",
        n=10,
        statistic=float("inf"),
        p_value=0.5,
        alpha=1e-7,
        expect="fit",
        passed=True,
        plot=None,
    )
    v = classify({"setup": OK, "call": OK}, nodeid="n", clauses=("a",), statistics=[rec])
    assert v is not None and v.statistics == [
        {
            "nodeid": "n",
            "label": "coin",
            "test": "binomial",
            "n": 10,
            "statistic": None,
            "p_value": 0.5,
            "alpha": 1e-7,
            "expect": "fit",
            "passed": True,
        }
    ]


def test_phase_from_a_pytest_report() -> None:
    rep = SimpleNamespace(
        outcome="skipped",
        skipped=True,
        duration=0.25,
        longrepr=("f.py", 3, "Skipped: why"),
        longreprtext="",
        sections=[("Captured stdout call", "out")],
        wasxfail="dev",
    )
    exc = ValueError("boom")
    # a non-string note must be skipped (setattr: __notes__ is 3.11+, the typing target is 3.10)
    setattr(exc, "__notes__", ["Falsifying example: f()", 3])  # noqa: B010
    info = SimpleNamespace(type=ValueError, value=exc)
    p = verdicts.phase(rep, info)
    assert p == Phase(
        "skipped",
        0.25,
        "dev",
        "",
        "why",
        ("out",),
        Raised("ValueError", "boom", False, ("Falsifying example: f()",)),
    )


@pytest.mark.parametrize(
    "stale", [[], [{"file": "p.toml", "line": 2, "clause": "a.b", "problem": "unknown clause"}]]
)
def test_summary_lines(stale: list[dict[str, object]]) -> None:
    report = {
        "summary": {"holds": 1, "violated": 0, "not-applicable": 2, "error": 0, "unexpected": 0},
        "framework": {"name": "fake", "version": "1.0"},
        "results": [{}, {}, {}],
        "seed": 7,
        "stale_deviations": stale,
    }
    lines = verdicts.summary_lines(report)
    assert lines[0] == (
        "fake 1.0: 3 clauses: 1 holds, 0 violated, 2 not applicable, 0 error; 0 unexpected (seed 7)"
    )
    assert len(lines) == 1 + len(stale)
