"""Power of the statistical clauses: the smallest deviation each one detects.

For every (clause, deviation) row: the check that detects it, the smallest
sample the property draws (or the explicit example the claim rests on), the
alpha that check gets at the default false-alarm budget for the framework with
the most statistical tests among those the row concerns, the smallest deviation
detected with probability ``POWER`` (analytic), the analytic power against the
tested deviation, and a simulation: ``REPLICATES`` samples under the deviation,
each run through the property's own check (``check_law``, ``check_mixture``,
``StatRecorder.ks_differ``) at the real alpha, with a Clopper-Pearson bound.

Sample sizes, check counts and laws are read from the properties, the
strategies and the catalogue, so the table follows the code:

    python -m conformance.proof.power --out reports/proof/power.md

writes the Markdown table and ``power.json`` beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import special
from scipy import stats as sps

from conformance import planning
from conformance.frameworks import builtin_profiles
from conformance.properties import test_builtin_init as builtin
from conformance.properties import test_custom_init as custom
from conformance.properties import test_default_init as default
from conformance.properties._laws import SCORE_CLIP, TRUNCATED_STD, check_law, scale_of
from conformance.spec import catalogue
from conformance.stats import DEFAULT_BUDGET, StatRecorder, truncated_normal_cdf
from conformance.strategies import BIAS_IN, BIAS_OUT, FAN_APART, FAN_HIGH, FAN_LOW, STAT_EXAMPLES

#: the power every row must reach against its tested deviation, per test run
POWER = 0.999
#: simulated samples per row: with no miss, the one-sided 95 % Clopper-Pearson
#: lower bound is 0.05 ** (1 / 3000) = 0.999002 >= POWER
REPLICATES = 3000
SEED = 5
#: a sample larger than the largest drawn layer (the explicit 2048 x 2048) is
#: simulated at this size, where its analytic power already exceeds POWER
SIM_MAX_N = (FAN_HIGH // FAN_APART) * FAN_HIGH
#: check_law lets an entry up to two float32 ulps (relative 2^-23 each) out of its support
SLACK = 2.0**-22

#: the two extreme least-apart layers the fans() strategy draws
WIDE_FANS = (FAN_LOW, FAN_LOW * FAN_APART)  # n_out = FAN_APART * n_in
NARROW_FANS = WIDE_FANS[::-1]
N_WEIGHT = WIDE_FANS[0] * WIDE_FANS[1]


# ----------------------------------------------------------------------------- plans and budget
@dataclass(frozen=True)
class Plan:
    """What a statistical property declares in its marker."""

    clause: str
    checks: int
    explicit: int
    examples: int = STAT_EXAMPLES

    @property
    def planned(self) -> int:
        return self.checks * (self.examples + self.explicit)


def plan_of(test: Callable[..., Any]) -> Plan:
    marks = {m.name: m for m in getattr(test, "pytestmark", [])}
    stat, clause = marks["statistical"], marks["clause"]
    return Plan(clause.args[0], int(stat.kwargs["checks"]), int(stat.kwargs.get("explicit", 0)))


def explicit_fans(test: Any) -> list[tuple[int, int]]:
    """The ``fan`` of every @example of a property ``test`` (a Hypothesis test,
    which keeps them on its inner test)."""
    return [tuple(e.kwargs["fan"]) for e in test.hypothesis.inner_test.hypothesis_explicit_examples]


def _applies(clause: str, framework: str) -> bool:
    profile = builtin_profiles()[framework]
    return planning.not_applicable(catalogue()[clause], profile, profile.facts) is None


def statistical_tests(framework: str) -> int:
    """T: the statistical tests that run for ``framework`` (one per statistical clause applying to it)."""
    return sum(1 for c in catalogue().clauses if c.statistical and _applies(c.id, framework))


#: the profile fact holding the law each default-init clause checks
_LAW_FACT: dict[str, Literal["weight", "bias"]] = {
    "default-init.documented-weight": "weight",
    "default-init.documented-bias": "bias",
}


def documented(clause: str, framework: str) -> dict[str, Any]:
    law = builtin_profiles()[framework].facts.law(_LAW_FACT[clause])
    return {k: v for k, v in law.items() if k != "doc"}


def sharing(clause: str, law: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The frameworks ``clause`` applies to (whose documented law is ``law``, if given)."""
    return tuple(
        f for f in builtin_profiles() if _applies(clause, f) and (law is None or documented(clause, f) == law)
    )


# ----------------------------------------------------------------------------- analytic misses
# Each returns the probability that the check does NOT detect the deviation
# (exact, or an upper bound where said), as a function of the deviation's size.


