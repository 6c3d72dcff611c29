"""The power table (reports/proof/power.md) matches the code, and its claims hold.

Three guards: the committed table's deterministic columns are what the code
gives now (sample sizes, alphas, analytic powers: a change to ``fans()``, a
marker or the catalogue that moves them fails here until the table is
regenerated); every row claims power >= ``POWER`` per run and its own
simulation agrees; and a cheap simulation of every row, at the real alpha,
detects the deviation again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from conformance.proof import power
from conformance.properties import test_builtin_init as builtin
from conformance.properties import test_custom_init as custom
from conformance.properties import test_default_init as default
from conformance.strategies import BIAS_OUT, FAN_APART, FAN_HIGH, FAN_LOW, STAT_EXAMPLES

TABLE = Path(__file__).resolve().parent.parent / "reports" / "proof" / "power.md"
COMMITTED = json.loads(TABLE.with_suffix(".json").read_text(encoding="utf-8"))
#: columns a regeneration reproduces without simulating
DETERMINISTIC = ("clause", "deviation", "check", "frameworks", "statistical_tests", "checks", "examples",
                 "explicit", "where", "n", "alpha", "param", "size", "detectable", "miss", "miss_per_run",
                 "n_sim", "miss_at_n_sim")
#: the cheap simulation: CHEAP replicates, at most one miss (SLOW replicates, none, for slow rows)
CHEAP, SLOW = 200, 20
#: the chance that a deviation the table says is detected fails the cheap simulation anyway
FLAKE = 1e-6

STATISTICAL_WITH_FANS = (
    default.test_default_weight_follows_documented_law,
    default.test_mxnet_default_weights_are_uniform_007,
    default.test_keras_default_weights_are_uniform_007,
    builtin.test_normal_initialiser,
    builtin.test_xavier_uniform_initialiser,
    builtin.test_xavier_normal_initialiser,
    custom.test_mixture_initialiser,
)


@pytest.fixture(scope="module")
def regenerated() -> dict[str, dict[str, Any]]:
    results = [power.analyse(r) for r in power.rows()]
    power.per_run(results)
    return {r["id"]: r for r in results}


@pytest.fixture(scope="module")
def rows() -> dict[str, power.Row]:
    return {r.id: r for r in power.rows()}


def test_committed_table_matches_the_code(regenerated):
    committed = {r["id"]: r for r in COMMITTED["rows"]}
    assert list(committed) == list(regenerated), "rows added, removed or reordered: regenerate the table"
    for rid, now in regenerated.items():
        for key in DETERMINISTIC:
            want, got = committed[rid][key], now[key]
            if isinstance(got, float):
                assert got == pytest.approx(want, rel=1e-6, abs=1e-300), (rid, key, want, got)
            else:
                assert got == want, (rid, key, want, got)
    assert COMMITTED["stat_examples"] == STAT_EXAMPLES
    assert COMMITTED["fans"] == {"low": FAN_LOW, "high": FAN_HIGH, "apart": FAN_APART}
    assert TABLE.read_text(encoding="utf-8") == power.render(COMMITTED), "power.md is not power.json rendered"


def test_every_row_claims_the_power_and_its_simulation_agrees():
    for r in COMMITTED["rows"]:
        sim = r["simulated"]
        assert 1 - r["miss_per_run"] >= power.POWER, (r["id"], r["miss_per_run"])
        assert r["detectable"] is not None, r["id"]
        assert sim["lower_bound"] == pytest.approx(power.lower_bound(sim["misses"], sim["replicates"]))
        # Where R allows it the simulation alone shows the claim; the slow rows
        # (R / 10) must at least see no miss.
        if sim["replicates"] >= COMMITTED["replicates"]:
            assert sim["lower_bound"] >= power.POWER, (r["id"], sim)
        else:
            assert sim["misses"] == 0, (r["id"], sim)


@pytest.mark.parametrize("rid", [r["id"] for r in COMMITTED["rows"]])
def test_cheap_simulation_detects_the_deviation(rid, rows, regenerated):
    """At most one miss in CHEAP replicates (none in SLOW for a slow row); the
    chance of failing although the table is right, from the analytic miss at
    the simulated n, is below FLAKE (the seed is fixed, so a pass is stable)."""
    row, res = rows[rid], regenerated[rid]
    replicates, allowed = (SLOW, 0) if row.slow else (CHEAP, 1)
    flake = sps.binom.sf(allowed, replicates, res["miss_at_n_sim"])
    assert flake < FLAKE, f"{rid}: this check would fail by chance with probability {flake:.2g}"
    plan, _, alpha = power.budget(row)
    misses = power.simulate(row, alpha, plan.planned, res["n_sim"], replicates, seed=power.SEED + 1)
    assert misses <= allowed, f"{rid}: {misses} misses in {replicates}"


@pytest.mark.parametrize("test", STATISTICAL_WITH_FANS, ids=lambda t: t.__name__)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_properties_draw_the_layers_the_table_assumes(test, data):
    # Hypothesis keeps a test's strategies in ``_given_kwargs``: drawing from
    # them is drawing exactly what the property draws.
    n_in, n_out = data.draw(test.hypothesis._given_kwargs["fan"], label="fan")
    small, large = sorted((n_in, n_out))
    assert small >= FAN_LOW and large >= FAN_APART * small and large <= FAN_HIGH, (n_in, n_out)
    assert n_in * n_out >= power.N_WEIGHT
    assert test._hypothesis_internal_use_settings.max_examples == STAT_EXAMPLES


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_bias_and_range_properties_draw_what_the_table_assumes(data):
    bias_fan = default.test_default_bias_follows_documented_law.hypothesis._given_kwargs["fan"]
    _, n_out = data.draw(bias_fan, label="bias fan")
    assert n_out >= BIAS_OUT[0]
    given_range = default.test_default_range_depends_on_in_and_out.hypothesis._given_kwargs
    small = data.draw(given_range["small"], label="small")
    large = data.draw(given_range["large"], label="large")
    assert default.RANGE_SMALL[0] <= small <= default.RANGE_SMALL[1]
    assert default.RANGE_LARGE[0] <= large <= default.RANGE_LARGE[1]
