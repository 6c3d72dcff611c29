"""The pytest plugin that turns property tests into clause verdicts: hooks only.

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
* pins every Hypothesis test to the run's seed, so a run is a function of
  ``--seed`` (the example counts come from the ``conformance`` Hypothesis
  profile, registered at session start from the options);
* turns each test outcome into a verdict on each clause it names and, with
  ``--report-dir``, writes the JSON report and a Markdown summary.

The decisions are made by pure modules that the hooks feed: the options and
their validation by :mod:`conformance.options`, the plan (applicability,
deviations, budget, each test's skip reason, checks and reproduce command) by
:mod:`conformance.planning`, the Hypothesis profile by
:mod:`conformance.hypothesis_profile`, each test's verdict by
:mod:`conformance.verdicts`.

Each test's verdict is computed where the test ran, right after its teardown,
and travels with its teardown report (``user_properties``); the process that
reports the session (the only one, or pytest-xdist's controller) collects them
into a :class:`conformance.journal.Results`, journals each one as it arrives,
and builds the report from that alone. So pytest-xdist workers give the
report a serial run gives, and a run that dies leaves a journal of every
verdict it reached (``conformance run`` restarts it from there).
"""

from __future__ import annotations

import secrets
import shlex
import sys
import time
from collections.abc import Generator, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import options
from conformance.journal import Journal, Results

# Everything else is imported inside the hooks that need it: this module is
# loaded by every pytest session in the environment, and the suite's own
# modules pull in numpy, scipy and Hypothesis (close to a second of start-up)
# that an unrelated test suite must not pay for.
if TYPE_CHECKING:
    from conformance.adapters.base import Adapter
    from conformance.planning import ItemPlan, RunPlan, TestMarks
    from conformance.profile import Profile
    from conformance.reporting import Framework
    from conformance.spec import Catalogue, Clause, SpecError  # noqa: F401 - used in a StashKey
    from conformance.stats import StatRecorder
    from conformance.verdicts import Phase

# What a test's teardown report carries to the reporting process.
VERDICT_KEY = "conformance.verdict"
RUN_KEY = "conformance.run"  # the plan, with each pytest-xdist worker's first report
SEED_INPUT = "conformance_seed"  # the controller's seed, in each worker's workerinput


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The run's outcome in a few lines (:func:`conformance.verdicts.summary_lines`)."""
    from conformance.verdicts import summary_lines as lines

    return lines(report)


# ----------------------------------------------------------------------------- state
@dataclass
class _Run:
    """One conformance session: its plan, the adapter, the plan as a record."""

    plan: RunPlan
    adapter: Adapter | None
    record: dict[str, Any]  # the plan, as a journal "run" record
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
PHASES: pytest.StashKey[dict[str, Phase]] = pytest.StashKey()
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
    options.add_pytest_options(parser.getgroup("conformance", "parameter-management conformance suite"))


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
    for problem in options.problems(options.from_pytest(config.option)):
        raise pytest.UsageError(problem)
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
    journal = getattr(config.option, options.JOURNAL_DEST)
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


def pytest_sessionstart(session: pytest.Session) -> None:
    """Register the ``conformance`` Hypothesis profile from the run's options,
    before collection imports the properties (their settings decorators take
    it as parent), after Hypothesis's own plugin loaded any profile asked for
    (the parent of ours). Registered, never loaded: other tests of the session
    keep theirs. Where Hypothesis is not imported yet and the options are the
    defaults, the first property that needs it registers the same profile
    (:func:`conformance.hypothesis_profile.get`): an unrelated session does not
    import Hypothesis for us."""
    values = options.from_pytest(session.config.option)
    changed = values.max_examples != options.DEFAULT_MAX_EXAMPLES or values.derandomize
    if changed or "hypothesis" in sys.modules:
        from conformance import hypothesis_profile

        hypothesis_profile.register(max_examples=values.max_examples, derandomize=values.derandomize)


def _explicit(config: pytest.Config) -> bool:
    args = [str(a) for a in config.invocation_params.args]
    return any(a.split("=", 1)[0] in options.FLAGS or "conformance" in a for a in args)


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
    budget = options.from_pytest(config.option).effective_budget()
    seed = config.stash[SEED]
    return [f"conformance: framework {ident}, {cat}, seed {seed}, false-alarm budget {budget:g}"]


