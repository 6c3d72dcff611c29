"""Statistical checks and the run's false-alarm budget.

One budget per run (``DEFAULT_BUDGET``, at most 1e-6 unless the user says
otherwise) bounds the probability that a *correct* framework fails any
statistical check in the run. It is split by Bonferroni: equally over the
statistical tests that run, and within a test equally over the checks it
plans (``checks`` per Hypothesis example, times the examples it may run).
A check rejects when its p-value falls below its share, so by the union
bound the family-wise false-alarm rate of the run is at most the budget.
A test that performs more checks than it planned raises
:class:`BudgetExceeded` instead of silently overspending.

Every check is a scipy.stats test; nothing here re-implements one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import special
from scipy import stats as sps

DEFAULT_BUDGET = 1e-6

#: Probabilities at which a check's sample is summarised for the report's plot
#: (quantiles against the documented law's): 100 points, 0.5 % to 99.5 %.
PLOT_PROBABILITIES = np.linspace(0.005, 0.995, 100)


class BudgetExceeded(RuntimeError):
    """A test ran more statistical checks than it declared."""


@dataclass(frozen=True)
class StatRecord:
    label: str
    test: str
    n: int
    statistic: float
    p_value: float
    alpha: float
    #: "fit": the check passes unless it rejects (the usual goodness of fit);
    #: "differ": the claim is that two laws differ, so the check passes only
    #: when it rejects their equality.
    expect: str = "fit"
    #: What a report plots for this check (see ``qq``, ``qq2`` and ``counts``):
    #: a summary of the sample, never the sample itself. Not part of equality.
    plot: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def passed(self) -> bool:
        if self.expect == "differ":
            return self.p_value < self.alpha
        return self.p_value >= self.alpha

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ErrorBudget:
    """The run's false-alarm budget and how many statistical tests share it."""

    total: float = DEFAULT_BUDGET
    tests: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.total < 1.0:
            raise ValueError(f"false-alarm budget must be in (0, 1), got {self.total}")
        if self.tests < 0:
            raise ValueError(f"number of statistical tests must be >= 0, got {self.tests}")

    @property
    def per_test(self) -> float:
        return self.total / max(self.tests, 1)

    def recorder(self, planned_checks: int) -> StatRecorder:
        return StatRecorder(self.per_test, planned_checks)


class StatRecorder:
    """The checks of one statistical test: spends its share of the budget,
    records every outcome for the report, and asserts."""

    def __init__(self, alpha: float, planned_checks: int) -> None:
        if planned_checks < 1:
            raise ValueError(f"a statistical test must plan at least one check, got {planned_checks}")
        self.alpha_test = alpha
        self.planned = planned_checks
        self.alpha_check = alpha / planned_checks
        self.records: list[StatRecord] = []

    def _record(self, label: str, test: str, n: int, statistic: float, p: float, detail: str,
                expect: str = "fit", plot: dict[str, Any] | None = None) -> StatRecord:
        rec = StatRecord(label, test, int(n), float(statistic), float(p), self.alpha_check, expect, plot)
        verb = "rejects" if expect == "fit" else "cannot reject equality"
        message = (f"{label}: {test} {verb} at alpha={rec.alpha:.3g} (n={n}, statistic={statistic:.6g}, "
                   f"p={p:.3g}); {detail}")
        # Hypothesis replays a failing example once to report it: the same sample
        # gives the same check, which spends nothing new and is recorded once.
        if rec in self.records:
            assert rec.passed, message
            return rec
        if len(self.records) >= self.planned:
            raise BudgetExceeded(
                f"check {len(self.records) + 1} of a test that planned {self.planned}; "
                "declare more checks in its @statistical marker"
            )
        self.records.append(rec)
        assert rec.passed, message
        return rec

    # -- the checks ---------------------------------------------------------------
    def ks(self, sample: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray] | str, *, label: str,
           args: tuple[float, ...] = (), detail: str = "") -> StatRecord:
        """Two-sided one-sample Kolmogorov-Smirnov test of a continuous law."""
        x = np.asarray(sample, dtype=np.float64).ravel()
        res = sps.kstest(x, cdf, args=args)
        return self._record(label, "kolmogorov-smirnov", x.size, res.statistic, res.pvalue, detail,
                            plot=qq(x, _ppf(cdf, args)))

    def ks_differ(self, a: np.ndarray, b: np.ndarray, *, label: str, detail: str = "") -> StatRecord:
        """Two-sample Kolmogorov-Smirnov test for a claim that two laws *differ*:
        passes only if equality is rejected at this check's alpha. A framework
        whose law does not change passes with probability at most alpha (the
        budget bounds a wrong ``holds``); one whose law does change fails only
        for lack of power, so callers choose sizes that make it negligible."""
        x = np.asarray(a, dtype=np.float64).ravel()
        y = np.asarray(b, dtype=np.float64).ravel()
        res = sps.ks_2samp(x, y)
        return self._record(label, "kolmogorov-smirnov two-sample", x.size + y.size, res.statistic,
                            res.pvalue, detail, expect="differ", plot=qq2(x, y))

    def variance(self, sample: np.ndarray, sigma: float, *, mean: float = 0.0, label: str,
                 detail: str = "") -> StatRecord:
        """Two-sided chi-square test that a normal sample with known mean has
        standard deviation ``sigma``: sum((x - mean)^2) / sigma^2 ~ chi2(n)."""
        x = np.asarray(sample, dtype=np.float64).ravel()
        stat = float(np.sum((x - mean) ** 2) / sigma**2)
        n = x.size
        p = 2.0 * min(sps.chi2.cdf(stat, n), sps.chi2.sf(stat, n))
        return self._record(label, "chi-square variance", n, stat, min(p, 1.0),
                            f"sample sd {np.sqrt(stat / n) * sigma:.6g} vs {sigma:.6g}. {detail}",
                            plot=qq(x, sps.norm(loc=mean, scale=sigma).ppf))

    def chisquare(self, observed: np.ndarray, probabilities: np.ndarray, *, label: str,
                  detail: str = "", labels: list[str] | None = None) -> StatRecord:
        """Pearson chi-square goodness of fit of category counts."""
        obs = np.asarray(observed, dtype=np.float64)
        probs = np.asarray(probabilities, dtype=np.float64)
        res = sps.chisquare(obs, obs.sum() * probs)
        return self._record(label, "chi-square", int(obs.sum()), res.statistic, res.pvalue,
                            f"observed {obs.astype(int).tolist()} vs proportions {probs.tolist()}. {detail}",
                            plot=counts(obs, obs.sum() * probs, labels))

    def binomial(self, k: int, n: int, p: float, *, label: str, detail: str = "") -> StatRecord:
        """Exact two-sided binomial test of a proportion."""
        res = sps.binomtest(int(k), int(n), p)
        return self._record(label, "binomial", n, k / max(n, 1), res.pvalue,
                            f"{k}/{n} vs p={p}. {detail}",
                            plot=counts(np.array([k, n - k]), np.array([n * p, n * (1 - p)]), ["in", "out"]))