def miss_exact(q: float, n: int) -> float:
    """An exact support check misses a law putting a fraction q outside the support: (1 - q)^n."""
    return math.exp(n * math.log1p(-q)) if q < 1 else 0.0


def q_uniform(r: float) -> float:
    """Fraction of U(-r a, r a) beyond the documented bound a (and its slack)."""
    return max(0.0, 1.0 - (1.0 + SLACK) / r)


def q_truncated(r: float) -> float:
    """Fraction of N(0, (r t)^2) truncated at +-2 r t beyond the documented +-2 t."""
    y = 2.0 * (1.0 + SLACK) / r
    return max(0.0, 2.0 * (special.ndtr(2.0) - special.ndtr(y)) / (special.ndtr(2.0) - special.ndtr(-2.0)))


def miss_ks(f0: Callable, f1: Callable, xs: np.ndarray, n: int, alpha: float) -> float:
    """Upper bound on the miss of a one-sample KS test of F0 on a sample of F1:
    D_n >= |F_n(x*) - F0(x*)| at the x* where |F1 - F0| is largest, and n F_n(x*)
    is Binomial(n, F1(x*)); the test rejects when D_n > c = kstwo.isf(alpha, n)
    (scipy's kstest computes its p-value with kstwo)."""
    c = float(sps.kstwo.isf(alpha, n))
    d = f1(xs) - f0(xs)
    i = int(np.argmax(np.abs(d)))
    p0, p1 = float(f0(xs[i])), float(f1(xs[i]))
    if p1 >= p0:
        return float(sps.binom.cdf(math.floor(n * (p0 + c)), n, p1))
    return float(sps.binom.sf(math.ceil(n * (p0 - c)) - 1, n, p1))


@cache
def variance_bounds(alpha: float, n: int) -> tuple[float, float]:
    """The chi2(n) quantiles outside which the two-sided variance test rejects."""
    return float(sps.chi2.ppf(alpha / 2, n)), float(sps.chi2.isf(alpha / 2, n))


def miss_variance(r: float, n: int, alpha: float) -> float:
    """Exact miss of the two-sided chi-square variance test on N(0, (r sigma)^2):
    the statistic is r^2 chi2(n)."""
    lo, hi = variance_bounds(alpha, n)
    if r >= 1:
        return float(sps.chi2.cdf(hi / r**2, n) - sps.chi2.cdf(lo / r**2, n))
    return float(sps.chi2.sf(lo / r**2, n) - sps.chi2.sf(hi / r**2, n))


@lru_cache(maxsize=1)
def _gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(400)


def truncated_score_moments(r: float) -> tuple[float, float]:
    """Mean and variance of z^2, z = Phi^-1(F0(x)) the normal score under the
    documented truncated normal F0 (t = 1), for x from the one with t = r < 1
    (Gauss-Legendre quadrature on [-2r, 2r], where z^2 is smooth)."""
    nodes, weights = _gauss_legendre()
    x, wx = 2 * r * nodes, 2 * r * weights
    pdf = sps.norm.pdf(x / r) / (r * (special.ndtr(2.0) - special.ndtr(-2.0)))
    z2 = special.ndtri(np.clip(truncated_normal_cdf(1.0)(x), SCORE_CLIP, 1 - SCORE_CLIP)) ** 2
    m1, m2 = float(np.sum(wx * pdf * z2)), float(np.sum(wx * pdf * z2**2))
    return m1, m2 - m1**2


def uniform_score_moments(r: float) -> tuple[float, float]:
    """The same for U(-r, r) scored under U(-1, 1), r < 1: z is N(0, 1)
    truncated at +-c, c = Phi^-1((1 + r) / 2), whose mass is r."""
    c = float(special.ndtri((1 + r) / 2))
    phi = float(sps.norm.pdf(c))
    m1, m2 = 1 - 2 * c * phi / r, 3 - (2 * c**3 + 6 * c) * phi / r
    return m1, m2 - m1**2


def miss_scores(r: float, n: int, alpha: float, moments: Callable[[float], tuple[float, float]]) -> float:
    """Miss of the chi-square variance test of the normal scores of a law
    whose scale is r < 1 times the documented one (normal approximation of
    the sum of n i.i.d. z^2, whose mean and variance ``moments`` gives)."""
    lo, hi = variance_bounds(alpha, n)
    v, w = moments(r)
    mu, sd = n * v, math.sqrt(n * w)
    return float(special.ndtr((mu - lo) / sd) - special.ndtr((mu - hi) / sd))