# ----------------------------------------------------------------------------- collection
def _target(item: pytest.Item) -> str:
    module = getattr(getattr(item, "module", None), "__name__", "")
    if module.startswith("conformance.properties"):
        return "--pyargs conformance.properties"
    return shlex.quote(str(item.path))


def _marks(item: pytest.Item) -> TestMarks:
    """The test's markers, as planning takes them."""
    from conformance.planning import TestMarks

    stat = item.get_closest_marker("statistical")
    statistical = None
    if stat is not None:
        statistical = (
            stat.kwargs.get("checks", stat.args[0] if stat.args else None),
            stat.kwargs.get("explicit", stat.args[1] if len(stat.args) > 1 else 0),
        )
    return TestMarks(
        item.nodeid,
        getattr(item, "originalname", item.name),
        _target(item),
        tuple(m.args for m in item.iter_markers("clause")),
        statistical,
        tuple(m.args for m in item.iter_markers("requires")),
    )


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    rep = yield
    # A malformed marker is a collection error of the module (or class) that
    # holds the test, so it is reported next to the file and fails the run.
    if rep.passed and rep.result:
        funcs = [i for i in rep.result if isinstance(i, pytest.Item) and i.get_closest_marker("clause")]
        if funcs:
            from conformance.planning import marker_problems
            from conformance.spec import SpecError

            try:
                cat: Catalogue | Exception = _load_catalogue(collector.config)
            except SpecError as exc:
                cat = exc
            problems = list(dict.fromkeys(p for i in funcs for p in marker_problems(_marks(i), cat)))
            if problems:
                rep.outcome = "failed"
                rep.longrepr = "\n".join(problems)
                rep.result = []
    return rep


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

    try:
        fw, adapter = _framework(config)
    except registry.UnknownFramework as exc:
        raise pytest.UsageError(str(exc)) from None
    try:
        cat = _load_catalogue(config)
    except SpecError as exc:
        raise pytest.UsageError(f"spec catalogue: {exc}") from None
    if adapter is not None:
        profile, facts = adapter.profile, adapter.facts
    else:
        profile = _profile(config, registry.adapter_class(config.option.conformance_framework))
        facts = profile.facts
    plan = planning.plan_run(
        cat,
        profile,
        facts,
        fw,
        options.from_pytest(config.option),
        [_marks(i) for i in ours],
        seed=config.stash[SEED],
        timestamp=config.stash[STARTED][1],
    )
    for item in ours:
        info = plan.items[item.nodeid]
        if info.skip:
            item.add_marker(pytest.mark.skip(reason=info.skip))
        elif info.xfail:
            item.add_marker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=info.xfail))
    run = _Run(plan, adapter, plan.record())
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
    ``property_settings`` / ``statistical_settings``, whose parent is the
    ``conformance`` profile registered at session start."""
    from hypothesis import is_hypothesis_test, seed

    opt = config.option
    if opt.conformance_derandomize or getattr(opt, "hypothesis_seed", None) is not None:
        return
    for item in items:
        fn = getattr(item, "obj", None)
        fn = getattr(fn, "__func__", fn)  # a bound method: the seed lives on the function
        if fn is not None and is_hypothesis_test(fn):
            seed(run.plan.seed)(fn)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    run = active_run(config)
    if run is None:
        return None
    plan = run.plan
    skipped = sum(1 for i in plan.items.values() if i.skip)
    b = plan.budget
    return [(
        f"conformance: {len(plan.items)} tests, {skipped} not applicable at collection, "
        f"{len(plan.matched)} known deviations; {b.tests} statistical tests share the false-alarm "
        f"budget {b.total:g} ({b.per_test:.3g} each)"
    )]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """The adapter of the framework selected with ``--framework``."""
    from conformance import adapters as registry

    run = active_run(request.config)
    if run is not None and run.adapter is not None:
        return run.adapter
    try:
        return registry.load_adapter(request.config.option.conformance_framework)
    except registry.NotInstalled as exc:
        pytest.skip(str(exc))


@pytest.fixture
def conformance_seed(request: pytest.FixtureRequest) -> int | str | None:
    """The seed the run pins its Hypothesis tests to, for a test that runs
    Hypothesis itself (a state machine: ``hypothesis.seed(s)(Machine)``), so it
    is a function of ``--seed`` too; None where the run leaves seeding to
    Hypothesis (``--derandomize``, ``--hypothesis-seed``) or is not a
    conformance run."""
    run = active_run(request.config)
    opt = request.config.option
    if run is None or opt.conformance_derandomize or getattr(opt, "hypothesis_seed", None) is not None:
        return None
    return run.plan.seed


@pytest.fixture
def clauses_expected_to_hold(request: pytest.FixtureRequest) -> frozenset[str]:
    """The clauses of the run's tests that apply to the framework and are not
    among its known deviations (empty outside a conformance run): what a test
    may check alongside its own clause, when the outcome of one check of them
    all can only be what the tests would find one by one (the lifecycle
    machine's clauses, :func:`conformance.lifecycle.checked_together`)."""
    run = active_run(request.config)
    if run is None:
        return frozenset()
    return frozenset(c for info in run.plan.items.values() if info.skip is None and info.xfail is None
                     for c in info.clauses)


@pytest.fixture
def clause(request: pytest.FixtureRequest) -> Clause:
    """The catalogue clause of the test's closest ``clause`` marker (its first id)."""
    ids = _marks(request.node).clauses
    if not ids:
        pytest.fail("the clause fixture needs a @pytest.mark.clause marker", pytrace=False)
    return _load_catalogue(request.config)[ids[0]]


@pytest.fixture
def stat(request: pytest.FixtureRequest) -> StatRecorder:
    """The test's share of the run's false-alarm budget, planned from its
    ``statistical`` marker; every check it records goes into the report."""
    run = active_run(request.config)
    info = run.plan.items.get(request.node.nodeid) if run is not None else None
    if info is None or info.planned is None:
        pytest.fail(
            "the stat fixture needs @pytest.mark.clause(...) and "
            "@pytest.mark.statistical(checks=k, explicit=e)",
            pytrace=False,
        )
    recorder = run.plan.budget.recorder(info.planned)  # type: ignore[union-attr]
    request.node.stash[RECORDER] = recorder
    return recorder


# ----------------------------------------------------------------------------- running
def _ours(item: pytest.Item) -> ItemPlan | None:
    run = active_run(item.config)
    return run.plan.items.get(item.nodeid) if run is not None else None


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
    info, run = _ours(item), active_run(item.config)
    drawing: Any = nullcontext()
    if info is not None and run is not None and run.adapter is not None:
        # The strategies draw only what the framework can build (a layer twice
        # in one container needs `repeated_child`), for this test's call only.
        from conformance.strategies import framework_capabilities

        drawing = framework_capabilities(run.adapter.facts.capabilities)
    try:
        with drawing:
            return (yield)
    except Exception as exc:
        # NotApplicable: the framework cannot express what the test asks, a
        # verdict of not-applicable, reported as a skip rather than a failure.
        if info is None or not _is_not_applicable(exc):
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
        from conformance import verdicts

        phases = item.stash.setdefault(PHASES, {})
        phases[rep.when] = verdicts.phase(rep, call.excinfo)
        if rep.when == "teardown":
            # The verdict is decided here, where the test ran, and rides with
            # the report to whichever process reports the session.
            from conformance.journal import verdict_record

            recorder = item.stash.get(RECORDER, None)
            verdict = verdicts.classify(
                phases,
                nodeid=item.nodeid,
                clauses=info.clauses,
                reproduce=info.reproduce,
                statistics=recorder.records if recorder is not None else (),
            )
            phases.clear()
            props = [*rep.user_properties]
            if verdict is not None:
                props.append((VERDICT_KEY, verdict_record(verdict)))
            if _is_worker(item.config) and not run.shipped:
                props.append((RUN_KEY, run.record))
                run.shipped = True
            rep.user_properties = props
    return rep


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
