"""The pytest plugin that turns property tests into clause verdicts.

Loaded in every pytest session of an environment where ``conformance`` is
installed (entry point ``pytest11``), so it stays inert unless a collected
test carries a ``clause`` marker: it only registers its markers and options.
When conformance tests are collected it

* checks every marker against the spec catalogue (an unknown clause id is a
  collection error naming it);
* resolves the framework adapter, skips tests whose clauses do not apply to
  the installed version (or everything, if the framework is not installed) and
  marks known deviations ``xfail(strict=True, raises=AssertionError)``;
* splits the false-alarm budget over the statistical tests that will run;
* pins every Hypothesis test to the ``conformance`` profile and to the run's
  seed, so a run is a function of ``--seed``;
* turns each test outcome into a verdict on each clause it names and, with
  ``--report-dir``, writes the JSON report and a Markdown summary.

Each test's verdict is computed where the test ran, right after its teardown,
and travels with its teardown report (``user_properties``); the process that
reports the session (the only one, or pytest-xdist's controller) collects them
into a :class:`conformance.journal.Results`, journals each one as it arrives,
and builds the report from that alone. So pytest-xdist workers give the
report a serial run gives, and a run that dies leaves a journal of every
verdict it reached (``conformance run`` restarts it from there).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import secrets
import shlex
import sys
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import runconfig
from conformance.journal import Journal, Results

# Everything else is imported inside the hooks that need it: this module is
# loaded by every pytest session in the environment, and the suite's own
# modules pull in numpy and scipy (close to a second of start-up) that an
# unrelated test suite must not pay for.
if TYPE_CHECKING:
    from conformance.adapters.base import Adapter
    from conformance.deviations import Deviation
    from conformance.reporting import Framework, TestVerdict
    from conformance.reporting.model import Outcome, Verdict
    from conformance.profile import Profile
    from conformance.spec import Catalogue, Clause, SpecError  # noqa: F401 - used in a StashKey
    from conformance.stats import ErrorBudget, StatRecorder

DEFAULT_FRAMEWORK = "reference"  # conformance.adapters.DEFAULT, without importing it
DEFAULT_MAX_EXAMPLES = 100
STALE_XPASS = "listed as a known deviation but holds: remove the entry"
# Our own command-line flags: any of them on the command line (or an argument
# naming the package) marks the session as a conformance run for the header.
FLAGS = (
    "--framework",
    "--report-dir",
    "--max-examples",
    "--seed",
    "--derandomize",
    "--false-alarm-budget",
    "--catalogue",
    "--profile",
)
COUNTEREXAMPLE_RE = re.compile(r"^(Falsifying|Failing) (explicit )?(example|test case)\b")
# What a test's teardown report carries to the reporting process.
VERDICT_KEY = "conformance.verdict"
RUN_KEY = "conformance.run"  # the plan, with each pytest-xdist worker's first report
SEED_INPUT = "conformance_seed"  # the controller's seed, in each worker's workerinput


# ----------------------------------------------------------------------------- state
@dataclass
class _Item:
    """What the plugin knows about one conformance test."""

    clauses: tuple[str, ...]
    name: str  # for -k
    target: str  # what to pass pytest to collect it again
    statistical: bool
    planned: int | None = None  # statistical checks: k * (STAT_EXAMPLES + e)
    skip: str | None = None  # why it does not apply, decided at collection
    reproduce: str | None = None  # the command that reruns it, for a violation or an error
    phases: dict[str, tuple[pytest.TestReport, pytest.ExceptionInfo[BaseException] | None]] = field(
        default_factory=dict
    )


@dataclass
class _Run:
    """One conformance session's plan: framework, seed, budget, deviations, tests."""

    framework: Framework
    adapter: Adapter | None
    seed: int | str
    budget: ErrorBudget
    stat_examples: int | None
    matched: dict[str, Deviation]
    stale: list[dict[str, Any]]
    items: dict[str, _Item]
    timestamp: str
    record: dict[str, Any] = field(default_factory=dict)  # the plan, as a journal "run" record
    shipped: bool = False  # a pytest-xdist worker has sent the plan to the controller


