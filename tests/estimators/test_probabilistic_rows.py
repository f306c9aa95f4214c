"""Predictions computed on distinct summary rows equal the per-customer ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from clvframe.errors import DataValidationError
from clvframe.estimators.probabilistic import BetaGeoEstimator
from clvframe.estimators.probabilistic import ParetoNBDEstimator
from clvframe.estimators.valuation import Valuation
from clvframe.estimators.valuation import discounted_value
from clvframe.models._validation import compress_rows
from clvframe.models._validation import group_rows


def _summary(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """A summary on a coarse grid, so that many customers share a row."""
    rng = np.random.default_rng(seed)
    frequency = rng.integers(0, 5, n).astype(float)
    T = rng.integers(2, 8, n).astype(float)
    recency = np.where(frequency > 0, np.minimum(rng.integers(1, 8, n), T), 0.0)
    spend = np.where(frequency > 0, rng.gamma(4.0, 10.0, n), 0.0)
    frame = pd.DataFrame(
        {"frequency": frequency, "recency": recency, "T": T, "monetary_value": spend},
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )
    frame.attrs["time_unit"] = "week"
    return frame


@pytest.mark.parametrize("estimator_cls", [BetaGeoEstimator, ParetoNBDEstimator])
def test_predictions_on_distinct_rows_equal_per_customer(estimator_cls) -> None:
    summary = _summary()
    estimator = estimator_cls(penalizer=0.01).fit(summary)
    valuation = Valuation(discount_rate=0.1, margin=0.3)
    rows, inverse = estimator._prediction_rows(summary)
    assert inverse is not None and len(rows) < len(summary) / 2

    forecast = estimator.predict(summary, horizon=10, valuation=valuation)

    # The same quantities straight from the model, one customer per row.
    model = estimator.model_
    args = [summary[c].to_numpy() for c in ("frequency", "recency", "T")]
    expected = model.conditional_expected_purchases(10.0, *args)
    spend = estimator.spend_model_.expected_spend(summary)
    clv = discounted_value(
        lambda t: model.conditional_expected_purchases(t, *args),
        spend,
        horizon_days=70.0,
        unit_length_days=7.0,
        valuation=valuation,
    )
    np.testing.assert_allclose(forecast["expected_purchases"], expected, rtol=1e-12)
    np.testing.assert_allclose(forecast["p_alive"], model.p_alive(*args), rtol=1e-12)
    np.testing.assert_allclose(forecast["clv"], clv, rtol=1e-12)
    np.testing.assert_allclose(forecast["expected_spend"], expected * spend, rtol=1e-12)


def test_group_rows_matches_numpy_unique() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 1000).astype(float)
    b = rng.integers(0, 3, 1000).astype(float)
    first, inverse = group_rows([a, b])
    # Every row maps to a group holding the same values, and groups differ.
    np.testing.assert_array_equal(a[first][inverse], a)
    np.testing.assert_array_equal(b[first][inverse], b)
    expected = np.unique(np.column_stack([a, b]), axis=0).shape[0]
    assert first.size == expected
    (ua, ub), counts = compress_rows([a, b], np.ones(1000))
    assert counts.sum() == 1000
    assert counts[0] == np.sum((a == ua[0]) & (b == ub[0]))


def _reference_groups(columns: list[np.ndarray]) -> list[tuple]:
    """Each row's group as the tuple of its values (NaN compared as equal)."""
    return [tuple(repr(float(c[i])) for c in columns) for i in range(len(columns[0]))]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-3, 3),
            st.sampled_from([0.0, 0.5, 1.0, 2.0 / 7, -4.0, 1e12, np.nan]),
            st.integers(0, 2**40),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_group_rows_groups_equal_rows_only(rows) -> None:
    # Whole numbers in short and huge ranges, fractions, negatives and NaN:
    # rows share a group exactly when every value is the same.
    a, b, c = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
    c = c.astype(np.int64)
    first, inverse = group_rows([a, b, c])
    keys = _reference_groups([a, b, c])
    assert len(set(keys)) == first.size
    for i, key in enumerate(keys):
        assert keys[first[inverse[i]]] == key
        # The representative is the group's first row.
        assert first[inverse[i]] == keys.index(key)


@pytest.mark.parametrize(
    "column",
    [
        np.array([-100, 100, -100, 5], dtype=np.int8),
        np.array([3, 3, -3], dtype=np.int16),
        np.array([-(2**62), 2**62, 0, 2**62], dtype=np.int64),
        np.array([-(2**63), 2**63 - 1, 0, 0], dtype=np.int64),
        np.array([2**64 - 1, 2**64 - 2, 2**64 - 1], dtype=np.uint64),
        np.array([2.0**63, 1.0, 2.0**63]),
    ],
)
def test_group_rows_on_integers_of_any_width(column) -> None:
    # Ranges that overflow the column's own type must not break the coding.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first, inverse = group_rows([column])
    np.testing.assert_array_equal(column[first][inverse], column)
    assert first.size == np.unique(column).size


@pytest.mark.parametrize(
    ("value", "message"), [(np.nan, "missing or infinite"), (-5.0, "negative")]
)
def test_spend_of_repeat_buyers_is_checked_when_scoring(value, message) -> None:
    summary = _summary()
    estimator = BetaGeoEstimator().fit(summary)
    repeat = summary.index[summary["frequency"] > 0][1]
    bad = summary.copy()
    bad.loc[repeat, "monetary_value"] = value
    expected = rf"1 repeat buyers .*{message}.*{repeat}"
    with pytest.raises(DataValidationError, match=expected):
        estimator.predict(bad, horizon=10)


def test_spend_fit_names_the_customer_with_a_missing_amount() -> None:
    summary = _summary()
    repeat = summary.index[summary["frequency"] > 0][2]
    summary.loc[repeat, "monetary_value"] = np.inf
    with pytest.raises(DataValidationError, match=f"missing or infinite.*{repeat}"):
        BetaGeoEstimator().fit(summary)