def miss_uniform(r: float, n: int, alpha: float) -> float:
    """U(-r, r) against U(-1, 1): too wide, the exact support check; too
    narrow, the variance of the normal scores."""
    return miss_exact(q_uniform(r), n) if r > 1 else miss_scores(r, n, alpha, uniform_score_moments)


def miss_truncated(r: float, n: int, alpha: float) -> float:
    """A truncated normal r times the documented one: too wide, the exact
    truncation check; too narrow, the variance of the normal scores."""
    return miss_exact(q_truncated(r), n) if r > 1 else miss_scores(r, n, alpha, truncated_score_moments)


def miss_chisquare(w: float, n: int, alpha: float) -> float:
    """Miss of Pearson's chi-square on 3 categories at Cohen's effect size w:
    noncentral chi2(2, n w^2) (the usual approximation)."""
    return float(sps.ncx2.cdf(sps.chi2.isf(alpha, 2), 2, n * w * w))


def miss_differ(r: float, m: int, n: int, alpha: float) -> float:
    """Upper bound on the chance that the two-sample KS test does not tell
    U(-r, r) (m entries) from U(-1, 1) (n entries) apart, r > 1: at x = 1 the
    second ECDF is 1 and the first Binomial(m, (1 + 1/r) / 2) / m; scipy's
    ks_2samp (asymptotic for samples over 10000) rejects when D > kstwo.isf(alpha, round(mn / (m + n)))."""
    assert max(m, n) > 10000, "ks_2samp would compute an exact p-value"
    c = float(sps.kstwo.isf(alpha, round(m * n / (m + n))))
    return float(sps.binom.sf(math.ceil(m * (1 - c)) - 1, m, (1 + 1 / r) / 2))


# ----------------------------------------------------------------------------- samples
Draw = Callable[[np.random.Generator, float, int], Any]


def draw_uniform(bound: float) -> Draw:
    return lambda rng, r, n: rng.uniform(-r * bound, r * bound, n).astype(np.float32)


def draw_normal(std: float) -> Draw:
    return lambda rng, r, n: (rng.standard_normal(n) * r * std).astype(np.float32)


def draw_truncated(t: float, k: float = 2.0) -> Draw:
    """N(0, (r t)^2) truncated at +-k r t, by inverting the normal CDF."""
    lo, mass = special.ndtr(-k), special.ndtr(k) - special.ndtr(-k)
    return lambda rng, r, n: (special.ndtri(lo + rng.random(n) * mass) * r * t).astype(np.float32)


def draw_zeros(rng: np.random.Generator, q: float, n: int) -> np.ndarray:
    return np.where(rng.random(n) < q, np.float32(1e-3), np.float32(0.0))


# ----------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Row:
    id: str
    test: Callable[..., Any]
    frameworks: tuple[str, ...]
    deviation: str
    check: str
    n: int
    param: str  # "r": scale ratio; "q": fraction outside the support; "k": truncation point; "w": Cohen's w
    null: float  # the parameter with no deviation (or the near end of the search)
    size: float  # the tested deviation
    miss: Callable[[float, int, float], float]
    draw: Draw
    verify: Callable[[StatRecorder, Any], None]
    where: str = "each drawn example"
    expect: str = "fit"  # "differ": the check must reject equality (a correct framework)
    group: str = ""  # rows of one deviation on two sides: the run's miss is the larger one's
    #: a tenth of the replicates where each check costs ~0.2 s (scipy's exact KS
    #: p-value far in the tail at n = 131072)
    slow: bool = False


def law_rows(rid: str, test: Callable[..., Any], frameworks: tuple[str, ...], law: dict[str, Any],
             fans: tuple[int, int], cases: list[tuple[str, str, float]], *, n: int | None = None,
             group: str = "") -> list[Row]:
    """Rows for deviations that scale ``law`` by r (one per case: id suffix,
    description, r), checked with check_law at ``fans`` on n entries."""
    fi, fo = fans
    n = n if n is not None else fi * fo
    s = scale_of(law, fi, fo)
    family = law["family"]
    out = []
    for suffix, text, r in cases:
        if family == "normal":
            check, miss, draw = "chi-square variance", miss_variance, draw_normal(s)
        elif family == "uniform":
            check = "support (exact)" if r > 1 else "chi-square variance of normal scores"
            miss, draw = miss_uniform, draw_uniform(s)
        else:
            check = "truncation (exact)" if r > 1 else "chi-square variance of normal scores"
            miss, draw = miss_truncated, draw_truncated(s)

        def verify(stat: StatRecorder, x: np.ndarray) -> None:
            check_law(stat, x, law, fi, fo, what=f"simulated Dense({fi} -> {fo})")

        out.append(Row("-".join(filter(None, (rid, suffix))), test, frameworks, text, check, n, "r", 1.0, r,
                       miss, draw, verify, group=group))
    return out


