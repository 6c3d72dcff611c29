"""The statistical checks' records: verdicts, budget accounting, plot data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from conformance.reporting import json_report
from conformance.stats import PLOT_PROBABILITIES, BudgetExceeded, ErrorBudget, truncated_normal_cdf


def recorder(checks: int = 4):
    return ErrorBudget(1e-6, tests=2).recorder(checks)


def test_alpha_is_the_tests_share_over_its_planned_checks():
    rec = recorder(4)
    assert rec.alpha_check == pytest.approx(1e-6 / 2 / 4)


def test_a_check_beyond_the_plan_is_refused():
    rec = recorder(1)
    x = np.random.default_rng(0).normal(size=1000)
    rec.ks(x, sps.norm.cdf, label="first")
    with pytest.raises(BudgetExceeded):
        rec.ks(x + 1e-9, sps.norm.cdf, label="second")


@pytest.mark.parametrize(
    "cdf, ppf",
    [
        (sps.norm.cdf, sps.norm.ppf),
        (sps.uniform(loc=-2, scale=4).cdf, sps.uniform(loc=-2, scale=4).ppf),
        (truncated_normal_cdf(0.5), sps.truncnorm(-2, 2, scale=0.5).ppf),
    ],
)
def test_ks_records_quantiles_against_the_documented_law(cdf, ppf):
    x = ppf(np.random.default_rng(1).uniform(size=5000))  # a sample of that law: the check passes
    r = recorder().ks(x, cdf, label="x")
    assert r.passed and r.plot["kind"] == "qq"
    np.testing.assert_allclose(r.plot["law"], ppf(PLOT_PROBABILITIES))
    np.testing.assert_allclose(r.plot["sample"], np.quantile(x, PLOT_PROBABILITIES))


def test_a_failed_check_still_records_its_plot():
    rec = recorder()
    with pytest.raises(AssertionError):
        rec.ks(np.random.default_rng(1).normal(scale=2.0, size=5000), sps.norm.cdf, label="x")
    assert rec.records[0].plot["kind"] == "qq" and not rec.records[0].passed


def test_a_law_without_quantile_function_has_no_plot():
    x = np.random.default_rng(2).uniform(size=2000)
    r = recorder().ks(x, lambda v: np.clip(v, 0, 1), label="bare cdf")
    assert r.plot is None


def test_counts_and_two_sample_plots():
    rec = recorder()
    r = rec.chisquare(
        np.array([250, 500, 250]), np.array([0.25, 0.5, 0.25]), label="c", labels=["a", "b", "c"]
    )
    assert r.plot == {"kind": "counts", "labels": ["a", "b", "c"], "observed": [250.0, 500.0, 250.0],
                      "expected": [250.0, 500.0, 250.0]}
    rng = np.random.default_rng(3)
    r2 = rec.ks_differ(rng.uniform(-1, 1, 4000), rng.uniform(-2, 2, 4000), label="d")
    assert r2.plot["kind"] == "qq2" and len(r2.plot["a"]) == len(r2.plot["b"]) == len(PLOT_PROBABILITIES)


def test_plot_data_is_not_part_of_a_records_identity():
    """A replayed check (same sample, same statistic) is the same record, plot or not."""
    from dataclasses import replace

    r = recorder().ks(np.random.default_rng(4).normal(size=500), sps.norm.cdf, label="x")
    assert replace(r, plot=None) == r


def test_plot_data_fits_the_report_schema():
    r = recorder().ks(np.random.default_rng(5).normal(size=500), sps.norm.cdf, label="x")
    item_schema = json_report.schema()["$defs"]["plot"]
    import jsonschema

    jsonschema.validate(r.plot, item_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**r.plot, "kind": "pie"}, item_schema)