@dataclass(eq=False)  # a plugin object: pluggy hashes it (a dataclass with eq is unhashable)
class _Session:
    """What the reporting process (not a pytest-xdist worker) gathers: every
    verdict, journaled as it arrives, and the report built from them. A
    plugin object of its own: the report hooks do not get the config."""

    config: pytest.Config
    results: Results
    journal: Journal
    resumed: bool  # --conformance-journal: append there, leave the report to the caller
    started: float
    timestamp: str
    report: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # schema violations of the report
    paths: tuple[Path, Path] | None = None

    def record(self, rec: dict[str, Any]) -> None:
        self.results.apply(rec)
        self.journal.write(rec)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.record({"event": "started", "nodeid": nodeid})

    @pytest.hookimpl(tryfirst=True)  # take our properties off before junitxml and others see them
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ours = {k: v for k, v in report.user_properties if k in (VERDICT_KEY, RUN_KEY)}
        if ours:
            report.user_properties = [p for p in report.user_properties if p[0] not in ours]
        if RUN_KEY in ours:
            _plan(self.config, self, ours[RUN_KEY])  # type: ignore[arg-type]
        if report.when == "teardown":
            self.record({"event": "finished", "nodeid": report.nodeid, "verdict": ours.get(VERDICT_KEY)})
        elif report.when not in ("setup", "call") and report.failed:
            # pytest-xdist's report of a worker that died running the test.
            self.record(
                {
                    "event": "crashed",
                    "nodeid": report.nodeid,
                    "reason": f"the worker process died while running {report.nodeid}",
                    "message": report.longreprtext or None,
                }
            )


RUN = pytest.StashKey["_Run"]()
SESSION = pytest.StashKey["_Session"]()
DONE = pytest.StashKey["set[str]"]()  # tests with an outcome in --conformance-journal
SEED = pytest.StashKey["int | str"]()
CATALOGUE = pytest.StashKey["Catalogue | SpecError"]()
RECORDER = pytest.StashKey["StatRecorder"]()
STARTED = pytest.StashKey["tuple[float, str]"]()
FRAMEWORK = pytest.StashKey["tuple[Framework, Adapter | None]"]()


def active_run(config: pytest.Config) -> _Run | None:
    """The conformance state of a session, or None when it collected no
    conformance test (or is pytest-xdist's controller, which collects nothing)."""
    return config.stash.get(RUN, None)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# ----------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "parameter-management conformance suite")
    group.addoption(
        "--framework",
        dest="conformance_framework",
        default=DEFAULT_FRAMEWORK,
        metavar="NAME",
        help="framework adapter to test (default: %(default)s); see `conformance frameworks`",
    )
    group.addoption(
        "--report-dir",
        dest="conformance_report_dir",
        default=None,
        metavar="DIR",
        help="write conformance-<framework>-<version>[-<backend>[<version>]].json and .md into DIR",
    )
    group.addoption(
        "--max-examples",
        dest="conformance_max_examples",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        help="Hypothesis examples per non-statistical property (default: %(default)s)",
    )
    group.addoption(
        "--seed",
        dest="conformance_seed",
        type=int,
        default=None,
        metavar="S",
        help="seed of every generated example (default: drawn at random and reported)",
    )
    group.addoption(
        "--derandomize",
        dest="conformance_derandomize",
        action="store_true",
        default=False,
        help="derive examples from each test instead of the seed",
    )
    group.addoption(
        "--false-alarm-budget",
        dest="conformance_budget",
        type=float,
        default=None,
        metavar="A",
        help="bound on the chance that a correct framework fails any statistical "
        "check of the run (default: conformance.stats.DEFAULT_BUDGET, 1e-06)",
    )
    group.addoption(
        "--catalogue",
        dest="conformance_catalogue",
        default=None,
        metavar="DIR",
        help="load the spec catalogue from DIR instead of the shipped one",
    )
    group.addoption(
        "--profile",
        dest="conformance_profile",
        default=None,
        metavar="FILE",
        help="framework profile (profile.toml: facts, unsupported clauses, known deviations) "
        "to use instead of the adapter's own",
    )
    # `conformance run`'s channel to the pytest process it supervises: append
    # to FILE, skip the tests it already holds, write no report.
    group.addoption("--conformance-journal", dest="conformance_journal", default=None, help=argparse.SUPPRESS)


