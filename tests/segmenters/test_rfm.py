from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from clvframe._plugins import build_registry
from clvframe.config.compose import compose_config
from clvframe.config.compose import config_dir
from clvframe.data.summary import summarise
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.experiment import make_segmenter
from clvframe.segmenters.rfm import DEFAULT_GRID
from clvframe.segmenters.rfm import DEFAULT_ORDER
from clvframe.segmenters.rfm import RFMSegmenter
from clvframe.segmenters.rfm import fixed_scores
from clvframe.segmenters.rfm import quantile_scores

FIXED = {
    "recency": [30, 90, 180, 365],
    "frequency": [2, 3, 5, 8],
    "monetary": [50, 100, 250, 500],
}


def customers(rows: dict[str, tuple[int, float, float, float]]) -> pd.DataFrame:
    """Customers from (frequency, days since first purchase to last, T, spend)."""
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["frequency", "recency", "T", "total_spend"]
    )
    frame.index.name = "customer_id"
    return frame


# --- tie-aware quantile scores ----------------------------------------------


def test_quantile_scores_without_ties_are_quintiles():
    # Ten distinct values: two per quintile, whatever their spacing or order.
    values = [3.0, 100.0, -1.0, 7.5, 8.0, 0.0, 55.0, 12.0, 9.0, 2.0]
    expected = {-1.0: 1, 0.0: 1, 2.0: 2, 3.0: 2, 7.5: 3, 8.0: 3, 9.0: 4, 12.0: 4}
    expected.update({55.0: 5, 100.0: 5})
    assert quantile_scores(values).tolist() == [expected[v] for v in values]


def test_a_block_larger_than_a_quintile_takes_one_score_and_the_rest_spread():
    # 60 customers bought once (0), the other 40 all differ: the block scores
    # 1 and the 40 are split into quartiles over scores 2 to 5.
    values = np.array([0] * 60 + list(range(1, 41)), dtype=float)
    scores = quantile_scores(values)
    assert set(scores[:60]) == {1}
    assert [set(scores[60 + 10 * q : 70 + 10 * q]) for q in range(4)] == [
        {2},
        {3},
        {4},
        {5},
    ]


def test_a_block_at_the_top_takes_the_top_score():
    values = np.array(list(range(40)) + [100] * 60, dtype=float)
    scores = quantile_scores(values)
    assert set(scores[40:]) == {5}
    assert [set(scores[10 * q : 10 * q + 10]) for q in range(4)] == [{1}, {2}, {3}, {4}]


def test_few_distinct_values_get_distinct_scores_with_the_ends_anchored():
    assert quantile_scores([1, 2]).tolist() == [1, 5]
    assert quantile_scores([7, 7, 7]).tolist() == [3, 3, 3]
    # Thirds: ends anchored, the middle third at its mid-rank quantile
    # (mid-rank 1/2 -> 1 + floor(5 / 2) = 3).
    assert quantile_scores([0, 0, 1, 1, 2, 2]).tolist() == [1, 1, 3, 3, 5, 5]


def test_quantile_scores_refuse_missing_values():
    with pytest.raises(DataValidationError, match="1 values to score are missing"):
        quantile_scores([1.0, np.nan, 2.0])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_quantile_scores_rules_hold_on_tied_data(values, rng):
    array = np.array(values, dtype=float)
    scores = quantile_scores(array)
    by_value = {}
    for value, score in zip(array, scores, strict=True):
        by_value.setdefault(value, set()).add(int(score))
    # Identical values, identical scores; never a lower score for a higher value.
    assert all(len(s) == 1 for s in by_value.values())
    ordered = [by_value[v].pop() for v in sorted(by_value)]
    assert ordered == sorted(ordered)
    assert all(1 <= s <= 5 for s in ordered)
    if len(ordered) > 1:
        assert ordered[0] == 1 and ordered[-1] == 5
    if len(ordered) <= 5:
        assert len(set(ordered)) == len(ordered)
    # Row order plays no part.
    shuffled = list(range(len(array)))
    rng.shuffle(shuffled)
    assert (quantile_scores(array[shuffled]) == scores[shuffled]).all()


def test_fixed_scores_follow_the_cut_points():
    days = [0, 30, 31, 90, 91, 365, 366]
    assert fixed_scores(days, FIXED["recency"], descending=True).tolist() == [
        5,
        5,
        4,
        4,
        3,
        2,
        1,
    ]
    purchases = [1, 2, 3, 4, 5, 7, 8, 20]
    assert fixed_scores(purchases, FIXED["frequency"], descending=False).tolist() == [
        1,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]


# --- the shared ties case ----------------------------------------------------


@pytest.fixture
def ties(read_case) -> pd.DataFrame:
    log = read_case("rfm-ties.csv")
    return summarise(log, observation_end="2024-03-31", time_unit="day")


def test_rfm_ties_case(ties):
    """rfm-ties: most bought once; H (5 purchases, latest, most spend) tops F."""
    scores = RFMSegmenter(time_unit="day").scores(ties)
    f = scores["f_score"]
    assert f["H"] == 5
    assert f["G"] < f["H"]
    # Identical frequencies (A to F bought once) share a score, below G's.
    assert f[list("ABCDEF")].nunique() == 1
    assert f["A"] < f["G"]
    assert scores.loc["H", "r_score"] == 5 and scores.loc["H", "m_score"] == 5
    # A higher value never gets a lower score, in each of R, F and M.
    idle = ties["T"] - ties["recency"]
    for column, value in (
        ("r_score", -idle),
        ("f_score", ties["frequency"]),
        ("m_score", ties["total_spend"]),
    ):
        order = value.sort_values(kind="stable").index
        assert scores.loc[order, column].is_monotonic_increasing


