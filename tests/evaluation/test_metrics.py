"""Tests of the holdout metrics, on tiny frames computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from scipy import stats

from clvframe.errors import DataValidationError
from clvframe.evaluation.metrics import HOLDOUT_METRIC_KEYS
from clvframe.evaluation.metrics import decile_table
from clvframe.evaluation.metrics import fit_metrics
from clvframe.evaluation.metrics import gain_curve
from clvframe.evaluation.metrics import gini
from clvframe.evaluation.metrics import holdout_metrics
from clvframe.evaluation.metrics import normalized_gini
from clvframe.evaluation.metrics import roc_auc
from clvframe.evaluation.metrics import spearman
from clvframe.evaluation.metrics import top_share


@pytest.fixture
def five() -> pd.DataFrame:
    """Five customers whose every metric is worked out in the tests below."""
    return pd.DataFrame(
        {
            "frequency_holdout": [0, 1, 2, 3, 4],
            "expected_purchases": [0.5, 1.0, 1.5, 3.0, 5.0],
            "spend_holdout": [0.0, 10.0, 20.0, 30.0, 40.0],
            "expected_spend": [5.0, 10.0, 15.0, 30.0, 50.0],
            "p_alive": [0.6, 0.9, 0.6, 0.3, 0.95],
        },
        index=pd.Index(["a", "b", "c", "d", "e"], name="customer_id"),
    )


def test_holdout_metrics_match_hand_values(five: pd.DataFrame) -> None:
    got = holdout_metrics(five)

    # purchases residuals 0.5, 0, -0.5, 0, 1; spend residuals 5, 0, -5, 0, 10
    assert got["holdout_purchases_mae"] == pytest.approx(0.4)
    assert got["holdout_purchases_rmse"] == pytest.approx(math.sqrt(1.5 / 5))
    assert got["holdout_purchases_bias"] == pytest.approx(0.2)
    assert got["holdout_spend_mae"] == pytest.approx(4.0)
    assert got["holdout_spend_rmse"] == pytest.approx(math.sqrt(150 / 5))
    assert got["holdout_spend_bias"] == pytest.approx(2.0)
    # totals 11 vs 10 purchases, 110 vs 100 spend
    assert got["holdout_purchases_error"] == pytest.approx(0.1)
    assert got["holdout_revenue_error"] == pytest.approx(0.1)
    # the ordering of predicted spend is the ordering of actual spend
    assert got["holdout_spend_spearman"] == pytest.approx(1.0)
    assert got["holdout_gini"] == pytest.approx(1.0)
    # top 10% of 5 customers = half of the best one (40 of 100) pro rata
    assert got["holdout_top10_revenue_share"] == pytest.approx(0.2)
    assert got["holdout_top_decile_lift"] == pytest.approx(2.0)
    assert got["holdout_top1_revenue_share"] == pytest.approx(0.05 * 40 / 100)
    # deciles 2,4,6,8,10: |50-40|/40, 0, |15-20|/20, 0; decile 10 has actual 0
    assert got["holdout_decile_mape"] == pytest.approx(0.5 / 4)
    # the non-buyer (0.6) against buyers 0.9, 0.6, 0.3, 0.95: 1 + 0.5 + 0 + 1
    assert got["holdout_churn_auc"] == pytest.approx(2.5 / 4)


def test_holdout_metrics_keys_are_the_stable_names(five: pd.DataFrame) -> None:
    both = five.assign(p_repurchase=five["p_alive"])
    assert list(holdout_metrics(both)) == list(HOLDOUT_METRIC_KEYS)
    assert list(holdout_metrics(five)) == list(HOLDOUT_METRIC_KEYS[:-1])
    no_alive = five.drop(columns="p_alive")
    assert list(holdout_metrics(no_alive)) == list(HOLDOUT_METRIC_KEYS[:-2])
    empty_alive = five.assign(p_alive=float("nan"))
    assert list(holdout_metrics(empty_alive)) == list(HOLDOUT_METRIC_KEYS[:-2])


def test_holdout_metrics_score_p_repurchase_on_its_own_key(
    five: pd.DataFrame,
) -> None:
    frame = five.rename(columns={"p_alive": "p_repurchase"})
    assert holdout_metrics(frame)["holdout_repurchase_auc"] == pytest.approx(0.625)
    assert "holdout_churn_auc" not in holdout_metrics(frame)


def test_holdout_metrics_omit_auc_when_everyone_bought(
    five: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    frame = five.assign(frequency_holdout=[1, 1, 2, 3, 4])
    got = holdout_metrics(frame)
    assert "holdout_churn_auc" not in got
    assert "5 of 5 customers bought" in caplog.text


def test_holdout_metrics_are_invariant_to_row_order() -> None:
    rng = np.random.default_rng(7)
    n = 200
    frame = pd.DataFrame(
        {
            "frequency_holdout": rng.poisson(1.0, n),
            # few distinct values, so tied blocks straddle every cut
            "expected_purchases": rng.integers(0, 4, n) / 2,
            "expected_spend": rng.integers(0, 5, n) * 10.0,
            "p_alive": rng.integers(0, 3, n) / 2,
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )
    frame["spend_holdout"] = frame["frequency_holdout"] * rng.gamma(2.0, 15.0, n)
    expected = holdout_metrics(frame)

    for seed in range(3):
        shuffled = frame.sample(frac=1.0, random_state=seed)
        assert holdout_metrics(shuffled) == expected


def test_constant_prediction_gives_gini_zero_and_spearman_zero() -> None:
    actual = np.array([0.0, 5.0, 1.0, 30.0])
    predicted = np.full(4, 7.0)
    assert gini(predicted, actual) == pytest.approx(0.0)
    assert normalized_gini(predicted, actual) == pytest.approx(0.0)
    assert spearman(predicted, actual) == 0.0
    # one tied block: every top-k share is k itself
    assert top_share(predicted, actual, 0.25) == pytest.approx(0.25)


def test_perfect_and_reversed_orderings_give_gini_one_and_minus_one() -> None:
    actual = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    assert normalized_gini(actual * 2 + 1, actual) == pytest.approx(1.0)
    # reversed: gain-curve area 0.3, so Gini -0.4; perfect area 0.7, Gini 0.4
    assert gini(-actual, actual) == pytest.approx(-0.4)
    assert gini(actual, actual) == pytest.approx(0.4)
    assert normalized_gini(-actual, actual) == pytest.approx(-1.0)


def test_normalized_gini_is_zero_when_all_actuals_are_equal() -> None:
    actual = np.full(4, 3.0)
    assert normalized_gini(np.array([4.0, 3.0, 2.0, 1.0]), actual) == 0.0


def test_top_decile_lift_is_ten_when_the_top_tenth_holds_all_spend() -> None:
    n = 20
    frame = pd.DataFrame(
        {
            "frequency_holdout": [2, 1] + [0] * (n - 2),
            "spend_holdout": [50.0, 30.0] + [0.0] * (n - 2),
            "expected_purchases": np.linspace(2.0, 0.1, n),
            "expected_spend": np.linspace(60.0, 1.0, n),
        }
    )
    got = holdout_metrics(frame)
    assert got["holdout_top_decile_lift"] == pytest.approx(10.0)
    assert got["holdout_top10_revenue_share"] == pytest.approx(1.0)
    # top 1% is a fifth of the best customer: 0.2 * 50 / 80
    assert got["holdout_top1_revenue_share"] == pytest.approx(0.125)


def test_gain_curve_spreads_tied_blocks_pro_rata() -> None:
    predicted = np.array([3.0, 3.0, 1.0, 1.0])
    actual = np.array([10.0, 0.0, 5.0, 5.0])

    x, y = gain_curve(predicted, actual)

    np.testing.assert_allclose(x, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])
    # one customer of the first block: its mean actual 5 of 20
    assert top_share(predicted, actual, 0.25) == pytest.approx(0.25)
    x_rev, y_rev = gain_curve(predicted[::-1], actual[::-1])
    np.testing.assert_array_equal(y_rev, y)


def test_gain_curve_is_the_diagonal_without_spend() -> None:
    x, y = gain_curve(np.array([3.0, 2.0, 1.0]), np.zeros(3))
    np.testing.assert_allclose(y, x)
    np.testing.assert_allclose(x, [0.0, 1 / 3, 2 / 3, 1.0])


def test_decile_table_keeps_tied_predictions_in_one_decile() -> None:
    predicted = [30.0, 20.0, 20.0, 20.0, *range(16, 0, -1)]
    actual = [1.0, 2.0, 4.0, 6.0, *([1.0] * 16)]
    frame = pd.DataFrame({"expected_spend": predicted, "spend_holdout": actual})

    table = decile_table(frame)

    # ranks 2..4 share average rank 3, whose midpoint 2.5/20 lies in decile 2
    assert table.index.tolist() == list(range(1, 11))
    assert table["customers"].tolist() == [1, 3, 2, 2, 2, 2, 2, 2, 2, 2]
    assert table.loc[2, "mean_predicted_spend"] == pytest.approx(20.0)
    assert table.loc[2, "mean_actual_spend"] == pytest.approx(4.0)
    assert table.loc[2, "actual_spend_share"] == pytest.approx(12.0 / 29.0)
    assert table.loc[10, "mean_predicted_spend"] == pytest.approx(1.5)
    shuffled = frame.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(decile_table(shuffled), table)


def test_decile_table_leaves_empty_deciles_with_zero_customers() -> None:
    frame = pd.DataFrame(
        {"expected_spend": [3.0, 2.0, 1.0], "spend_holdout": [3.0, 0.0, 1.0]}
    )
    table = decile_table(frame)
    # rank midpoints 0.5/3, 1.5/3, 2.5/3 fall in deciles 2, 6 (0.5 opens it), 9
    assert table["customers"].tolist() == [0, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    assert math.isnan(table.loc[1, "mean_actual_spend"])
    assert table.loc[1, "actual_spend_share"] == 0.0


def test_roc_auc_matches_mann_whitney() -> None:
    rng = np.random.default_rng(11)
    score = rng.integers(0, 6, 60).astype(float)
    positive = rng.random(60) < 0.4
    u_statistic = stats.mannwhitneyu(score[positive], score[~positive]).statistic
    expected = u_statistic / (positive.sum() * (~positive).sum())
    assert roc_auc(score, positive) == pytest.approx(expected)


def test_roc_auc_hand_value_with_ties() -> None:
    # positives 0.8, 0.4 against negatives 0.4, 0.1: 1 + 1 + 0.5 + 1 of 4 pairs
    got = roc_auc(np.array([0.8, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    assert got == pytest.approx(3.5 / 4)


def test_roc_auc_rejects_a_single_class() -> None:
    with pytest.raises(DataValidationError, match="needs both classes"):
        roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))


def test_spearman_matches_scipy_on_ties() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, 40).astype(float)
    b = a + rng.integers(0, 3, 40)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)


def test_fit_metrics_hand_values() -> None:
    got = fit_metrics(log_likelihood=-100.0, n_params=4, n_obs=50)
    assert got == pytest.approx(
        {
            "fit_log_likelihood": -100.0,
            "fit_aic": 208.0,
            "fit_bic": 4 * math.log(50) + 200.0,
        }
    )


def test_fit_metrics_rejects_non_finite_likelihood() -> None:
    with pytest.raises(DataValidationError, match="log_likelihood must be finite"):
        fit_metrics(log_likelihood=float("nan"), n_params=4, n_obs=50)
    with pytest.raises(DataValidationError, match="n_obs must be >= 1"):
        fit_metrics(log_likelihood=-1.0, n_params=4, n_obs=0)


def test_holdout_metrics_name_the_missing_column(five: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="missing column.*expected_spend"):
        holdout_metrics(five.drop(columns="expected_spend"))


def test_holdout_metrics_name_the_column_with_nan(five: pd.DataFrame) -> None:
    frame = five.astype({"spend_holdout": float})
    frame.loc["c", "spend_holdout"] = np.nan
    with pytest.raises(DataValidationError, match=r"'spend_holdout' has 1 .*\['c'\]"):
        holdout_metrics(frame)


def test_holdout_metrics_reject_a_holdout_without_purchases(five: pd.DataFrame) -> None:
    frame = five.assign(frequency_holdout=0, spend_holdout=0.0)
    with pytest.raises(DataValidationError, match="frequency_holdout is 0"):
        holdout_metrics(frame)


def test_holdout_metrics_reject_a_holdout_without_spend(five: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="spend_holdout sums to 0"):
        holdout_metrics(five.assign(spend_holdout=0.0))


def test_holdout_metrics_reject_an_empty_frame(five: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="no customers"):
        holdout_metrics(five.iloc[:0])


def test_holdout_metrics_with_constant_predictions_are_finite(
    five: pd.DataFrame,
) -> None:
    got = holdout_metrics(five.assign(expected_spend=20.0, p_alive=0.5))
    assert all(math.isfinite(value) for value in got.values())
    assert got["holdout_gini"] == 0.0
    assert got["holdout_spend_spearman"] == 0.0
    assert got["holdout_top10_revenue_share"] == pytest.approx(0.1)
    assert got["holdout_churn_auc"] == pytest.approx(0.5)
    # all five share rank 3, midpoint 2.5/5: one decile, mean 20 against 100/5
    assert got["holdout_decile_mape"] == pytest.approx(0.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5), st.floats(0, 100, allow_nan=False), st.integers(0, 3)
        ),
        min_size=2,
        max_size=30,
    )
)
def test_gain_curve_properties(rows: list[tuple[int, float, int]]) -> None:
    predicted = np.array([float(p) for p, _, _ in rows])
    actual = np.array([a for _, a, _ in rows])

    x, y = gain_curve(predicted, actual)

    assert x[0] == 0.0
    assert y[0] == 0.0
    assert x[-1] == pytest.approx(1.0)
    assert y[-1] == pytest.approx(1.0)
    assert np.all(np.diff(x) > 0)
    assert np.all(np.diff(y) >= -1e-12)
    assert -1.0 - 1e-9 <= normalized_gini(predicted, actual) <= 1.0 + 1e-9
    perm = np.argsort([k for _, _, k in rows], kind="stable")
    x_perm, y_perm = gain_curve(predicted[perm], actual[perm])
    np.testing.assert_array_equal(x_perm, x)
    np.testing.assert_array_equal(y_perm, y)