class _XdistHooks:
    """pytest-xdist's controller hooks. Registered only when xdist is loaded:
    its hook specifications exist only then, and the plugin must work without it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        # Every worker seeds Hypothesis with the controller's seed, so the
        # examples do not depend on which worker runs a test.
        node.workerinput[SEED_INPUT] = self.config.stash[SEED]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Markers are registered unconditionally so --strict-markers accepts them.
    config.addinivalue_line("markers", "clause(*ids): the catalogue clauses this test enforces")
    config.addinivalue_line(
        "markers",
        "statistical(checks, explicit=0): a statistical property; checks per example, explicit @examples",
    )
    config.addinivalue_line("markers", "requires(*capabilities): adapter capabilities the test needs")
    config.stash[STARTED] = (time.monotonic(), datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # Our options have valid defaults, so a bad value was typed by the user.
    if config.option.conformance_max_examples < 1:
        raise pytest.UsageError("--max-examples must be at least 1")
    if config.option.conformance_budget is not None and not 0.0 < config.option.conformance_budget < 1.0:
        raise pytest.UsageError("--false-alarm-budget must be in (0, 1)")
    # Before any property module is imported: their settings decorators read this.
    runconfig.configure(
        max_examples=config.option.conformance_max_examples, derandomize=config.option.conformance_derandomize
    )
    # Draw the seed now (cheap, no side effect) so the header can show it. It is
    # applied to the tests after collection, and only to conformance tests:
    # forcing Hypothesis's global seed here would change unrelated suites too.
    hyp_seed = getattr(config.option, "hypothesis_seed", None)
    if hyp_seed is not None and config.option.conformance_seed is not None:
        raise pytest.UsageError("give either --seed or --hypothesis-seed, not both")
    if _is_worker(config):
        config.stash[SEED] = config.workerinput[SEED_INPUT]  # type: ignore[attr-defined]
    elif config.option.conformance_seed is not None:
        config.stash[SEED] = config.option.conformance_seed
    elif hyp_seed is not None:
        config.stash[SEED] = int(hyp_seed) if str(hyp_seed).lstrip("-").isdigit() else str(hyp_seed)
    else:
        config.stash[SEED] = secrets.randbits(32)
    journal = config.option.conformance_journal
    if journal:
        from conformance.journal import read

        config.stash[DONE] = read(Path(journal)).done if Path(journal).exists() else set()
    if not _is_worker(config):
        start, stamp = config.stash[STARTED]
        state = _Session(config, Results(), Journal(), bool(journal), start, stamp)
        config.stash[SESSION] = state
        config.pluginmanager.register(state, "conformance-session")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(config), "conformance-xdist")


def _budget(config: pytest.Config) -> float:
    from conformance.stats import DEFAULT_BUDGET

    value = config.option.conformance_budget
    return DEFAULT_BUDGET if value is None else float(value)


def _explicit(config: pytest.Config) -> bool:
    args = [str(a) for a in config.invocation_params.args]
    return any(a.split("=", 1)[0] in FLAGS or "conformance" in a for a in args)


def _load_catalogue(config: pytest.Config) -> Catalogue:
    """The catalogue of the run, loaded once; :class:`SpecError` if broken."""
    from conformance.spec import SpecError, catalogue, load_catalogue

    cached = config.stash.get(CATALOGUE, None)
    if cached is None:
        try:
            directory = config.option.conformance_catalogue
            cached = load_catalogue(Path(directory)) if directory else catalogue()
        except (SpecError, FileNotFoundError) as exc:
            cached = exc if isinstance(exc, SpecError) else SpecError(str(exc), None, None, "not found")
        config.stash[CATALOGUE] = cached
    if isinstance(cached, SpecError):
        raise cached
    return cached


def _framework(config: pytest.Config) -> tuple[Framework, Adapter | None]:
    """Identity of the selected framework and an adapter instance (None if not
    installed), made once per session: instantiating an adapter may import the
    framework. :class:`~conformance.adapters.UnknownFramework` for an
    unregistered name."""
    from conformance import adapters as registry
    from conformance.reporting import Framework

    cached = config.stash.get(FRAMEWORK, None)
    if cached is not None:
        return cached
    name = config.option.conformance_framework
    cls = registry.adapter_class(name)
    profile = _profile(config, cls)
    result: tuple[Framework, Adapter | None] = (Framework(name, None, None, False), None)
    if cls.installed():
        try:
            adapter = cls(profile)
            info = adapter.describe()
            backend = info.get("backend")
            backend_version = info.get("backend_version") or _module_version(backend)
            result = Framework(name, info.get("version"), backend, True, backend_version), adapter
        except registry.NotInstalled:  # importable, but its distribution is not
            pass
    config.stash[FRAMEWORK] = result
    return result


def _profile(config: pytest.Config, cls: type[Adapter]) -> Profile:
    """The run's profile: ``--profile FILE`` or the adapter's own; it must be
    the selected framework's (a usage error otherwise)."""
    from conformance.profile import ProfileError, load_profile

    path = config.option.conformance_profile
    if not path:
        return cls.default_profile()
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        raise pytest.UsageError(f"profile: {exc}") from None
    name = config.option.conformance_framework
    if profile.name != name:
        raise pytest.UsageError(f"profile {path} is the profile of {profile.name!r}, not of {name!r}")
    return profile


