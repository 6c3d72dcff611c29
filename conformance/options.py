"""The run's options, each declared once.

One table (:data:`OPTIONS`) holds every option of a conformance run: its
flag, its name, type, default, metavar, help and validation. The pytest
plugin builds its option group from it (:func:`add_pytest_options`),
``conformance run`` builds its argparse from it (:func:`add_argparse_options`),
both validate with it (:func:`problems`), and the command lines the suite
writes are built from it: the arguments ``conformance run`` passes to the
pytest it supervises (:func:`pytest_args`) and the reproduce command of a
failing test (``conformance.planning.reproduce_command``).

An option's value set is a :class:`Values`: one attribute per option, by
``name``, whichever front end parsed it (:func:`from_pytest` reads a pytest
config's). This module imports only the standard library: the plugin loads it
in every pytest session.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``conformance.stats.DEFAULT_BUDGET`` (tests/test_options.py checks they agree),
#: written here so that declaring the options imports no numpy.
DEFAULT_BUDGET = 1e-6
#: ``conformance.supervisor.DEFAULT_TIMEOUT`` (checked likewise).
DEFAULT_TIMEOUT = 900.0
DEFAULT_FRAMEWORK = "reference"  # conformance.adapters.DEFAULT, without importing it
DEFAULT_MAX_EXAMPLES = 100

Check = Callable[[Any], "str | None"]  # a problem with a value, or None


@dataclass(frozen=True)
class Option:
    """One option of a conformance run.

    ``scope``: ``"both"`` (the plugin and ``conformance run``), ``"cli"``
    (only ``conformance run``: pytest has its own ``-k`` and ``-n``).
    ``cli_default``/``cli_required``: where ``conformance run`` differs from
    the plugin (it requires ``--framework`` and writes to ``reports`` by
    default). ``kind``: ``"value"``, ``"flag"`` (store_true) or ``"path"``
    (a value resolved to an absolute path when passed on)."""

    flags: tuple[str, ...]
    name: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    kind: str = "value"
    check: Check | None = None
    scope: str = "both"
    cli_default: Any = None
    cli_required: bool = False

    @property
    def flag(self) -> str:
        """The long flag (the last one given)."""
        return self.flags[-1]

    @property
    def dest(self) -> str:
        """The attribute of pytest's ``config.option`` holding the value."""
        return f"conformance_{self.name}"