def test_rfm_ties_scores_do_not_depend_on_row_order(ties):
    segmenter = RFMSegmenter(time_unit="day")
    forward = segmenter.scores(ties)
    backward = segmenter.scores(ties.iloc[::-1])
    pd.testing.assert_frame_equal(forward, backward.loc[forward.index])


# --- segments ----------------------------------------------------------------


def test_recency_counts_days_to_the_observation_end_in_the_data_unit():
    # Weeks: T - recency = 1 week = 7 days (R 5 under 30 days), 10 weeks = 70
    # days (R 4), 60 weeks = 420 days (R 1). The log is from 2019; today's
    # date plays no part.
    frame = customers(
        {
            "a": (7, 20.0, 21.0, 900.0),
            "b": (0, 0.0, 10.0, 40.0),
            "c": (3, 5.0, 65.0, 120.0),
        }
    )
    scores = RFMSegmenter(scoring="fixed", cut_points=FIXED).scores(frame)
    assert scores["r_score"].tolist() == [5, 4, 1]
    assert scores["f_score"].tolist() == [5, 1, 3]
    assert scores["m_score"].tolist() == [5, 1, 3]
    assert scores["rfm"].tolist() == ["555", "411", "133"]
    in_days = frame.assign(recency=frame["recency"] * 7, T=frame["T"] * 7)
    assert (
        RFMSegmenter(scoring="fixed", cut_points=FIXED, time_unit="day")
        .scores(in_days)
        .equals(scores)
    )


def test_the_grid_names_each_cell():
    frame = customers(
        {
            "champion": (9, 100.0, 101.0, 900.0),  # R5 F5
            "lost": (0, 0.0, 80.0, 10.0),  # R1 F1
            "new": (0, 0.0, 1.0, 10.0),  # R5 F1
            "cannot lose": (9, 10.0, 80.0, 900.0),  # R1 F5
            "attention": (2, 40.0, 55.0, 60.0),  # R3 (105 days) F3
        }
    )
    segments = RFMSegmenter(scoring="fixed", cut_points=FIXED).assign(frame)
    assert segments.tolist() == [
        "champions",
        "lost",
        "new",
        "cannot lose",
        "need attention",
    ]
    assert list(segments.cat.categories) == list(DEFAULT_ORDER)
    assert segments.cat.ordered


def test_grid_columns_fm_uses_the_rounded_up_mean_of_f_and_m():
    # F1 and M5 give FM 3: with R5 the cell is "potential loyalists", not "new".
    frame = customers({"x": (0, 0.0, 1.0, 900.0)})
    segmenter = RFMSegmenter(scoring="fixed", cut_points=FIXED, grid_columns="fm")
    assert segmenter.assign(frame).tolist() == ["potential loyalists"]
    assert RFMSegmenter(scoring="fixed", cut_points=FIXED).assign(frame).tolist() == [
        "new"
    ]


def test_shipped_config_holds_the_mapping_and_a_user_can_replace_it():
    shipped = yaml.safe_load(
        (Path(config_dir()) / "segmenter" / "rfm.yaml").read_text()
    )
    assert shipped["params"]["grid"] == DEFAULT_GRID
    assert tuple(shipped["params"]["order"]) == DEFAULT_ORDER

    cfg = compose_config(
        [
            "segmenter=rfm",
            "segmenter.params.grid.r1=[gone,gone,gone,gone,gone]",
            "segmenter.params.order=null",
        ]
    )
    segmenter = make_segmenter(cfg, build_registry(autoload=False))
    assert isinstance(segmenter, RFMSegmenter)
    assert segmenter.time_unit == "week"
    assert (
        "gone" in segmenter.segment_names() and "lost" not in segmenter.segment_names()
    )


def test_bad_grid_order_and_options_are_config_errors():
    frame = customers({"x": (0, 0.0, 1.0, 10.0)})
    with pytest.raises(ConfigError, match=r"grid: needs exactly the rows"):
        RFMSegmenter(grid={"r5": ["a"] * 5}).assign(frame)
    with pytest.raises(ConfigError, match=r"row r3 needs 5 segment names"):
        RFMSegmenter(grid={**DEFAULT_GRID, "r3": ["a", "b"]}).assign(frame)
    with pytest.raises(ConfigError, match=r"order: must list each segment.*missing"):
        RFMSegmenter(order=["champions"]).assign(frame)
    with pytest.raises(ConfigError, match=r"scoring: must be one of"):
        RFMSegmenter(scoring="deciles").assign(frame)
    with pytest.raises(
        ConfigError, match=r"cut_points.frequency: fixed scoring needs 4"
    ):
        RFMSegmenter(
            scoring="fixed", cut_points={**FIXED, "frequency": [3, 2, 5, 8]}
        ).assign(frame)


def test_missing_columns_are_named():
    frame = customers({"x": (0, 0.0, 1.0, 10.0)}).drop(columns="total_spend")
    with pytest.raises(DataValidationError, match=r"lacks \['total_spend'\]"):
        RFMSegmenter().assign(frame)
    # One customer: every score is the middle one, R3 F3 is "need attention".
    assert RFMSegmenter(monetary="T").assign(frame).tolist() == ["need attention"]
