from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from clvframe.data.summary import summarise
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.features import RFM_FEATURES
from clvframe.features import build_features
from clvframe.features import build_labels
from clvframe.features import choose_levels
from clvframe.features import resolve_extra_columns
from clvframe.loaders.cdnow import load_cdnow


def _log(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["customer_id", "timestamp", "amount", "channel"]
    )
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"], format="ISO8601"))


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_cdnow()


# Two customers, hand-checked below. Cutoff 2021-01-29 (a Friday).
TINY = _log(
    [
        ("a", "2021-01-01 10:00", 10.0, "web"),
        ("a", "2021-01-01 18:00", 5.0, "app"),  # same day: one period of 15
        ("a", "2021-01-08", 20.0, "web"),
        ("a", "2021-01-22", 40.0, "app"),
        ("a", "2021-01-29 23:59", 25.0, "web"),  # on the cutoff day: counted
        ("a", "2021-01-30 00:00", 999.0, "app"),  # after it: never read
        ("b", "2021-01-15", 30.0, "store"),
        ("b", "2021-01-20", -30.0, "store"),  # a return on its own day
        ("c", "2021-02-03", 50.0, "web"),  # first seen after the cutoff
    ]
)
CUTOFF = "2021-01-29"


def test_build_features_matches_hand_computation():
    features = build_features(
        TINY,
        CUTOFF,
        windows=[1, 2],
        time_unit="week",
        extra_columns={"channel": ["shares", "counts", "spend_shares"]},
        top_levels=2,
    )

    assert list(features.index) == ["a", "b"]
    a, b = features.loc["a"], features.loc["b"]
    # a: periods on days 0, 7, 21, 28 with amounts 15, 20, 40, 25.
    assert a["frequency"] == 3
    assert a["recency"] == pytest.approx(28 / 7)
    assert a["T"] == pytest.approx(28 / 7)
    assert a["monetary_value"] == pytest.approx((20 + 40 + 25) / 3)
    assert a["recency_gap"] == pytest.approx(0.0)
    assert a["first_amount"] == 15 and a["last_amount"] == 25 and a["max_amount"] == 40
    assert a["mean_amount"] == pytest.approx(100 / 4)
    assert a["total_spend"] == pytest.approx(100.0)
    assert a["n_rows"] == 5 and a["n_returns"] == 0
    gaps = np.array([7, 14, 7]) / 7
    assert a["ipt_mean"] == pytest.approx(gaps.mean())
    assert a["ipt_std"] == pytest.approx(gaps.std())
    assert a["ipt_min"] == pytest.approx(1.0) and a["ipt_max"] == pytest.approx(2.0)
    assert a["overdue"] == pytest.approx(0.0)
    # Last 1 week: days 22..28 -> the periods of day 28 only (day 21 is 7 days back).
    assert a["purchases_last_1"] == 1 and a["spend_last_1"] == 25
    assert a["purchases_last_2"] == 2 and a["spend_last_2"] == 65
    # Midpoint of days 0..28 is 14: two periods before, two after.
    assert a["trend_purchases"] == pytest.approx(0.0)
    assert a["trend_spend"] == pytest.approx((65 - 35) / 100)
    # Levels ranked by rows up to the cutoff: web 3, app 2 (store 2 loses the tie).
    assert features.attrs["levels"] == {"channel": ["web", "app"]}
    assert a["x_channel_share_web"] == pytest.approx(3 / 5)
    assert a["x_channel_count_app"] == 2
    assert a["x_channel_spend_share_app"] == pytest.approx(45 / 100)
    assert a["x_channel_share_other"] == 0
    # b: one purchase period (day 14); its return leaves total spend at 0.
    assert b["frequency"] == 0 and b["monetary_value"] == 0
    assert b["T"] == pytest.approx(14 / 7)
    assert np.isnan(b["ipt_mean"]) and np.isnan(b["overdue"])
    assert b["total_spend"] == 0 and b["n_returns"] == 1 and b["n_rows"] == 2
    assert b["x_channel_share_other"] == 1
    assert b["trend_purchases"] == -1


def test_build_features_rfm_equals_the_engine_summary(cdnow):
    cutoff = "1997-09-30"
    features = build_features(cdnow, cutoff)
    summary = summarise(
        cdnow[cdnow["timestamp"] < "1997-10-01"], observation_end=cutoff
    )

    summary = summary.sort_index()
    assert features.index.equals(summary.index)
    for column in (*RFM_FEATURES, "total_spend"):
        np.testing.assert_allclose(features[column], summary[column], rtol=1e-12)


def test_build_features_unchanged_when_later_rows_are_appended(cdnow):
    cutoff = pd.Timestamp("1997-06-30")
    before = cdnow[cdnow["timestamp"] <= cutoff]
    features = build_features(before, cutoff, extra_columns={"n_items": ["sum", "max"]})

    later = build_features(cdnow, cutoff, extra_columns={"n_items": ["sum", "max"]})

    pd.testing.assert_frame_equal(features, later)
    assert len(cdnow) > len(before)