def _at_least_one(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _open_unit(v: float | None) -> str | None:
    return None if v is None or (math.isfinite(v) and 0.0 < v < 1.0) else "must be in (0, 1)"


def _not_negative(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _a_file(v: str | None) -> str | None:
    return None if not v or Path(v).is_file() else f"no such file: {v}"


OPTIONS: tuple[Option, ...] = (
    Option(
        ("--framework",),
        "framework",
        "framework adapter to test (default: %(default)s); see `conformance frameworks`",
        default=DEFAULT_FRAMEWORK,
        metavar="NAME",
        cli_required=True,
    ),
    Option(
        ("--report-dir",),
        "report_dir",
        "write conformance-<framework>-<version>[-<backend>[<version>]].json and .md into DIR",
        metavar="DIR",
        cli_default="reports",
    ),
    Option(
        ("--max-examples",),
        "max_examples",
        "Hypothesis examples per non-statistical property (default: %(default)s)",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        check=_at_least_one,
    ),
    Option(
        ("--seed",),
        "seed",
        "seed of every generated example (default: drawn at random and reported)",
        type=int,
        metavar="S",
    ),
    Option(
        ("--derandomize",),
        "derandomize",
        "derive examples from each test instead of the seed",
        default=False,
        kind="flag",
    ),
    Option(
        ("--false-alarm-budget",),
        "budget",
        "bound on the chance that a correct framework fails any statistical "
        f"check of the run (default: conformance.stats.DEFAULT_BUDGET, {DEFAULT_BUDGET:g})",
        type=float,
        metavar="A",
        check=_open_unit,
    ),
    Option(
        ("--catalogue",),
        "catalogue",
        "load the spec catalogue from DIR instead of the shipped one",
        metavar="DIR",
        kind="path",
    ),
    Option(
        ("--profile",),
        "profile",
        "framework profile (profile.toml: facts, unsupported clauses, known deviations) "
        "to use instead of the adapter's own",
        metavar="FILE",
        kind="path",
        check=_a_file,
    ),
    Option(
        ("--checkpoints-from",),
        "checkpoints_from",
        "a directory of files saved by another release of the framework (`python -m "
        "conformance.crossversion save`), for serialisation.across-releases; without it that clause "
        "is not applicable",
        metavar="DIR",
        kind="path",
    ),
    Option(
        ("-k",),
        "k",
        "only run tests matching the pytest -k expression",
        metavar="EXPR",
        scope="cli",
    ),
    Option(
        ("--timeout",),
        "timeout",
        "a test running longer than S seconds is stopped and reported as an error, "
        "and the run goes on (default: %(default)g; 0: no limit)",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        check=_not_negative,
        scope="cli",
    ),
    Option(
        ("-n", "--workers"),
        "workers",
        "run the tests in N pytest-xdist worker processes ('auto': one per CPU); "
        "the report is the one a serial run gives",
        metavar="N",
        scope="cli",
    ),
)
BY_NAME: Mapping[str, Option] = {o.name: o for o in OPTIONS}
#: The flags of the plugin's options: any of them on a pytest command line
#: marks the session as a conformance run (for the header).
FLAGS: tuple[str, ...] = tuple(o.flag for o in OPTIONS if o.scope == "both")
#: `conformance run`'s channel to the pytest it supervises (not a user option).
JOURNAL_DEST = "conformance_journal"


class Values(argparse.Namespace):
    """The value of every option, by :attr:`Option.name`."""

    def __init__(self, **given: Any) -> None:
        super().__init__(**{o.name: o.default for o in OPTIONS})
        for k, v in given.items():
            if k not in BY_NAME:
                raise TypeError(f"unknown option {k!r}")
            setattr(self, k, v)

    def effective_budget(self) -> float:
        """The false-alarm budget of the run (the default when not given)."""
        return DEFAULT_BUDGET if self.budget is None else float(self.budget)


def from_pytest(option: Any) -> Values:
    """The values of a pytest ``config.option``."""
    return Values(**{o.name: getattr(option, o.dest) for o in OPTIONS if o.scope == "both"})


def from_argparse(args: argparse.Namespace) -> Values:
    """The values of ``conformance run``'s parsed arguments."""
    return Values(**{o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)})


def problems(values: Any, scope: str = "both") -> list[str]:
    """What is wrong with ``values`` (a :class:`Values` or a namespace with the
    options' names), one ``"--flag VALUE: problem"`` line each."""
    out = []
    for o in OPTIONS:
        if o.check is None or (scope == "both" and o.scope != "both"):
            continue
        value = getattr(values, o.name, o.default)
        problem = o.check(value)
        if problem:
            out.append(f"{o.flag} {problem}")
    return out


def _kwargs(o: Option, *, cli: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {"help": o.help}
    if o.kind == "flag":
        kw.update(action="store_true", default=bool(o.default))
        return kw
    kw["default"] = o.default
    if cli and o.cli_default is not None:
        kw["default"] = o.cli_default
        kw["help"] = o.help + " (default: %(default)s)"
    if o.type is not None:
        kw["type"] = o.type
    if o.metavar is not None:
        kw["metavar"] = o.metavar
    if cli and o.cli_required:
        kw["required"] = True
        kw.pop("default")
        kw["help"] = o.help.replace(" (default: %(default)s)", "")
    return kw


def add_pytest_options(group: Any) -> None:
    """The plugin's options, into a pytest option group."""
    for o in OPTIONS:
        if o.scope == "both":
            group.addoption(*o.flags, dest=o.dest, **_kwargs(o, cli=False))
    group.addoption("--conformance-journal", dest=JOURNAL_DEST, default=None, help=argparse.SUPPRESS)


def add_argparse_options(parser: argparse.ArgumentParser) -> None:
    """``conformance run``'s options, into its argparse parser."""
    for o in OPTIONS:
        parser.add_argument(*o.flags, dest=o.name, **_kwargs(o, cli=True))


def pytest_args(
    values: Values, names: Iterable[str] | None = None, *, only_changed: bool = False
) -> list[str]:
    """The pytest command-line arguments that give the plugin ``values``'
    options named in ``names`` (default: all of the plugin's), in table order.
    An option whose value is None is left out, as is, with ``only_changed``,
    one at its default; a path is made absolute, so the command works from
    any directory."""
    wanted = set(names) if names is not None else {o.name for o in OPTIONS if o.scope == "both"}
    out: list[str] = []
    for o in OPTIONS:
        if o.name not in wanted or o.scope != "both":
            continue
        value = getattr(values, o.name)
        if value is None or value is False or value == "" or (only_changed and value == o.default):
            continue
        if o.kind == "flag":
            out.append(o.flag)
        elif o.kind == "path":
            out += [o.flag, str(Path(value).resolve())]
        elif isinstance(value, float):
            out += [o.flag, repr(value)]
        else:
            out += [o.flag, str(value)]
    return out