def wrong_fan_rows(rid: str, test: Callable[..., Any], frameworks: tuple[str, ...], law: dict[str, Any],
                   wrong: dict[str, Any], text: str) -> list[Row]:
    """Two rows for a law computed from the wrong fans (``wrong`` instead of
    ``law``): on the least-apart layers drawn either way round, one too wide,
    the other too narrow. A run draws either, so its miss is the worse one's."""
    return [
        row
        for fans, side in ((WIDE_FANS, "n_out >= 2 n_in"), (NARROW_FANS, "n_in >= 2 n_out"))
        for row in law_rows(f"{rid}-{fans[0]}", test, frameworks, law, fans,
                            [("", f"{text}, {side}", scale_of(wrong, *fans) / scale_of(law, *fans))],
                            group=rid)
    ]


def rows() -> list[Row]:
    dw, db = "default-init.documented-weight", "default-init.documented-bias"
    weight = default.test_default_weight_follows_documented_law
    bias = default.test_default_bias_follows_documented_law
    torch, glorot, flax = documented(dw, "torch"), documented(dw, "reference"), documented(dw, "flax")
    lecun_u = {"family": "uniform", "fan": "fan_in", "scale": 3.0}
    wide, narrow = ("wide", "bound 10 % too wide", 1.1), ("narrow", "bound 10 % too narrow", 0.9)
    out = law_rows("weight-torch", weight, sharing(dw, torch), torch, WIDE_FANS, [
        ("lecun", "LeCun uniform U(+-sqrt(3 / n_in)) instead of U(+-1 / sqrt(n_in))",
         scale_of(lecun_u, *WIDE_FANS) / scale_of(torch, *WIDE_FANS)), wide, narrow])
    out += wrong_fan_rows("weight-glorot-lecun", weight, sharing(dw, glorot), glorot, lecun_u,
                          "LeCun uniform U(+-sqrt(3 / n_in)) instead of Glorot")
    out += wrong_fan_rows("weight-flax-glorot", weight, sharing(dw, flax), flax, dict(flax, fan="fan_avg"),
                          "Glorot (fan_avg) instead of LeCun truncated normal")

    zeros = documented(db, "reference")

    def verify_zeros(stat: StatRecorder, x: np.ndarray) -> None:
        check_law(stat, x, zeros, BIAS_IN[0], BIAS_OUT[0], what="simulated bias")

    out.append(Row("bias-zeros", bias, sharing(db, zeros), "1 entry in 500 not exactly zero", "zeros (exact)",
                   BIAS_OUT[0], "q", 0.0, 0.002, lambda q, n, a: miss_exact(q, n), draw_zeros, verify_zeros))
    torch_b = documented(db, "torch")
    out += law_rows("bias-torch", bias, sharing(db, torch_b), torch_b, (BIAS_IN[0], BIAS_OUT[0]),
                    [wide, narrow], n=BIAS_OUT[0])
    out.append(range_row())

    normal = builtin.test_normal_initialiser
    sigma = [("wide", "sigma 5 % too large", 1.05), ("narrow", "sigma 5 % too small", 0.95)]
    out += law_rows("normal", normal, sharing(plan_of(normal).clause), {"family": "normal", "std": 1.0},
                    WIDE_FANS, sigma)

    xu, xn = builtin.test_xavier_uniform_initialiser, builtin.test_xavier_normal_initialiser
    out += wrong_fan_rows("xavier-uniform-fan-in", xu, sharing(plan_of(xu).clause), builtin.XAVIER_UNIFORM,
                          lecun_u, "bound from fan_in alone, sqrt(3 / n_in)")
    out += law_rows("xavier-uniform", xu, sharing(plan_of(xu).clause), builtin.XAVIER_UNIFORM, WIDE_FANS,
                    [wide, narrow])
    xn_clause = catalogue()[plan_of(xn).clause]
    applying = sharing(xn_clause.id)
    truncating = tuple(f for f in applying if builtin_profiles()[f].facts.xavier_normal_truncated)
    plain = tuple(f for f in applying if f not in truncating)
    out += law_rows("xavier-normal", xn, plain, builtin.XAVIER_NORMAL, WIDE_FANS,
                    [(k, f"plain law: {text}", r) for k, text, r in sigma])
    out += wrong_fan_rows("xavier-normal-lecun", xn, plain, builtin.XAVIER_NORMAL,
                          dict(builtin.XAVIER_NORMAL, fan="fan_in"),
                          "plain law: LeCun N(0, 1 / n_in) instead")
    out.append(truncated_instead_row(xn, plain))
    out += law_rows("xavier-truncated", xn, truncating, builtin.XAVIER_TRUNCATED, WIDE_FANS, [
        ("wide", "truncated law: sigma 5 % too large (cut at its own +-2 sigma)", 1.05),
        ("narrow", "truncated law: sigma 5 % too small", 0.95),
        ("unscaled", "truncated law: cut at +-2 s without rescaling, std 0.88 s", TRUNCATED_STD),
    ])
    out.append(plain_instead_row(xn, truncating))
    out += wrong_fan_rows("xavier-truncated-lecun", xn, truncating, builtin.XAVIER_TRUNCATED,
                          dict(builtin.XAVIER_TRUNCATED, fan="fan_in"),
                          "truncated law: LeCun (fan_in) instead of Glorot")
    out.append(mixture_row())
    return out


