"""Sampling laws written in the catalogue's params, turned into checks.

A law is a mapping from a clause's params: ``family`` (uniform, normal,
truncated_normal, zeros) and either a fixed ``bound`` / ``std`` or a ``fan``
(fan_in, fan_out, fan_avg) with a ``scale``: the bound or pre-truncation
standard deviation is ``sqrt(scale / fan)``. A normal law may have a ``mean``.

Which checks a family gets, and how small a deviation they detect at the sample
sizes the properties draw, is derived in ``reports/proof/power.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special
from scipy import stats as sps

from conformance.stats import StatRecorder, truncated_normal_cdf

#: checks check_law spends per sample (a variance test and KS; zeros: none)
CHECKS_PER_LAW = 2
#: standard deviation of N(0, 1) truncated at +-2
TRUNCATED_STD = 0.87962566103423978
#: normal scores are computed from CDF values clipped to [SCORE_CLIP, 1 - SCORE_CLIP]:
#: an entry rounded onto a truncation bound then adds at most 41 to the chi-square sum
SCORE_CLIP = 1e-10


def _fan(law: dict[str, Any], fan_in: int, fan_out: int) -> float:
    fan = law.get("fan")
    if fan == "fan_in":
        return fan_in
    if fan == "fan_out":
        return fan_out
    if fan == "fan_avg":
        return (fan_in + fan_out) / 2
    raise ValueError(f"law {law} needs a fixed bound/std or a fan of fan_in, fan_out, fan_avg")


def scale_of(law: dict[str, Any], fan_in: int, fan_out: int) -> float:
    """The uniform bound or the (pre-truncation) standard deviation."""
    for fixed in ("bound", "std"):
        if fixed in law:
            return float(law[fixed])
    return float(np.sqrt(float(law.get("scale", 1.0)) / _fan(law, fan_in, fan_out)))


def check_law(stat: StatRecorder, sample: np.ndarray, law: dict[str, Any], fan_in: int, fan_out: int,
              *, what: str) -> None:
    """Assert ``sample`` follows ``law``: its support exactly (no alpha spent),
    its scale with a chi-square test of the variance of its normal scores
    Phi^-1(F(x)), which are N(0, 1) under the law (for a normal law, the
    standardised entries themselves), and its distribution with a
    Kolmogorov-Smirnov test: ``CHECKS_PER_LAW`` checks. The variance test sees
    a scale error KS would need ten times the entries or more for."""
    x = np.asarray(sample, dtype=np.float64).ravel()
    family = law.get("family")
    if family == "zeros":
        nz = np.flatnonzero(x)
        assert nz.size == 0, (
            f"{what}: documented zeros, {nz.size} of {x.size} entries are not 0 (e.g. {x[nz[0]]})"
        )
        return
    s = scale_of(law, fan_in, fan_out)
    # float32 rounding of a bound computed in float64 may put an entry an ulp or two out
    slack = float(np.spacing(np.float32(s)))
    if family == "normal":
        mean = float(law.get("mean", 0.0))
        doc = f"documented N({mean:.6g}, {s:.6g}^2)"
        stat.variance(x, s, mean=mean, label=what + ", variance", detail=doc)
        stat.ks(x, sps.norm(loc=mean, scale=s).cdf, label=what, detail=doc)
        return
    if family == "uniform":
        bound, cdf, doc = s, sps.uniform(loc=-s, scale=2 * s).cdf, f"documented U(-{s:.6g}, {s:.6g})"
    elif family == "truncated_normal":
        bound, cdf, doc = 2 * s, truncated_normal_cdf(s), f"documented N(0, {s:.6g}^2) truncated at 2 std"
    else:
        raise ValueError(f"{what}: unknown law family {family!r} in the catalogue")
    worst = float(np.abs(x).max())
    assert worst <= bound + 2 * slack, (
        f"{what}: |entry| up to {worst:.8g} outside the documented bound {bound:.8g}"
    )
    scores = special.ndtri(np.clip(cdf(x), SCORE_CLIP, 1 - SCORE_CLIP))
    stat.variance(scores, 1.0, label=what + ", variance of the normal scores", detail=doc)
    stat.ks(x, cdf, label=what, detail=doc)
