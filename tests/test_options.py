"""The table of options, without pytest or a subprocess: both front ends
build from it, it validates, and it makes the command lines the suite writes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from conformance import options, stats, supervisor
from conformance.options import OPTIONS, Values


def cli_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    options.add_argparse_options(p)
    return p


class Group:
    """Records what the plugin asks pytest's option group for."""

    def __init__(self) -> None:
        self.added: list[tuple[tuple[str, ...], dict[str, object]]] = []

    def addoption(self, *flags: str, **kw: object) -> None:
        self.added.append((flags, kw))


def test_defaults_agree_with_the_modules_that_use_them() -> None:
    assert options.DEFAULT_BUDGET == stats.DEFAULT_BUDGET
    assert options.DEFAULT_TIMEOUT == supervisor.DEFAULT_TIMEOUT
    assert Values().effective_budget() == stats.DEFAULT_BUDGET
    assert Values(budget=0.01).effective_budget() == 0.01


def test_every_flag_keeps_its_name() -> None:
    assert options.FLAGS == (
        "--framework",
        "--report-dir",
        "--max-examples",
        "--seed",
        "--derandomize",
        "--false-alarm-budget",
        "--catalogue",
        "--profile",
        "--checkpoints-from",
    )
    cli_only = [o.flags for o in OPTIONS if o.scope == "cli"]
    assert cli_only == [("-k",), ("--timeout",), ("-n", "--workers")]


def test_the_plugin_gets_each_shared_option_once() -> None:
    group = Group()
    options.add_pytest_options(group)
    flags = [f for f, _ in group.added]
    assert flags == [o.flags for o in OPTIONS if o.scope == "both"] + [("--conformance-journal",)]
    kw = {f[-1]: k for f, k in group.added}
    assert kw["--max-examples"] == {
        "dest": "conformance_max_examples",
        "type": int,
        "default": 100,
        "metavar": "N",
        "help": "Hypothesis examples per non-statistical property (default: %(default)s)",
    }
    assert kw["--derandomize"]["action"] == "store_true" and kw["--derandomize"]["default"] is False
    assert kw["--framework"]["default"] == "reference"
    assert kw["--conformance-journal"]["help"] == argparse.SUPPRESS


def test_the_cli_parses_from_the_same_table() -> None:
    args = cli_parser().parse_args(["--framework", "torch", "--max-examples", "7", "-n", "2", "-k", "tied"])
    values = options.from_argparse(args)
    assert (values.framework, values.max_examples, values.workers, values.k) == ("torch", 7, "2", "tied")
    assert values.report_dir == "reports"  # the CLI's own default
    assert values.budget is None and values.timeout == supervisor.DEFAULT_TIMEOUT
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        cli_parser().parse_args([])  # --framework is required by the CLI


def test_from_pytest_reads_the_dests() -> None:
    ns = argparse.Namespace(**{o.dest: o.default for o in OPTIONS if o.scope == "both"})
    ns.conformance_seed = 3
    assert options.from_pytest(ns).seed == 3


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"max_examples": 0}, "--max-examples must be at least 1"),
        ({"budget": 1.5}, "--false-alarm-budget must be in (0, 1)"),
        ({"budget": 0.0}, "--false-alarm-budget must be in (0, 1)"),
        ({"budget": float("nan")}, "--false-alarm-budget must be in (0, 1)"),
        ({"profile": "/no/such/profile.toml"}, "--profile no such file: /no/such/profile.toml"),
    ],
)
def test_validation(given: dict[str, object], problem: str) -> None:
    assert options.problems(Values(**given)) == [problem]


def test_cli_only_options_are_validated_only_for_the_cli() -> None:
    values = Values(timeout=-1.0)
    assert options.problems(values) == []
    assert options.problems(values, scope="cli") == ["--timeout must be >= 0"]
    assert options.problems(Values()) == [] and options.problems(Values(), scope="cli") == []


def test_an_existing_profile_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "profile.toml"
    f.write_text("", encoding="utf-8")
    assert options.problems(Values(profile=str(f))) == []


def test_pytest_args_in_table_order_with_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    values = Values(framework="torch", seed=7, budget=1e-6, derandomize=True, catalogue="specs", k="x")
    assert options.pytest_args(values) == [
        "--framework",
        "torch",
        "--max-examples",
        "100",
        "--seed",
        "7",
        "--derandomize",
        "--false-alarm-budget",
        "1e-06",
        "--catalogue",
        str(tmp_path / "specs"),
    ]  # -k is the CLI's, never passed as a plugin option
    assert options.pytest_args(values, ["max_examples", "budget"], only_changed=True) == [
        "--false-alarm-budget",
        "1e-06",
    ]


def test_unknown_option_names_are_refused() -> None:
    with pytest.raises(TypeError):
        Values(max_exmaples=3)
