"""Run the pytest session in a child process and never lose a result.

``conformance run`` calls :func:`supervise`: pytest runs in a child process
that journals every test as it starts and finishes (``--conformance-journal``,
see :mod:`conformance.journal`). The supervisor follows the journal. When the
child dies inside a test (a framework that segfaults or aborts) or a test
runs longer than the timeout (the child is then stopped: SIGABRT, so that
faulthandler prints where it hung, then SIGKILL for its process group), that
test is journaled as crashed, with the signal or the timeout and the tail of
the child's stderr, and a new child resumes the run: it plans every test again
(the false-alarm budget's split stays the same) and skips those the journal
holds. The report is built from the journal once, by the caller.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from conformance.journal import Journal, Results, parse

#: Per-test time limit of ``conformance run``, in seconds: far above any test's
#: time on the slowest framework (Keras 2 takes minutes for the whole catalogue).
DEFAULT_TIMEOUT = 900.0
POLL = 0.1  # seconds between looks at the journal while the child runs
GRACE = 2.0  # seconds a hung child gets to print its traceback after SIGABRT
INTERRUPT_GRACE = 15.0  # seconds an interrupted child gets to end its session
TAIL_BYTES = 64 * 1024  # of the child's stderr, kept for crash messages
MESSAGE_CHARS = 4000  # of that tail, quoted in a crashed test's message


@dataclass
class Supervised:
    """What the children did, for the caller to report."""

    results: Results
    #: pytest's exit status for each child whose session ended (in order).
    statuses: list[int] = field(default_factory=list)
    #: The last child's exit status when no session ever planned the run
    #: (a usage error, no test selected, a collection error).
    early_exit: int | None = None
    #: What went wrong outside any test, one line each.
    problems: list[str] = field(default_factory=list)
    #: What the caller should say but that changes no outcome.
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    timestamp: str = ""
    interrupted: bool = False


class _Tail(threading.Thread):
    """Copies the child's stderr to ours and keeps its end."""

    def __init__(self, stream: int) -> None:
        super().__init__(daemon=True)
        self.fd = stream
        self.data = bytearray()

    def run(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.data += chunk
            del self.data[:-TAIL_BYTES]
            sys.stderr.write(chunk.decode("utf-8", "replace"))
            sys.stderr.flush()
        os.close(self.fd)

    def excerpt(self) -> str:
        """faulthandler's report if there is one (its stacks, most recent call
        first, so their heads), else the last lines."""
        text = self.data.decode("utf-8", "replace")
        at = text.rfind("Fatal Python error")
        if at < 0:
            return "\n".join(text.splitlines()[-30:]).strip()[-MESSAGE_CHARS:]
        report = text[at:].split("\nExtension modules:")[0]  # the list of loaded C modules
        return report.strip()[:MESSAGE_CHARS]


def _death(returncode: int) -> str:
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"the interpreter died with signal {-returncode}{name}"
    return f"the interpreter exited with status {returncode}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a CI job's time limit): end the run as ^C would


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started (xdist workers)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen[bytes], first: signal.Signals, grace: float = GRACE) -> None:
    """Send ``first`` to the child, give it ``grace`` seconds, then kill its group."""
    try:
        proc.send_signal(first)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    _kill_group(proc)
    proc.wait()


class _Follower:
    """Reads the lines the child appends to the journal."""

    def __init__(self, path: Path, results: Results) -> None:
        self.path, self.results = path, results
        self.offset = 0
        self.partial = b""

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()  # an unfinished line waits for its end
        for rec in parse(lines):
            self.results.apply(rec)


def supervise(
    pytest_args: list[str], *, journal: Path, timeout: float | None, cwd: Path
) -> Supervised:
    """Run ``pytest pytest_args`` in child processes until every planned test
    has an outcome in ``journal``; ``timeout`` (seconds, None for none) bounds
    each test. ``pytest_args`` must name a fixed ``--seed``: every child must
    draw the same examples."""
    started = time.monotonic()
    out = Supervised(Results(), timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    results = out.results
    follower = _Follower(journal, results)
    writer = Journal()
    writer.open(journal)  # the supervisor's own records: tests it saw crash
    # The child has a session of its own (so its whole group can be killed):
    # signals meant for the run reach only us, and we pass them on.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    cmd = [sys.executable, "-X", "faulthandler", "-m", "pytest", *pytest_args,
           "--conformance-journal", str(journal)]
    try:
        while True:
            ended_before, done_before = len(results.exitstatus), len(results.done)
            sys.stdout.flush()
            sys.stderr.flush()
            proc = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, start_new_session=True)
            assert proc.stderr is not None
            tail = _Tail(os.dup(proc.stderr.fileno()))
            proc.stderr.close()
            tail.start()
            overdue: list[str] = []
            try:
                while proc.poll() is None:
                    try:
                        proc.wait(timeout=POLL)
                    except subprocess.TimeoutExpired:
                        pass
                    follower.poll()
                    if timeout:
                        now = time.monotonic()
                        overdue = [n for n, t in results.in_flight.items() if now - t > timeout]
                        if overdue:
                            _stop(proc, signal.SIGABRT)
                            break
            except KeyboardInterrupt:
                # Pass ^C on and let pytest end its session as it would.
                out.interrupted = True
                _stop(proc, signal.SIGINT, INTERRUPT_GRACE)
            _kill_group(proc)
            tail.join(timeout=GRACE)  # a process that left the group may still hold the pipe
            follower.poll()
            rc = proc.returncode
            if len(results.exitstatus) > ended_before:
                out.statuses.append(results.exitstatus[-1])
                if rc < 0 and not out.interrupted:  # e.g. TensorFlow 2.15 while the interpreter finalises
                    out.notes.append(f"{_death(rc)} after its session ended; every result was kept")
                break
            if out.interrupted:
                out.problems.append("interrupted")
                break
            if results.run is None:
                out.early_exit = rc
                if rc < 0:
                    out.problems.append(f"{_death(rc)} before the run was planned")
                break
            if overdue:
                why, lost = f"timed out after {timeout:g} s", overdue
            else:
                why, lost = _death(rc), list(results.in_flight)
            excerpt = tail.excerpt()
            for nodeid in lost:
                reason = f"{why} while running {nodeid}"
                rec: dict[str, str | None] = {"event": "crashed", "nodeid": nodeid, "reason": reason,
                       "message": f"{reason}\n{excerpt}".strip()}
                results.apply(rec)
                writer.write(rec)
            if not lost:
                out.problems.append(f"{why} outside any test")
                if len(results.done) == done_before:  # no progress: a restart would do the same
                    for nodeid in results.remaining:
                        rec = {"event": "crashed", "nodeid": nodeid,
                               "reason": f"not run: {why} outside any test", "message": excerpt or None}
                        results.apply(rec)
                        writer.write(rec)
            if not results.remaining:
                break
            sys.stderr.write(f"conformance: {why}; resuming with {len(results.remaining)} tests to run\n")
    finally:
        writer.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    out.duration = time.monotonic() - started
    return out