START = pd.Timestamp("2022-01-01")
timestamps = st.integers(min_value=0, max_value=60 * 24 * 60).map(
    lambda minutes: START + pd.Timedelta(minutes=minutes)
)
rows = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    timestamps,
    st.floats(min_value=-20, max_value=100, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from(["web", "app", "store", "phone"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    early=st.lists(rows, min_size=1, max_size=25),
    late=st.lists(rows, min_size=1, max_size=25),
    cutoff_day=st.integers(min_value=0, max_value=59),
)
def test_build_features_never_reads_after_the_cutoff(early, late, cutoff_day):
    cutoff = START + pd.Timedelta(days=cutoff_day)
    log = _log([(c, str(t), a, ch) for c, t, a, ch in early])
    log = log[log["timestamp"] < cutoff + pd.Timedelta(days=1)]
    after = cutoff + pd.Timedelta(days=1)
    appended = _log([(c, str(after + (t - START)), a, ch) for c, t, a, ch in late])
    try:
        expected = build_features(log, cutoff, windows=[1, 4], top_levels=2)
    except DataValidationError:
        return  # nothing bought by the cutoff (only returns, or no rows)

    grown = pd.concat([log, appended]).sample(frac=1.0, random_state=0)
    got = build_features(grown, cutoff, windows=[1, 4], top_levels=2)

    pd.testing.assert_frame_equal(expected, got)


def test_season_share_counts_purchases_in_the_same_days_a_year_earlier():
    log = _log(
        [
            ("s", "2020-02-10", 10.0, "web"),  # 354 days back: Feb 10 is in season
            ("s", "2020-06-01", 10.0, "web"),
            ("s", "2021-01-10", 10.0, "web"),
        ]
    )
    both = pd.concat([log, TINY])

    # The 30 days after 2021-01-29 are Jan 30 - Feb 28; a year earlier alike.
    features = build_features(both, CUTOFF, season_days=30)

    assert features.loc["s", "season_share"] == pytest.approx(1 / 3)
    assert np.isnan(features.loc["a", "season_share"])  # 4 weeks of history
    assert "season_share" not in build_features(both, CUTOFF).columns


def test_build_features_uses_given_levels_and_counts_unseen_ones_as_other():
    features = build_features(
        TINY,
        CUTOFF,
        extra_columns={"channel": ["shares"]},
        levels={"channel": ["store"]},
    )

    assert [c for c in features.columns if c.startswith("x_")] == [
        "x_channel_share_store",
        "x_channel_share_other",
    ]
    assert features.loc["a", "x_channel_share_other"] == 1
    assert features.loc["b", "x_channel_share_store"] == 1


def test_resolve_extra_columns_auto_reads_numeric_text_and_skips_dates():
    log = TINY.assign(
        discount=["0.5", "1", "0", "2", "0", "0", "1", "0", "3"],
        shipped=pd.Timestamp("2021-02-01"),
    )

    with pytest.warns(DataWarning, match=r"1 extra column\(s\) \['shipped'\]"):
        spec = resolve_extra_columns(log, "auto")

    assert spec == {"channel": ("shares",), "discount": ("sum", "mean")}
    features = build_features(log, CUTOFF, extra_columns=spec)
    assert features.loc["a", "x_discount_sum"] == pytest.approx(3.5)


def test_resolve_extra_columns_reports_every_bad_entry():
    with pytest.raises(
        ConfigError, match=r"'region' is not an extra column.*'channel' is categorical"
    ):
        resolve_extra_columns(TINY, {"region": ["sum"], "channel": ["sum"]})


def test_choose_levels_breaks_ties_by_text():
    assert choose_levels(TINY, {"channel": ("shares",)}, top_levels=3) == {
        "channel": ["web", "app", "store"]
    }


def test_build_features_without_purchases_by_the_cutoff_is_an_error():
    with pytest.raises(DataValidationError, match="no purchase period on or before"):
        build_features(TINY, "2020-12-31")


def test_build_labels_counts_the_window_after_the_cutoff_like_the_holdout(cdnow):
    from clvframe.data.summary import calibration_and_holdout

    frame = calibration_and_holdout(cdnow, calibration_end="1997-09-30")
    days = (frame.attrs["observation_end"] - frame.attrs["calibration_end"]).days

    labels = build_labels(cdnow, "1997-09-30", window_days=days, customers=frame.index)

    np.testing.assert_array_equal(labels["purchases"], frame["frequency_holdout"])
    np.testing.assert_allclose(labels["spend"], frame["spend_holdout"])


def test_build_labels_window_bounds():
    labels = build_labels(
        TINY, "2021-01-22", window_days=7, customers=pd.Index(["a", "b", "z"])
    )

    # Days 23..29: a's 25 on the 29th; the 999 on the 30th is outside.
    assert labels.loc["a"].tolist() == [1.0, 25.0]
    assert labels.loc["b"].tolist() == [0.0, 0.0]
    assert labels.loc["z"].tolist() == [0.0, 0.0]