def _module_version(backend: str | None) -> str | None:
    """The version of a backend that is a module the adapter has imported
    (Keras' ``tensorflow``, ``jax``, ``torch``): part of the run's identity."""
    module = sys.modules.get(backend) if backend else None
    version = getattr(module, "__version__", None)
    return version if isinstance(version, str) else None


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    # Only in a session that asks for conformance: describing the adapter may
    # import the framework, which an unrelated suite must not pay for.
    if not _explicit(config):
        return None
    from conformance import adapters as registry
    from conformance.spec import SpecError

    name = config.option.conformance_framework
    try:
        fw, _ = _framework(config)
        ident = f"{fw.name} {fw.version}" if fw.installed else f"{name} (not installed)"
        ident += f" (backend {fw.backend})" if fw.backend else ""
    except registry.UnknownFramework as exc:
        ident = str(exc)
    except Exception as exc:  # a broken adapter must not hide pytest's own header
        ident = f"{name} (adapter failed to load: {type(exc).__name__}: {exc})"
    try:
        cat = f"catalogue {_load_catalogue(config).version}"
    except SpecError as exc:
        cat = f"catalogue error: {exc}"
    return [
        f"conformance: framework {ident}, {cat}, seed {config.stash[SEED]}, "
        f"false-alarm budget {_budget(config):g}"
    ]


# ----------------------------------------------------------------------------- collection
def _clause_ids(item: pytest.Item) -> tuple[str, ...]:
    """Every clause id the test names, closest marker first, without duplicates."""
    return tuple(dict.fromkeys(a for m in item.iter_markers("clause") for a in m.args))


def _statistical(item: pytest.Item) -> tuple[int, int] | None:
    m = item.get_closest_marker("statistical")
    if m is None:
        return None
    checks = m.kwargs.get("checks", m.args[0] if m.args else None)
    explicit = m.kwargs.get("explicit", m.args[1] if len(m.args) > 1 else 0)
    return checks, explicit


def _marker_problems(item: pytest.Item, config: pytest.Config) -> list[str]:
    from conformance.adapters.base import CAPABILITIES
    from conformance.spec import SpecError

    problems: list[str] = []
    for m in item.iter_markers("clause"):
        if not m.args or not all(isinstance(a, str) for a in m.args):
            problems.append(f"{item.nodeid}: @pytest.mark.clause needs one or more clause ids (strings)")
    ids = [a for a in _clause_ids(item) if isinstance(a, str)]
    try:
        cat = _load_catalogue(config)
        problems += [
            f"{item.nodeid}: unknown clause id {cid!r} (not in the catalogue)"
            for cid in ids
            if cid not in cat
        ]
    except SpecError as exc:
        problems.append(f"spec catalogue: {exc}")
    stat = _statistical(item)
    if stat is not None:
        checks, explicit = stat
        if not (isinstance(checks, int) and checks >= 1 and isinstance(explicit, int) and explicit >= 0):
            problems.append(
                f"{item.nodeid}: @pytest.mark.statistical needs checks=k >= 1 and explicit=e >= 0"
            )
    for m in item.iter_markers("requires"):
        unknown = [c for c in m.args if c not in CAPABILITIES]
        if unknown or not m.args:
            problems.append(
                f"{item.nodeid}: @pytest.mark.requires: unknown capabilities {unknown}; "
                f"known: {sorted(CAPABILITIES)}"
            )
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    rep = yield
    # A malformed marker is a collection error of the module (or class) that
    # holds the test, so it is reported next to the file and fails the run.
    if rep.passed and rep.result:
        funcs = [i for i in rep.result if isinstance(i, pytest.Item) and i.get_closest_marker("clause")]
        problems = list(dict.fromkeys(p for i in funcs for p in _marker_problems(i, collector.config)))
        if problems:
            rep.outcome = "failed"
            rep.longrepr = "\n".join(problems)
            rep.result = []
    return rep