def truncated_instead_row(test: Callable[..., Any], frameworks: tuple[str, ...]) -> Row:
    """A plain normal documented, the framework drawing N(0, t^2) truncated at
    +-k t with t chosen to keep the documented std."""
    fi, fo = explicit_fans(test)[0]
    s = scale_of(builtin.XAVIER_NORMAL, fi, fo)

    def truncated(k: float) -> tuple[float, float, float]:
        lo = special.ndtr(-k)
        return lo, special.ndtr(k) - lo, float(sps.truncnorm(-k, k).std())

    def miss(k: float, n: int, alpha: float) -> float:
        lo, mass, sd = truncated(k)
        xs = np.linspace(-k / sd, k / sd, 20001)
        return miss_ks(special.ndtr, lambda x: np.clip((special.ndtr(x * sd) - lo) / mass, 0, 1),
                       xs, n, alpha)

    def draw(rng: np.random.Generator, k: float, n: int) -> np.ndarray:
        lo, mass, sd = truncated(k)
        return (special.ndtri(lo + rng.random(n) * mass) * s / sd).astype(np.float32)

    def verify(stat: StatRecorder, x: np.ndarray) -> None:
        check_law(stat, x, builtin.XAVIER_NORMAL, fi, fo, what=f"simulated Dense({fi} -> {fo})")

    return Row("xavier-normal-truncated", test, frameworks,
               "plain law: truncated at +-k t, std kept (k = 2: Keras' law)",
               "Kolmogorov-Smirnov", fi * fo, "k", 8.0, 2.0, miss, draw, verify,
               where=f"explicit example {(fi, fo)}", slow=True)


def plain_instead_row(test: Callable[..., Any], frameworks: tuple[str, ...]) -> Row:
    """A truncated normal documented, the framework drawing the plain normal with the same std."""
    fi, fo = WIDE_FANS
    t = scale_of(builtin.XAVIER_TRUNCATED, fi, fo)

    def verify(stat: StatRecorder, x: np.ndarray) -> None:
        check_law(stat, x, builtin.XAVIER_TRUNCATED, fi, fo, what=f"simulated Dense({fi} -> {fo})")

    q = float(2 * special.ndtr(-2 * (1 + SLACK) / TRUNCATED_STD))
    return Row("xavier-truncated-plain", test, frameworks, "truncated law: plain N(0, s^2) instead",
               "truncation (exact)", fi * fo, "q", 0.0, q, lambda q, n, a: miss_exact(q, n),
               lambda rng, q, n: (rng.standard_normal(n) * t * TRUNCATED_STD).astype(np.float32), verify)


def range_row() -> Row:
    """A correct framework (Glorot's range depends on both fans) must pass the
    'differ' check: the chance it fails, at the smallest samples and the
    smallest ratio of bounds the drawn dimensions give."""
    test = default.test_default_range_depends_on_in_and_out
    clause = plan_of(test).clause
    law = documented("default-init.documented-weight", "reference")
    small, large = default.RANGE_SMALL, default.RANGE_LARGE
    r_min = min(scale_of(law, big, s) / scale_of(law, big, big)
                for s in range(small[0], small[1] + 1) for big in range(large[0], large[1] + 1))
    m, n_base = large[0] * small[0], large[0] ** 2

    def draw(rng: np.random.Generator, r: float, m: int) -> tuple[np.ndarray, np.ndarray]:
        return draw_uniform(1.0)(rng, r, m), draw_uniform(1.0)(rng, 1.0, n_base)

    def verify(stat: StatRecorder, pair: tuple[np.ndarray, np.ndarray]) -> None:
        stat.ks_differ(*pair, label="simulated Dense(large -> small) vs Dense(large -> large)")

    return Row("range-correct", test, sharing(clause),
               f"none: a correct (Glorot) framework; bounds {r_min:.3f}x apart, {m} vs {n_base} entries",
               "Kolmogorov-Smirnov two-sample (must reject)", m, "r", 1.0, r_min,
               lambda r, m, a: miss_differ(r, m, n_base, a), draw, verify, expect="differ")