# -- what a report plots ----------------------------------------------------------
def _floats(a: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=np.float64)]


def _ppf(
    cdf: Callable[[np.ndarray], np.ndarray] | str, args: tuple[float, ...]
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The quantile function of the law whose ``cdf`` a KS check was given: a
    scipy distribution's own ``ppf`` (``sps.norm.cdf``, ``sps.uniform(...).cdf``
    or a distribution name); None for a bare function, which has none."""
    owner = getattr(sps, cdf, None) if isinstance(cdf, str) else getattr(cdf, "__self__", None)
    ppf = getattr(owner, "ppf", None)
    if ppf is None:
        return None
    return (lambda p: ppf(p, *args)) if args else ppf


def qq(sample: np.ndarray, ppf: Callable[[np.ndarray], np.ndarray] | None) -> dict[str, Any] | None:
    """QQ data: the sample's quantiles against the documented law's at
    ``PLOT_PROBABILITIES`` (None when the law has no quantile function)."""
    if ppf is None or np.asarray(sample).size == 0:
        return None
    return {
        "kind": "qq",
        "probabilities": _floats(PLOT_PROBABILITIES),
        "sample": _floats(np.quantile(sample, PLOT_PROBABILITIES)),
        "law": _floats(ppf(PLOT_PROBABILITIES)),
    }


def qq2(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """Two-sample QQ data: both samples' quantiles at ``PLOT_PROBABILITIES``."""
    if np.asarray(a).size == 0 or np.asarray(b).size == 0:
        return None
    return {
        "kind": "qq2",
        "probabilities": _floats(PLOT_PROBABILITIES),
        "a": _floats(np.quantile(a, PLOT_PROBABILITIES)),
        "b": _floats(np.quantile(b, PLOT_PROBABILITIES)),
    }


def counts(observed: np.ndarray, expected: np.ndarray, labels: list[str] | None = None) -> dict[str, Any]:
    """Bar-chart data: observed and expected count per category."""
    names = labels if labels is not None else [str(i) for i in range(len(observed))]
    return {"kind": "counts", "labels": [str(x) for x in names],
            "observed": _floats(observed), "expected": _floats(expected)}


class _TruncatedNormal:
    """N(0, std) truncated at +-2 std (Keras/JAX truncated normal). ``cdf`` is
    written with the normal CDF, ~100 times faster than scipy's ``truncnorm``
    on a layer's entries, the upper half by symmetry so 1 - F stays accurate;
    ``ppf`` (for the report's plot, a hundred points) is scipy's."""

    _lo = float(special.ndtr(-2.0))
    _mass = float(special.ndtr(2.0)) - _lo

    def __init__(self, std: float) -> None:
        self.std = std

    def _lower(self, x: np.ndarray) -> np.ndarray:
        return np.clip((special.ndtr(x / self.std) - self._lo) / self._mass, 0.0, 1.0)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > 0, 1.0 - self._lower(-x), self._lower(x))

    def ppf(self, p: np.ndarray) -> np.ndarray:
        return sps.truncnorm(-2.0, 2.0, loc=0.0, scale=self.std).ppf(p)


def truncated_normal_cdf(std: float) -> Callable[[np.ndarray], np.ndarray]:
    """CDF of N(0, std) truncated at +-2 std (its owner also has the ``ppf``)."""
    return _TruncatedNormal(std).cdf