def _stat_examples() -> int:
    from conformance.strategies import STAT_EXAMPLES  # noqa: PLC0415 - only statistical runs need it

    return int(STAT_EXAMPLES)


def _target(item: pytest.Item) -> str:
    module = getattr(getattr(item, "module", None), "__name__", "")
    if module.startswith("conformance.properties"):
        return "--pyargs conformance.properties"
    return shlex.quote(str(item.path))


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: plan only what runs
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    ours = [i for i in items if i.get_closest_marker("clause")]
    if not ours:
        return
    from conformance import adapters as registry
    from conformance import planning
    from conformance.spec import SpecError
    from conformance.stats import ErrorBudget

    opt = config.option
    name = opt.conformance_framework
    try:
        fw, adapter = _framework(config)
    except registry.UnknownFramework as exc:
        raise pytest.UsageError(str(exc)) from None
    try:
        cat = _load_catalogue(config)
    except SpecError as exc:
        raise pytest.UsageError(f"spec catalogue: {exc}") from None

    # The profile's known deviations, and entries that can never match (so it cannot rot).
    profile = adapter.profile if adapter is not None else _profile(config, registry.adapter_class(name))
    facts = adapter.facts if adapter is not None else profile.facts
    plan = planning.plan_deviations(cat, profile, facts, fw.version, fw.backend)
    matched: dict[str, Deviation] = plan.matched if fw.installed else {}
    stale = plan.stale + planning.profile_problems(cat, profile)

    infos: dict[str, _Item] = {}
    for item in ours:
        ids = _clause_ids(item)
        info = _Item(
            ids, getattr(item, "originalname", item.name), _target(item), _statistical(item) is not None
        )
        if not fw.installed:
            info.skip = f"{name} is not installed"
        else:
            for cid in ids:
                why = planning.not_applicable(cat[cid], profile, facts)
                if why is not None:
                    info.skip = f"{cid}: {why}"
                    break
        if info.skip:
            item.add_marker(pytest.mark.skip(reason=info.skip))
        else:
            devs = [matched[c] for c in ids if c in matched]
            if devs:
                reason = "; ".join(
                    f"known deviation {d.clause} ({d.versions}): {d.reason} <{d.link}>" for d in devs
                )
                item.add_marker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason))
        infos[item.nodeid] = info

    statistical = [infos[i.nodeid] for i in ours if infos[i.nodeid].statistical and not infos[i.nodeid].skip]
    stat_examples: int | None = None
    if any(info.statistical for info in infos.values()):
        stat_examples = _stat_examples()
        for i in ours:
            stat = _statistical(i)
            if stat is not None:
                infos[i.nodeid].planned = stat[0] * (stat_examples + stat[1])
    budget = ErrorBudget(_budget(config), tests=len(statistical))

    timestamp = config.stash[STARTED][1]
    run = _Run(fw, adapter, config.stash[SEED], budget, stat_examples, matched, stale, infos, timestamp)
    for info in infos.values():
        info.reproduce = _reproduce(config, info, run)
    run.record = _run_record(config, run)
    config.stash[RUN] = run
    _seed_hypothesis(config, run, ours)
    session_state = config.stash.get(SESSION, None)
    if session_state is not None:
        _plan(config, session_state, run.record)
    # Resumed after a crash: what the journal holds is not run again. It was
    # planned above all the same, so the budget's split is the first run's.
    done = config.stash.get(DONE, set())
    if done:
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid in done])
        items[:] = [i for i in items if i.nodeid not in done]


def _run_record(config: pytest.Config, run: _Run) -> dict[str, Any]:
    """The plan as plain data: all a report needs besides the verdicts."""
    opt = config.option
    return {
        "framework": dataclasses.asdict(run.framework),
        "info": {
            "seed": run.seed,
            "max_examples": opt.conformance_max_examples,
            "stat_examples": run.stat_examples,
            "derandomize": opt.conformance_derandomize,
            "budget_total": run.budget.total,
            "statistical_tests": run.budget.tests,
            "per_test": run.budget.per_test,
            "timestamp": run.timestamp,
        },
        "deviations": {c: dataclasses.asdict(d) for c, d in run.matched.items()},
        "stale": run.stale,
        "items": {
            nodeid: {"clauses": list(info.clauses), "reproduce": info.reproduce}
            for nodeid, info in run.items.items()
        },
    }