def mixture_row() -> Row:
    test = custom.test_mixture_initialiser
    thirds = np.full(3, 1 / 3)
    w = float(np.sqrt(np.sum((thirds - custom.PROPORTIONS) ** 2 / custom.PROPORTIONS)))

    def draw(rng: np.random.Generator, w: float, n: int) -> np.ndarray:
        u = rng.random(n)
        sign = np.where(u < thirds[0], 1.0, np.where(u < thirds[0] + thirds[1], 0.0, -1.0))
        return (sign * rng.uniform(5, 10, n)).astype(np.float32)

    def verify(stat: StatRecorder, x: np.ndarray) -> None:
        custom.check_mixture(stat, x, what="simulated mixture")

    return Row("mixture-thirds", test, sharing(plan_of(test).clause), "proportions 1/3, 1/3, 1/3",
               "Pearson chi-square", N_WEIGHT, "w", 0.0, w, miss_chisquare, draw, verify)


# ----------------------------------------------------------------------------- evaluation
def budget(row: Row) -> tuple[Plan, int, float]:
    """The row's plan, T (the most statistical tests among its frameworks) and alpha per check."""
    plan = plan_of(row.test)
    t = max(statistical_tests(f) for f in row.frameworks)
    return plan, t, DEFAULT_BUDGET / t / plan.planned


def detectable(row: Row, n: int, alpha: float) -> float | None:
    """The deviation nearest to none that the check detects with probability
    POWER at n (bisection between ``null`` and ``size``); None if even the
    tested size is not."""
    def short(theta: float) -> bool:
        return row.miss(theta, n, alpha) > 1 - POWER

    near, far = row.null, row.size
    if short(far):
        return None
    for _ in range(60):
        mid = (near + far) / 2
        near, far = (mid, far) if short(mid) else (near, mid)
    return far


def analyse(row: Row) -> dict[str, Any]:
    plan, t, alpha = budget(row)
    miss = row.miss(row.size, row.n, alpha)
    return {
        "id": row.id, "clause": plan.clause, "deviation": row.deviation, "check": row.check,
        "frameworks": list(row.frameworks), "statistical_tests": t, "checks": plan.checks,
        "examples": plan.examples, "explicit": plan.explicit, "where": row.where, "n": row.n,
        "alpha": alpha, "param": row.param, "size": row.size, "detectable": detectable(row, row.n, alpha),
        "miss": miss, "expect": row.expect, "group": row.group,
        "n_sim": min(row.n, SIM_MAX_N), "miss_at_n_sim": row.miss(row.size, min(row.n, SIM_MAX_N), alpha),
    }


def per_run(results: list[dict[str, Any]]) -> None:
    """The chance a run of the property misses, added to each result: the
    drawn examples each miss with at most the row's miss (its group's largest),
    independently; a claim resting on one explicit example has that example;
    a 'differ' check fails the run if any of its planned checks fails."""
    worst: dict[str, float] = {}
    for r in results:
        if r["group"]:
            worst[r["group"]] = max(worst.get(r["group"], 0.0), r["miss"])
    for r in results:
        miss = worst.get(r["group"], r["miss"])
        if r["expect"] == "differ":
            r["miss_per_run"] = min(1.0, r["checks"] * (r["examples"] + r["explicit"]) * miss)
        elif r["where"] == "each drawn example":
            r["miss_per_run"] = miss ** r["examples"]
        else:
            r["miss_per_run"] = miss


def simulate(row: Row, alpha: float, planned: int, n: int, replicates: int, seed: int = SEED) -> int:
    """Misses in ``replicates`` samples of the tested deviation at n, each run
    through the property's own check at the real alpha."""
    rng = np.random.default_rng([seed, zlib.crc32(row.id.encode())])
    misses = 0
    for _ in range(replicates):
        sample = row.draw(rng, row.size, n)
        try:
            row.verify(StatRecorder(alpha * planned, planned), sample)
            rejected = False
        except AssertionError:
            rejected = True
        misses += rejected if row.expect == "differ" else not rejected
    return misses


