"""The aggregated likelihoods used in fits equal the weighted per-row ones."""

from __future__ import annotations

import numpy as np
import pytest

from clvframe.data.summary import summarise
from clvframe.models import bgnbd
from clvframe.models import gamma_gamma
from clvframe.models._validation import compress_rows
from clvframe.models.synthetic import simulate_transactions


@pytest.fixture(scope="module")
def summary():
    log = simulate_transactions(3000, seed=7)
    return summarise(log, time_unit="week")


@pytest.mark.parametrize(
    "theta", [(0.24, 4.4, 0.79, 2.4), (1.0, 1.0, 1.0, 1.0), (3.0, 0.2, 5.0, 0.3)]
)
def test_bgnbd_summed_equals_weighted_rows(summary, theta):
    columns = [summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    (x, tx, t_end), w = compress_rows(columns, np.ones(len(summary)))
    theta = np.array(theta)
    ll, grad = bgnbd.BetaGeoModel()._loglik(theta, x, tx, t_end)
    total, total_grad = bgnbd._SummedLoglik(x, tx, t_end, w)(theta)
    assert total == pytest.approx(float(w @ ll), rel=1e-12)
    np.testing.assert_allclose(total_grad, w @ grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("theta", [(6.0, 3.7, 15.0), (1.0, 2.0, 40.0), (0.5, 10, 2)])
def test_gamma_gamma_summed_equals_weighted_rows(summary, theta):
    repeat = summary[summary["frequency"] > 0]
    x = repeat["frequency"].to_numpy(dtype=float)
    m = repeat["monetary_value"].to_numpy()
    w = np.random.default_rng(0).integers(1, 4, x.size).astype(float)
    theta = np.array(theta)
    ll, grad = gamma_gamma._loglik(theta, x, m)
    total, total_grad = gamma_gamma._SummedLoglik(x, m, w)(theta)
    assert total == pytest.approx(float(w @ ll), rel=1e-12)
    np.testing.assert_allclose(total_grad, w @ grad, rtol=1e-9, atol=1e-9)


def test_gamma_gamma_names_bad_rows_by_series_position():
    import pandas as pd

    from clvframe.errors import DataValidationError

    ids = pd.Series(["a", "b", "c"], index=[10, 11, 12])
    with pytest.raises(DataValidationError, match=r"first customer ids: \['b'\]"):
        gamma_gamma.GammaGammaModel().fit([1, 2, 3], [5.0, -1.0, 2.0], customer_ids=ids)
