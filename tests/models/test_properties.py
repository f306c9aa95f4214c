"""Property tests: every purchase model on random valid summaries.

Outputs must be finite, P(alive) in [0, 1], expected purchases non-negative
and non-decreasing in the horizon, with no RuntimeWarning (overflow, invalid
value, division by zero), for frequencies and T in the thousands.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from clvframe.errors import BoundaryWarning
from clvframe.models.bgbb import BetaGeoBetaBinomModel
from clvframe.models.bgnbd import BetaGeoModel
from clvframe.models.mbgnbd import ModifiedBetaGeoModel
from clvframe.models.paretonbd import ParetoNBDModel

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def summaries(draw: st.DrawFn) -> tuple[float, float, float]:
    T = draw(st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=5000.0)))
    frequency = draw(st.integers(min_value=0, max_value=5000))
    if frequency == 0 or T == 0:
        # A repeat purchase needs time after the first: T = 0 means x = 0.
        return 0.0, 0.0, T
    share = draw(st.floats(min_value=1e-6, max_value=1.0))
    return float(frequency), share * T, T


positive = st.floats(min_value=0.05, max_value=20.0)
scale = st.floats(min_value=0.1, max_value=200.0)


@st.composite
def purchase_models(draw: st.DrawFn):
    kind = draw(st.sampled_from(["bgnbd", "mbgnbd", "paretonbd"]))
    if kind == "paretonbd":
        params = {
            "r": draw(positive),
            "alpha": draw(scale),
            "s": draw(positive),
            "beta": draw(scale),
        }
        return ParetoNBDModel.from_params(params)
    params = {
        "r": draw(positive),
        "alpha": draw(scale),
        "a": draw(positive),
        "b": draw(positive),
    }
    model_class = BetaGeoModel if kind == "bgnbd" else ModifiedBetaGeoModel
    return model_class.from_params(params)


@SETTINGS
@given(model=purchase_models(), summary=summaries(), horizon=st.floats(0.0, 5000.0))
def test_purchase_model_outputs_are_valid(model, summary, horizon) -> None:
    x, tx, T = summary
    horizons = np.array([0.0, horizon / 2, horizon, horizon + 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alive = model.p_alive(x, tx, T)
        expected = model.conditional_expected_purchases(horizons, x, tx, T)
        new = model.expected_purchases_new(horizons)
        p_zero = model.p_n_purchases(0, horizon, x, tx, T)
    assert np.isfinite(alive) and 0.0 <= alive <= 1.0
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert np.all(np.isfinite(new)) and np.all(new >= 0)
    assert expected[0] == 0.0 and new[0] == 0.0
    slack = 1e-9 * np.maximum(np.abs(expected[1:]), 1e-300)
    assert np.all(np.diff(expected) >= -slack)
    assert np.all(np.diff(new) >= -1e-9 * np.abs(new[1:]))
    assert np.isfinite(p_zero) and -1e-12 <= p_zero <= 1 + 1e-12


@st.composite
def discrete_summaries(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(min_value=1, max_value=2000))
    tx = draw(st.integers(min_value=0, max_value=n))
    x = 0 if tx == 0 else draw(st.integers(min_value=1, max_value=tx))
    return x, tx, n


@SETTINGS
@given(
    params=st.tuples(positive, positive, positive, positive),
    summary=discrete_summaries(),
    horizon=st.integers(0, 500),
)
def test_bgbb_outputs_are_valid(params, summary, horizon) -> None:
    model = BetaGeoBetaBinomModel.from_params(
        dict(zip(("alpha", "beta", "gamma", "delta"), params, strict=True))
    )
    x, tx, n = summary
    horizons = np.array([0, horizon // 2, horizon, horizon + 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alive = model.p_alive(x, tx, n)
        expected = model.conditional_expected_purchases(horizons, x, tx, n)
    assert np.isfinite(alive) and 0.0 <= alive <= 1.0
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert np.all(np.diff(expected) >= -1e-9 * np.abs(expected[1:]))


@pytest.mark.parametrize(
    "model_class", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel]
)
def test_fit_on_large_frequencies_and_long_histories_is_clean(model_class) -> None:
    # Random histories that no model generated: parameters may run off (a
    # BoundaryWarning), but nothing may overflow or turn NaN.
    rng = np.random.default_rng(0)
    n = 100
    T = rng.uniform(1000, 3000, n)
    x = rng.integers(0, 3000, n).astype(float)
    tx = np.where(x > 0, T * rng.uniform(0.5, 1.0, n), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", BoundaryWarning)
        model = model_class().fit(x, tx, T)
    assert all(np.isfinite(v) for v in model.params_.values())
    assert np.isfinite(model.log_likelihood_)
