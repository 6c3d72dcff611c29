"""Planning a run, as pure functions of the catalogue, a profile and the
installed framework's identity: which clauses apply (and why not), which known
deviations cover which clause, which profile entries can never match (so a
profile cannot rot), whether the tests' markers are well formed, how the
false-alarm budget is split over the statistical tests, and each test's plan
(skip reason, expected deviation, planned checks, reproduce command). The
pytest plugin calls these with the collected tests' markers as data
(:class:`TestMarks`); unit tests call them directly."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance import options
from conformance.deviations import Deviation
from conformance.profile import CAPABILITIES, CAPABILITY_DOCS, Facts, Profile
from conformance.spec import Catalogue, Clause
from conformance.stats import ErrorBudget

if TYPE_CHECKING:
    from conformance.reporting import Framework


def not_applicable(clause: Clause, profile: Profile, facts: Facts) -> str | None:
    """Why ``clause`` does not apply to the framework of ``profile`` (with the
    installed version's ``facts``), or ``None`` when it applies."""
    name = profile.name
    if clause.id in profile.unsupported:
        return f"{name} does not support {clause.id}: {profile.unsupported[clause.id]}"
    if clause.attributed and clause.id not in profile.attributed:
        return f"a claim the editions make of other frameworks; none attributes it to {name}"
    for cap in clause.requires:
        if cap not in facts.capabilities:
            return f"{name} has no {cap.replace('_', ' ')} ({CAPABILITY_DOCS[cap]})"
    return None


@dataclass
class DeviationPlan:
    """The profile's known deviations for one run."""

    matched: dict[str, Deviation] = field(default_factory=dict)  # clause id -> the entry covering it
    stale: list[dict[str, Any]] = field(default_factory=list)  # entries that can never match, with why


def profile_problems(catalogue: Catalogue, profile: Profile) -> list[dict[str, Any]]:
    """Entries of the profile's [unsupported] and [attributed] tables naming a
    clause the catalogue does not have, in the shape of a stale deviation."""
    out = []
    for table in ("unsupported", "attributed"):
        for i, (cid, text) in enumerate(getattr(profile, table).items(), start=1):
            if cid not in catalogue:
                out.append({"clause": cid, "versions": "*", "reason": text, "link": "", "file": profile.file,
                            "line": i, "problem": f"unknown clause (in [{table}])"})
    return out


def plan_deviations(
    catalogue: Catalogue, profile: Profile, facts: Facts, version: str | None, backend: str | None
) -> DeviationPlan:
    """Which deviations of ``profile`` cover a clause at ``version`` on
    ``backend``; an entry for an unknown clause, or for a clause that cannot
    apply to the framework, is stale."""
    plan = DeviationPlan()
    for d in profile.deviations:
        problem = None
        if d.clause not in catalogue:
            problem = "unknown clause"
        else:
            why = not_applicable(catalogue[d.clause], profile, facts)
            if why is not None:
                problem = f"clause does not apply: {why}"
        if problem:
            plan.stale.append(
                {"clause": d.clause, **d.as_dict(), "file": d.file, "line": d.line, "problem": problem}
            )
        elif d.matches(d.clause, version, backend):
            plan.matched.setdefault(d.clause, d)
    return plan


# ----------------------------------------------------------------------------- tests and their markers
@dataclass(frozen=True)
class TestMarks:
    """A collected test as planning sees it: its identity and its markers' arguments."""

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    name: str  # the function's name, for -k
    target: str  # what to pass pytest to collect it again
    clause_markers: tuple[tuple[Any, ...], ...] = ()  # each ``clause`` marker's args, closest first
    statistical: tuple[Any, Any] | None = None  # the closest ``statistical`` marker's (checks, explicit)
    requires: tuple[tuple[Any, ...], ...] = ()  # each ``requires`` marker's args

    @property
    def clauses(self) -> tuple[str, ...]:
        """Every clause id the test names, closest marker first, without duplicates."""
        return tuple(dict.fromkeys(a for args in self.clause_markers for a in args))


def marker_problems(test: TestMarks, catalogue: Catalogue | Exception) -> list[str]:
    """What is wrong with the test's markers (``catalogue``: the run's, or the
    error that kept it from loading), one line each."""
    problems: list[str] = []
    for args in test.clause_markers:
        if not args or not all(isinstance(a, str) for a in args):
            problems.append(f"{test.nodeid}: @pytest.mark.clause needs one or more clause ids (strings)")
    ids = [a for a in test.clauses if isinstance(a, str)]
    if isinstance(catalogue, Exception):
        problems.append(f"spec catalogue: {catalogue}")
    else:
        problems += [f"{test.nodeid}: unknown clause id {cid!r} (not in the catalogue)" for cid in ids
                     if cid not in catalogue]
    if test.statistical is not None:
        checks, explicit = test.statistical
        if not (isinstance(checks, int) and checks >= 1 and isinstance(explicit, int) and explicit >= 0):
            problems.append(
                f"{test.nodeid}: @pytest.mark.statistical needs checks=k >= 1 and explicit=e >= 0"
            )
    for args in test.requires:
        unknown = [c for c in args if c not in CAPABILITIES]
        if unknown or not args:
            problems.append(
                f"{test.nodeid}: @pytest.mark.requires: unknown capabilities {unknown}; "
                f"known: {sorted(CAPABILITIES)}"
            )
    return problems


# ----------------------------------------------------------------------------- the plan
@dataclass
class ItemPlan:
    """What the run plans for one conformance test."""

    clauses: tuple[str, ...]
    name: str  # for -k
    target: str  # what to pass pytest to collect it again
    statistical: bool
    planned: int | None = None  # statistical checks: k * (STAT_EXAMPLES + e)
    skip: str | None = None  # why it does not apply, decided at collection
    xfail: str | None = None  # the known deviations it is expected to show
    reproduce: str | None = None  # the command that reruns it, for a violation or an error


@dataclass
class RunPlan:
    """One conformance session's plan: framework, seed, options, budget, deviations, tests."""

    framework: Framework
    seed: int | str
    values: options.Values
    budget: ErrorBudget
    stat_examples: int | None
    matched: dict[str, Deviation]
    stale: list[dict[str, Any]]
    items: dict[str, ItemPlan]
    timestamp: str

    def record(self) -> dict[str, Any]:
        """The plan as plain data (a journal ``run`` record): all a report
        needs besides the verdicts."""
        return {
            "framework": dataclasses.asdict(self.framework),
            "info": {
                "seed": self.seed,
                "max_examples": self.values.max_examples,
                "stat_examples": self.stat_examples,
                "derandomize": self.values.derandomize,
                "budget_total": self.budget.total,
                "statistical_tests": self.budget.tests,
                "per_test": self.budget.per_test,
                "timestamp": self.timestamp,
            },
            "deviations": {c: dataclasses.asdict(d) for c, d in self.matched.items()},
            "stale": self.stale,
            "items": {
                nodeid: {"clauses": list(info.clauses), "reproduce": info.reproduce}
                for nodeid, info in self.items.items()
            },
        }


#: The options a reproduce command repeats when they differ from their default
#: (the framework and the seed are always given).
REPRODUCED = ("max_examples", "derandomize", "budget", "catalogue", "profile")


def reproduce_command(values: options.Values, framework: str, seed: int | str, name: str, target: str) -> str:
    """The command that reruns one test as the run ran it: ``pytest``, and for
    the shipped properties under an integer seed ``conformance run`` too."""
    seed_args = ["--seed", str(seed)] if isinstance(seed, int) else [f"--hypothesis-seed={seed}"]
    common = [
        "--framework", framework, *seed_args, *options.pytest_args(values, REPRODUCED, only_changed=True),
        "-k", name,
    ]
    cmd = f"pytest {target} " + shlex.join(common)
    if target.startswith("--pyargs conformance.properties") and isinstance(seed, int):
        cmd += "\nconformance run " + shlex.join(common)
    return cmd


def split_budget(total: float, items: Iterable[ItemPlan]) -> ErrorBudget:
    """The false-alarm budget ``total``, split (Bonferroni) over the statistical
    tests that will run (those not skipped at collection)."""
    return ErrorBudget(total, tests=sum(1 for i in items if i.statistical and not i.skip))


def xfail_reason(deviations: Sequence[Deviation]) -> str:
    return "; ".join(f"known deviation {d.clause} ({d.versions}): {d.reason} <{d.link}>" for d in deviations)


def plan_run(
    catalogue: Catalogue,
    profile: Profile,
    facts: Facts,
    framework: Framework,
    values: options.Values,
    tests: Sequence[TestMarks],
    *,
    seed: int | str,
    timestamp: str,
    stat_examples: int | None = None,
) -> RunPlan:
    """The plan of a run of ``tests`` (well-formed markers, see
    :func:`marker_problems`) against ``framework`` (its identity; ``facts``
    those of the installed version, ``profile`` the run's). ``stat_examples``:
    Hypothesis examples of a statistical property (default
    :data:`conformance.strategies.STAT_EXAMPLES`, imported only if a test is
    statistical)."""
    deviations = plan_deviations(catalogue, profile, facts, framework.version, framework.backend)
    matched: dict[str, Deviation] = deviations.matched if framework.installed else {}
    stale = deviations.stale + profile_problems(catalogue, profile)
    items: dict[str, ItemPlan] = {}
    for t in tests:
        ids = t.clauses
        info = ItemPlan(ids, t.name, t.target, t.statistical is not None)
        if not framework.installed:
            info.skip = f"{framework.name} is not installed"
        else:
            for cid in ids:
                why = not_applicable(catalogue[cid], profile, facts)
                if why is not None:
                    info.skip = f"{cid}: {why}"
                    break
        if not info.skip:
            devs = [matched[c] for c in ids if c in matched]
            info.xfail = xfail_reason(devs) if devs else None
        info.reproduce = reproduce_command(values, framework.name, seed, t.name, t.target)
        items[t.nodeid] = info
    if any(t.statistical is not None for t in tests) and stat_examples is None:
        from conformance.strategies import STAT_EXAMPLES

        stat_examples = int(STAT_EXAMPLES)
    elif not any(t.statistical is not None for t in tests):
        stat_examples = None
    for t in tests:
        if t.statistical is not None:
            assert stat_examples is not None
            checks, explicit = t.statistical
            items[t.nodeid].planned = checks * (stat_examples + explicit)
    budget = split_budget(values.effective_budget(), items.values())
    return RunPlan(framework, seed, values, budget, stat_examples, matched, stale, items, timestamp)
