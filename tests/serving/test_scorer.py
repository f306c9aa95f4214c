"""The scoring core: hand-computed scores, frozen tiers, clean input errors."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from clvframe.data.summary import CustomerData
from clvframe.data.transactions import prepare_transactions
from clvframe.errors import DataValidationError
from clvframe.estimators.historic import HistoricEstimator
from clvframe.estimators.probabilistic import BetaGeoEstimator
from clvframe.segmenters.tiers import ValueTiers
from clvframe.serving.scorer import CLVScorer
from clvframe.serving.scorer import ModelSettings
from clvframe.serving.scorer import ScoringInputError
from clvframe.serving.scorer import freeze_segmenter
from clvframe.serving.scorer import load_estimator
from clvframe.serving.scorer import redact
from clvframe.serving.scorer import tier_thresholds

# Customer A buys on days 0, 7 and 14 (10, 20, 30); B once on day 21 (40).
# Observed to day 28: A has frequency 2, T 4 weeks, mean repeat amount 25.
LOG = pd.DataFrame(
    {
        "customer_id": ["A", "A", "A", "B"],
        "timestamp": ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"],
        "amount": ["10", "20", "30", "40"],
    }
)
AS_OF = "2024-01-29"
TIERS = ["top 25%", "top 25%-50%", "rest (bottom 50%)"]


def _scorer(**overrides) -> CLVScorer:
    log = prepare_transactions(LOG)
    estimator = HistoricEstimator().fit(
        CustomerData.from_transactions(log, observation_end=AS_OF)
    )
    reference = pd.DataFrame({"clv": [100.0, 50.0, 10.0, 0.0]})
    spec = freeze_segmenter(ValueTiers(cut_points=[0.25, 0.5]), reference)
    values = {
        "estimator": "historic",
        "observation_end": AS_OF,
        "horizon": 10.0,
        "horizon_unit": "week",
        "margin": 0.5,
        "discount_rate": 0.0,
        "segmenter": spec,
        **overrides,
    }
    return CLVScorer(estimator, ModelSettings(**values))


def test_tier_thresholds_by_hand():
    # 10 values 10..1: the top 10% is the single highest; the top 50% the five
    # highest, so the cut values are the 1st and the 5th largest.
    assert tier_thresholds(np.arange(1.0, 11.0), [0.1, 0.5]) == [10.0, 6.0]
    # A block of equal values at a cut goes wholly to the higher tier.
    assert tier_thresholds(np.array([5.0, 5.0, 5.0, 1.0]), [0.25]) == [5.0]
    # One customer: values below theirs fall past the cut; an empty reference
    # has no customer above anyone, hence no threshold.
    assert tier_thresholds(np.array([3.0]), [0.5]) == [3.0]
    assert tier_thresholds(np.array([]), [0.5]) == [None]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.sampled_from([0.0, 1.0, 2.5, 2.5, 7.0, 40.0, 41.0, 1000.0]),
        min_size=1,
        max_size=40,
    ),
    cuts=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True),
)
def test_frozen_tiers_label_the_reference_as_value_tiers_do(values, cuts):
    segmenter = ValueTiers(cut_points=sorted(cuts))
    reference = pd.DataFrame({"clv": values})
    spec = freeze_segmenter(segmenter, reference)
    expected = segmenter.assign(reference).astype(str)

    scorer = _scorer(segmenter=spec)
    labels = scorer._segments.assign(reference)

    assert labels.tolist() == expected.tolist()


def test_historic_scores_by_hand():
    scores = _scorer().score(LOG).set_index("customer_id")

    a, b = scores.loc["A"], scores.loc["B"]
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (
        2,
        2.0,
        4.0,
        25.0,
    )
    # 2 repeat purchases in 4 weeks: 0.5 a week, 5 in 10 weeks of 25 each.
    assert a["expected_purchases"] == pytest.approx(5.0)
    assert a["expected_spend"] == pytest.approx(125.0)
    assert a["clv"] == pytest.approx(125.0 * 0.5)
    assert a["historic_clv"] == pytest.approx(60.0 * 0.5)
    assert np.isnan(a["p_alive"])
    assert (b["expected_purchases"], b["clv"], b["historic_clv"]) == (0.0, 0.0, 20.0)
    # 62.5 lies between the reference's cut values 50 and 100.
    assert (a["segment"], b["segment"]) == ("top 25%-50%", "rest (bottom 50%)")
    assert list(scores.index) == ["A", "B"]


def test_discounted_clv_by_hand():
    scores = _scorer().score(LOG, {"discount_rate": 0.1}).set_index("customer_id")

    # Purchases at 0.5/7 a day, discounted at the end of each month
    # (30.4375 days) and at the horizon (70 days), 10% a year.
    ends = [30.4375, 60.875, 70.0]
    starts = [0.0, *ends[:-1]]
    value = sum(
        0.5 / 7 * (end - start) * 1.1 ** (-end / 365.25)
        for start, end in zip(starts, ends, strict=True)
    )
    assert scores.loc["A", "clv"] == pytest.approx(value * 25 * 0.5, rel=1e-12)


def test_tiers_rank_on_the_packaged_settings_whatever_the_request_asks():
    scores = _scorer().score(LOG, {"margin": 0.01, "horizon": 1.0})

    # CLV 0.125 alone would be 'rest'; at the packaged settings it is 62.5.
    assert scores["clv"].iloc[0] == pytest.approx(0.125)
    assert scores["segment"].tolist() == ["top 25%-50%", "rest (bottom 50%)"]


def test_as_of_leaves_later_rows_out_and_latest_takes_the_last_day():
    early = _scorer().score(LOG, {"as_of": "2024-01-15"}).set_index("customer_id")
    latest = _scorer().score(LOG, {"as_of": "latest"}).set_index("customer_id")

    assert list(early.index) == ["A"]
    assert (early.loc["A", "frequency"], early.loc["A", "T"]) == (2, 2.0)
    # The last day of the log is B's only purchase, day 21: A's T is 3 weeks.
    assert latest.loc["A", "T"] == 3.0
    assert latest.loc["B", "T"] == 0.0


def test_missing_column_is_named():
    with pytest.raises(ScoringInputError, match=r"missing column\(s\) \['amount'\]"):
        _scorer().score(LOG.drop(columns="amount"))


def test_text_amounts_are_counted_by_row_without_their_values():
    log = LOG.assign(amount=["10", "12,5", "thirty", "40"])

    with pytest.raises(ScoringInputError, match="2 values are not numbers") as caught:
        _scorer().score(log)

    message = str(caught.value)
    assert "rows 1, 2" in message
    assert "12,5" not in message and "thirty" not in message


def test_unparseable_dates_are_counted_by_row_without_their_values():
    log = LOG.assign(timestamp=["2024-01-01", "01/08/2024", "soon", "2024-01-22"])

    with pytest.raises(
        ScoringInputError, match="2 values cannot be read as dates"
    ) as caught:
        _scorer().score(log)

    message = str(caught.value)
    assert "ISO 8601" in message
    assert "01/08/2024" not in message and "soon" not in message


def test_as_of_before_every_row_is_refused_without_data_dates():
    with pytest.raises(
        ScoringInputError, match="all 4 transactions fall after it"
    ) as caught:
        _scorer().score(LOG, {"as_of": "2020-01-01"})

    assert "2024" not in str(caught.value)


def test_every_bad_parameter_is_listed():
    bad = {"horizon": 0, "horizon_unit": "fortnight", "margin": "all", "as_of": "soon"}

    with pytest.raises(ScoringInputError, match="parameters: ") as caught:
        _scorer().score(LOG, {**bad, "colour": "red"})

    message = str(caught.value)
    for name in (
        "horizon must",
        "horizon_unit must",
        "margin must",
        "as_of must",
        "'colour'",
    ):
        assert name in message


def test_warnings_are_logged_without_customer_ids(caplog):
    secret = LOG.assign(
        customer_id=["cust-7731", "cust-7731", "cust-7731", "cust-9902"]
    )
    duplicated = pd.concat([secret, secret.iloc[[3]]], ignore_index=True)

    with caplog.at_level(logging.WARNING, logger="clvframe.serving.scorer"):
        _scorer().score(duplicated)

    messages = [r.getMessage() for r in caplog.records]
    assert any("1 rows are exact duplicates" in m for m in messages)
    assert not any("cust-" in m for m in messages)


def test_categorical_columns_are_read_as_text():
    log = LOG.astype({"customer_id": "category", "amount": "category"})

    scores = _scorer().score(log)

    assert scores["customer_id"].tolist() == ["A", "B"]
    assert scores["clv"].iloc[0] == pytest.approx(62.5)


def test_a_non_table_input_is_refused():
    with pytest.raises(ScoringInputError, match="expected a table of transactions"):
        _scorer().score({"customer_id": ["A"]})


def test_a_model_saved_by_one_estimator_cannot_be_loaded_as_another(tmp_path):
    log = prepare_transactions(LOG)
    HistoricEstimator().fit(CustomerData.from_transactions(log)).save(tmp_path)

    with pytest.raises(DataValidationError, match="cannot be loaded as 'bgnbd'"):
        BetaGeoEstimator.load(tmp_path)
    with pytest.raises(DataValidationError, match="packaged as 'bgnbd'"):
        load_estimator(tmp_path, expected="bgnbd")
    assert isinstance(load_estimator(tmp_path, expected="historic"), HistoricEstimator)


def test_settings_survive_a_round_trip(tmp_path):
    settings_in = _scorer().settings

    settings_out = ModelSettings.read(settings_in.write(tmp_path / "settings.json"))

    assert settings_out == settings_in
    assert settings_out.default_params() == {
        "as_of": AS_OF,
        "horizon": 10.0,
        "horizon_unit": "week",
        "margin": 0.5,
        "discount_rate": 0.0,
    }


def test_settings_of_another_format_are_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"format": 99, "estimator": "historic"}')

    with pytest.raises(DataValidationError, match="format 1 expected"):
        ModelSettings.read(path)


def test_redact_keeps_column_names_and_drops_values_and_examples():
    message = (
        "transactions: 3 rows are exact duplicates (first: customer 'x1' on "
        "2024-01-01); column 'amount' holds 'abc'"
    )

    assert redact(message, keep=["amount"]) == (
        "transactions: 3 rows are exact duplicates; column 'amount' holds '...'"
    )