def _plan(config: pytest.Config, state: _Session, record: dict[str, Any]) -> None:
    """The reporting process learns the plan: the session is a conformance
    run, so the journal gets a file (records so far were held in memory)."""
    if state.results.run is not None:
        return
    state.record({"event": "run", "run": record})
    if state.resumed:
        state.journal.open(Path(config.option.conformance_journal))
    elif config.option.conformance_report_dir:
        from conformance.journal import new_path
        from conformance.reporting import report_stem

        directory = Path(config.option.conformance_report_dir)
        state.journal.open(new_path(directory, report_stem(record["framework"])))


def _seed_hypothesis(config: pytest.Config, run: _Run, items: Iterable[pytest.Item]) -> None:
    """Give each Hypothesis test the run's seed (Hypothesis's public ``seed``).

    The example counts are not set here: the properties carry
    ``property_settings`` / ``statistical_settings``, which read the run's
    options from :mod:`conformance.runconfig` when their modules are imported
    (``pytest_configure`` set them before collection)."""
    from hypothesis import is_hypothesis_test, seed

    opt = config.option
    if opt.conformance_derandomize or getattr(opt, "hypothesis_seed", None) is not None:
        return
    for item in items:
        fn = getattr(item, "obj", None)
        fn = getattr(fn, "__func__", fn)  # a bound method: the seed lives on the function
        if fn is not None and is_hypothesis_test(fn):
            seed(run.seed)(fn)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    run = active_run(config)
    if run is None:
        return None
    skipped = sum(1 for i in run.items.values() if i.skip)
    b = run.budget
    return [
        f"conformance: {len(run.items)} tests, {skipped} not applicable at collection, "
        f"{len(run.matched)} known deviations; {b.tests} statistical tests share the false-alarm "
        f"budget {b.total:g} ({b.per_test:.3g} each)"
    ]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """The adapter of the framework selected with ``--framework``."""
    from conformance import adapters as registry

    run = active_run(request.config)
    if run is not None and run.adapter is not None:
        found = run.adapter
    else:
        try:
            found = registry.load_adapter(request.config.option.conformance_framework)
        except registry.NotInstalled as exc:
            pytest.skip(str(exc))
    # The architecture strategies draw only what the framework can build (a
    # layer twice in one container needs `repeated_child`); every test that
    # draws one takes this fixture, so this is set before the first draw.
    runconfig.configure_framework(repeated_child="repeated_child" in found.facts.capabilities)
    return found


@pytest.fixture
def clause(request: pytest.FixtureRequest) -> Clause:
    """The catalogue clause of the test's closest ``clause`` marker (its first id)."""
    ids = _clause_ids(request.node)
    if not ids:
        pytest.fail("the clause fixture needs a @pytest.mark.clause marker", pytrace=False)
    return _load_catalogue(request.config)[ids[0]]


@pytest.fixture
def stat(request: pytest.FixtureRequest) -> StatRecorder:
    """The test's share of the run's false-alarm budget, planned from its
    ``statistical`` marker; every check it records goes into the report."""
    run = active_run(request.config)
    info = run.items.get(request.node.nodeid) if run is not None else None
    if info is None or info.planned is None:
        pytest.fail(
            "the stat fixture needs @pytest.mark.clause(...) and "
            "@pytest.mark.statistical(checks=k, explicit=e)",
            pytrace=False,
        )
    recorder = run.budget.recorder(info.planned)  # type: ignore[union-attr]
    request.node.stash[RECORDER] = recorder
    return recorder


# ----------------------------------------------------------------------------- running
def _ours(item: pytest.Item) -> _Item | None:
    run = active_run(item.config)
    return run.items.get(item.nodeid) if run is not None else None


def _is_not_applicable(exc: BaseException) -> bool:
    from conformance.adapters.base import NotApplicable

    return isinstance(exc, NotApplicable)