def lower_bound(misses: int, replicates: int) -> float:
    """One-sided 95 % Clopper-Pearson lower bound on the power (the lower end
    of the two-sided 90 % interval): the claim is one-sided, power >= POWER."""
    return float(sps.binomtest(replicates - misses, replicates).proportion_ci(0.90, "exact").low)


def generate(replicates: int = REPLICATES) -> dict[str, Any]:
    table = rows()
    results = [analyse(r) for r in table]
    per_run(results)
    frameworks = sorted(builtin_profiles())
    started = time.perf_counter()
    for row, res in zip(table, results):
        plan, _, alpha = budget(row)
        r = replicates // 10 if row.slow else replicates  # see Row.slow
        misses = simulate(row, alpha, plan.planned, res["n_sim"], r)
        res["simulated"] = {"replicates": r, "misses": misses, "n": res["n_sim"],
                            "lower_bound": lower_bound(misses, r)}
    return {
        "budget": DEFAULT_BUDGET, "power": POWER, "replicates": replicates, "seed": SEED,
        "stat_examples": STAT_EXAMPLES, "fans": {"low": FAN_LOW, "high": FAN_HIGH, "apart": FAN_APART},
        "bias_fans": {"n_in": list(BIAS_IN), "n_out": list(BIAS_OUT)},
        "statistical_tests": {f: statistical_tests(f) for f in frameworks},
        "simulation_seconds": round(time.perf_counter() - started, 1),
        "rows": results,
    }


# ----------------------------------------------------------------------------- output
PARAMS = {
    "r": "scale ratio r (bound or std, deviating / documented)",
    "q": "fraction q of entries outside the documented support",
    "k": "truncation at +-k t, t the std of the normal before truncation",
    "w": "Cohen's effect size w = sqrt(sum (p - p0)^2 / p0)",
}


def _size(param: str, v: float | None) -> str:
    if v is None:
        return "not detected"
    if param == "r":
        return f"r = {v:.4f} ({(v - 1) * 100:+.2f} %)"
    if param == "k":
        return f"k = {v:.3g}"
    return f"{param} = {v:.3g}"


def _power(miss: float) -> str:
    if miss <= 0.0:
        return "1 (miss < 1e-300)"
    return f"1 - {miss:.1e}" if miss < 1e-3 else f"{1 - miss:.4f}"