def _not_applicable(exc: BaseException) -> BaseException:
    return pytest.skip.Exception(str(exc) or "not applicable", _use_item_location=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    info = _ours(item)
    run = active_run(item.config)
    if info is not None and run is not None and run.adapter is not None and info.skip is None:
        for m in item.iter_markers("requires"):
            for cap in m.args:
                try:
                    run.adapter.require(cap)
                except Exception as exc:
                    if not _is_not_applicable(exc):
                        raise
                    raise _not_applicable(exc) from None
    try:
        return (yield)
    except Exception as exc:  # NotApplicable raised by a fixture
        if info is None or not _is_not_applicable(exc):
            raise
        raise _not_applicable(exc) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except Exception as exc:
        # NotApplicable: the framework cannot express what the test asks, a
        # verdict of not-applicable, reported as a skip rather than a failure.
        if _ours(item) is None or not _is_not_applicable(exc):
            raise
        raise _not_applicable(exc) from None


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the report after xfail handling
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    info = _ours(item)
    run = active_run(item.config)
    if info is not None and run is not None:
        info.phases[rep.when] = (rep, call.excinfo)
        if rep.when == "teardown":
            # The verdict is decided here, where the test ran, and rides with
            # the report to whichever process reports the session.
            from conformance.journal import verdict_record

            verdict = _verdict(item, info, run)
            info.phases.clear()  # the tracebacks are no longer needed
            props = [*rep.user_properties]
            if verdict is not None:
                props.append((VERDICT_KEY, verdict_record(verdict)))
            if _is_worker(item.config) and not run.shipped:
                props.append((RUN_KEY, run.record))
                run.shipped = True
            rep.user_properties = props
    return rep


# ----------------------------------------------------------------------------- verdicts
def _skip_reason(rep: pytest.TestReport) -> str:
    if isinstance(rep.longrepr, tuple):
        reason = str(rep.longrepr[2])
    else:
        reason = str(rep.longrepr or "")
    return reason.removeprefix("Skipped: ")


def _describe(excinfo: pytest.ExceptionInfo[BaseException] | None, rep: pytest.TestReport) -> str:
    if excinfo is None:
        return rep.longreprtext.strip() or rep.outcome
    return f"{excinfo.type.__name__}: {excinfo.value}"


def _assertion_message(excinfo: pytest.ExceptionInfo[BaseException] | None, rep: pytest.TestReport) -> str:
    if excinfo is None:
        return rep.longreprtext.strip()
    return str(excinfo.value).strip() or excinfo.type.__name__


def _counterexample(
    excinfo: pytest.ExceptionInfo[BaseException] | None, rep: pytest.TestReport
) -> str | None:
    """The minimal falsifying example Hypothesis reported: an exception note
    (Hypothesis >= 6.x on every supported Python), else its report text."""
    notes = getattr(excinfo.value, "__notes__", None) if excinfo is not None else None
    found = [n.strip() for n in notes or () if isinstance(n, str) and COUNTEREXAMPLE_RE.match(n.strip())]
    if found:
        return "\n".join(found)
    texts = [rep.longreprtext, *(content for _, content in rep.sections)]
    for text in texts:
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


def _reproduce(config: pytest.Config, info: _Item, run: _Run) -> str:
    opt = config.option
    extra: list[str] = []
    if opt.conformance_max_examples != DEFAULT_MAX_EXAMPLES:
        extra += ["--max-examples", str(opt.conformance_max_examples)]
    if opt.conformance_derandomize:
        extra.append("--derandomize")
    if opt.conformance_budget is not None:
        extra += ["--false-alarm-budget", repr(opt.conformance_budget)]
    extra_paths: list[str] = []
    for flag, value in (
        ("--catalogue", opt.conformance_catalogue),
        ("--profile", opt.conformance_profile),
    ):
        if value:
            extra_paths += [flag, str(Path(value).resolve())]
    seed = ["--seed", str(run.seed)] if isinstance(run.seed, int) else [f"--hypothesis-seed={run.seed}"]
    common = ["--framework", run.framework.name, *seed, *extra, *extra_paths, "-k", info.name]
    cmd = f"pytest {info.target} " + shlex.join(common)
    if info.target.startswith("--pyargs conformance.properties") and isinstance(run.seed, int):
        cmd += "\nconformance run " + shlex.join(common)
    return cmd


def _finite(x: Any) -> Any:
    return x if not isinstance(x, float) or math.isfinite(x) else None


def _stat_record(nodeid: str, r: Any) -> dict[str, Any]:
    # Named fields, not r.as_dict(): a field added to StatRecord later must not
    # make the report fail its schema.
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


def _verdict(item: pytest.Item, info: _Item, run: _Run) -> TestVerdict | None:
    from conformance.reporting import TestVerdict

    phases = info.phases
    if "setup" not in phases:
        return None  # never ran (session interrupted)
    duration = sum(rep.duration for rep, _ in phases.values())
    outcome: Outcome = "passed"
    verdict: Verdict = "holds"
    expected: bool = True
    reason: str | None = None
    message = counterexample = reproduce = None
    setup, setup_exc = phases["setup"]
    call = phases.get("call")
    if setup.skipped:
        if hasattr(setup, "wasxfail"):
            outcome, verdict, reason = "xfailed", "violated", str(setup.wasxfail)
        else:
            outcome, verdict, reason = "skipped", "not-applicable", _skip_reason(setup)
    elif setup.failed:
        outcome, verdict, expected = "error", "error", False
        message = _describe(setup_exc, setup)
        reason = f"error in setup: {message.splitlines()[0] if message else ''}"
    elif call is not None:
        rep, exc = call
        if rep.skipped and hasattr(rep, "wasxfail"):
            outcome, verdict, reason = "xfailed", "violated", str(rep.wasxfail)
            message, counterexample = _assertion_message(exc, rep), _counterexample(exc, rep)
        elif rep.skipped:
            outcome, verdict, reason = "skipped", "not-applicable", _skip_reason(rep)
        elif rep.passed:
            outcome = "xpassed" if hasattr(rep, "wasxfail") else "passed"
        elif exc is None and rep.longreprtext.startswith("[XPASS(strict)]"):
            outcome, verdict, expected, reason = "xpassed", "holds", False, STALE_XPASS
        elif exc is not None and isinstance(exc.value, AssertionError):
            outcome, verdict, expected = "failed", "violated", False
            message, counterexample = _assertion_message(exc, rep), _counterexample(exc, rep)
            reason = "violated and not listed as a known deviation"
        else:
            outcome, verdict, expected = "failed", "error", False
            message, counterexample = _describe(exc, rep), _counterexample(exc, rep)
            reason = f"error: {message.splitlines()[0]}"
    teardown = phases.get("teardown")
    if teardown is not None and teardown[0].failed and verdict in ("holds", "not-applicable"):
        outcome, verdict, expected = "error", "error", False
        message = _describe(teardown[1], teardown[0])
        reason = f"error in teardown: {message.splitlines()[0] if message else ''}"
    if verdict in ("violated", "error"):
        reproduce = info.reproduce
    recorder = item.stash.get(RECORDER, None)
    statistics = [_stat_record(item.nodeid, r) for r in (recorder.records if recorder is not None else [])]
    return TestVerdict(
        item.nodeid,
        info.clauses,
        outcome,
        verdict,
        expected,
        reason,
        duration,
        message,
        counterexample,
        reproduce,
        statistics,
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(SESSION, None)
    if state is None or state.results.run is None:
        return  # a pytest-xdist worker, or not a conformance session
    if state.resumed:  # `conformance run` builds the report from the journal
        state.record({"event": "end", "exitstatus": int(exitstatus)})
        state.journal.close()
        return
    from conformance.reporting import json_report, write_reports

    opt = session.config.option
    state.report = state.results.report(
        _load_catalogue(session.config),
        duration=time.monotonic() - state.started,
        timestamp=state.timestamp,
    )
    state.problems = json_report.errors(state.report)
    if opt.conformance_report_dir:
        # An invalid report is a bug of this package: still write it (it is the
        # only record of the run) and say so loudly in the terminal summary.
        state.paths = write_reports(state.report, Path(opt.conformance_report_dir), check=False)
    state.journal.close(remove=True)  # everything it holds is in the report now


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The run's outcome in a few lines, for the terminal."""
    s, fw = report["summary"], report["framework"]
    lines = [
        f"{fw['name']} {fw['version']}: {len(report['results'])} clauses: "
        f"{s['holds']} holds, {s['violated']} violated, {s['not-applicable']} not applicable, "
        f"{s['error']} error; {s['unexpected']} unexpected (seed {report['seed']})"
    ]
    for st in report["stale_deviations"]:
        lines.append(f"stale known deviation {st['file']}:{st['line']}: {st['clause']}: {st['problem']}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(SESSION, None)
    if state is None or state.report is None:
        return
    tr = terminalreporter
    tr.section("conformance")
    for line in summary_lines(state.report):
        tr.write_line(line)
    for problem in state.problems:
        tr.write_line(f"INVALID REPORT (a bug in conformance): {problem}", red=True)
    if state.paths is not None:
        tr.write_line(f"report: {state.paths[0]}")
        tr.write_line(f"summary: {state.paths[1]}")