HEADER = """\
# Power of the statistical clauses

Generated by `python -m conformance.proof.power --out reports/proof/power.md`
(with `power.json` beside it); `tests/test_power.py` checks that it matches the
code. Every figure is read from the properties (their `@statistical` markers
and explicit examples), `conformance/strategies.py` (`fans()`, `bias_fans()`,
`STAT_EXAMPLES`) and the catalogue.

## The budget, and the alpha of one check

A run has one false-alarm budget A = {budget:g}. The T statistical tests that
run share it equally (Bonferroni): A / T each. A test with k checks per example,
`STAT_EXAMPLES` = E = {examples} drawn examples and e explicit ones plans k (E + e)
checks and gives each alpha = A / (T k (E + e)); a check rejects when its
p-value is below alpha. By the union bound a correct framework fails a run
with probability at most A. T depends on the framework (the statistical
clauses that list it): {tests}. Each row uses the largest T among the
frameworks it concerns, so its alpha is the smallest any of them spends.

## What a row says

A deviation is detected when the property's check rejects. "n" is the
smallest sample the claim rests on: the smallest layer `fans()` draws
({low} x {low_apart} = {n_weight} entries: the smaller fan at least {low}, the
larger at least {apart} times it, at most {high}), the smallest bias
`bias_fans()` draws ({bias} entries), or an explicit example. The analytic
power is per example at that n; "per run" is the chance that the run of the
property detects it: 1 - miss^E over the E drawn examples (for a deviation
whose side depends on which fan is larger, the worse side's miss), the
explicit example's own power where the claim rests on it, and, for the
"differ" check, the chance that all k (E + e) checks of a correct framework
reject (a framework whose range ignores a fan passes that check with
probability at most its alpha, by construction). The smallest detectable
deviation is the one nearest to none whose analytic power at n is {power}.

How the power is computed:

* **Exact checks** (support, truncation, zeros; no alpha spent): a law putting a
  fraction q of its entries outside the documented support is missed with
  probability (1 - q)^n. U(-r a, r a) has q = 1 - 1/r: a uniform bound that is
  too wide, even by 0.1 %, is caught with certainty at these n.
* **Chi-square variance**: for a normal law the statistic is r^2 chi2(n)
  under a scale error r, exact. For a uniform or truncated normal law the same
  test runs on the normal scores z = Phi^-1(F(x)), exactly N(0, 1) under the
  documented law; under a law r < 1 times narrower z is squeezed (for the
  uniform, z is N(0, 1) cut at +-Phi^-1((1 + r) / 2)), and the power uses the
  normal approximation of the sum of the z^2, with their mean and variance
  computed exactly (uniform) or by quadrature (truncated normal).
* **Kolmogorov-Smirnov**: a lower bound. D_n >= |F_n(x*) - F(x*)| at the x*
  where the two laws' CDFs differ most, n F_n(x*) is binomial, and the test
  rejects when D_n > `kstwo.isf(alpha, n)` (scipy's `kstest` p-value is
  `kstwo.sf`). The two-sample test (range-from-in-and-out) is bounded the
  same way at the narrower law's bound, with scipy's asymptotic critical value.
* **Pearson chi-square** of the three mixture counts: noncentral chi2 with 2
  degrees of freedom and non-centrality n w^2.

The simulation draws R = {replicates} samples of the tested deviation (numpy,
seed {seed}, float32 like a framework's weights) at n (at most {sim_max}, the
largest drawn layer: a row resting on a larger explicit example is simulated
there, where its analytic power is already above {power}) and runs each through
the property's own check at the real alpha: `check_law`, `check_mixture` or
`StatRecorder.ks_differ`. With no miss in {replicates} the one-sided 95 %
Clopper-Pearson lower bound is {lb0:.6f} >= {power}. One row has R = {slow}:
there each check costs ~0.2 s (scipy's exact KS p-value far in the
tail at n = {sim_max}), and its claim rests on the analytic bound, which is far
from tight. The simulation took {seconds} s on the project's 2 shared cores.

The MXNet and Keras U(-0.07, 0.07) clauses run the same `check_law` with the
same plan as xavier-uniform and a T no larger, so its uniform rows bound theirs.

## The table

"""

FOOTER = """
Parameters: {params}.

Not covered here: a mean error of the normal initialiser (the KS check of
N(mu, sigma^2) sees it, not the variance test); the mixture's magnitudes
(KS against U(5, 10)); and anything an explicit check asserts exactly
(support, zeros), whose power is 1 - (1 - q)^n as above.
"""


def render(report: dict[str, Any]) -> str:
    fans = report["fans"]
    head = HEADER.format(
        budget=report["budget"], examples=report["stat_examples"], power=report["power"],
        tests=", ".join(f"{f} {t}" for f, t in report["statistical_tests"].items()),
        low=fans["low"], low_apart=fans["low"] * fans["apart"], apart=fans["apart"], high=fans["high"],
        n_weight=fans["low"] ** 2 * fans["apart"], bias=report["bias_fans"]["n_out"][0],
        replicates=report["replicates"], seed=report["seed"], sim_max=SIM_MAX_N,
        lb0=lower_bound(0, report["replicates"]), seconds=report["simulation_seconds"],
        slow=report["replicates"] // 10,
    )
    lines = [
        (f"| clause | deviation | check | frameworks (T) | n | alpha / check | detectable at power "
         f"{report['power']} | tested | power per example | per run | simulated: misses / R at n "
         "(one-sided 95 % lower bound) |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        sim = r["simulated"]
        lines.append(
            f"| `{r['clause']}` | {r['deviation']} | {r['check']} | {', '.join(r['frameworks'])} "
            f"({r['statistical_tests']}) | {r['n']} ({r['where']}) | {r['alpha']:.3g} | "
            f"{_size(r['param'], r['detectable'])} | {_size(r['param'], r['size'])} | {_power(r['miss'])} | "
            f"{_power(r['miss_per_run'])} | {sim['misses']} / {sim['replicates']} at {sim['n']} "
            f"({sim['lower_bound']:.6f}) |"
        )
    return head + "\n".join(lines) + "\n" + FOOTER.format(
        params="; ".join(f"{k}: {v}" for k, v in PARAMS.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.proof.power",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/proof/power.md"),
                        help="the Markdown table; the JSON goes beside it (default: %(default)s)")
    parser.add_argument("--replicates", type=int, default=REPLICATES, help="simulated samples per row")
    args = parser.parse_args(argv)
    report = generate(args.replicates)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    args.out.write_text(render(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
