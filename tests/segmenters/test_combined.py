import pandas as pd
import pytest

from clvframe._plugins import build_registry
from clvframe.config.compose import compose_config
from clvframe.errors import ConfigError
from clvframe.experiment import make_segmenter
from clvframe.segmenters.combined import CombinedSegmenter
from clvframe.segmenters.rfm import RFMSegmenter
from clvframe.segmenters.tiers import ValueTiers

FIXED = {
    "recency": [30, 90, 180, 365],
    "frequency": [2, 3, 5, 8],
    "monetary": [50, 100, 250, 500],
}


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = {
        "a": (9, 100.0, 101.0, 900.0, 50.0),  # champions, top half
        "b": (0, 0.0, 80.0, 10.0, 1.0),  # lost, bottom half
        "c": (0, 0.0, 1.0, 10.0, 2.0),  # new, bottom half
        "d": (9, 10.0, 80.0, 900.0, 40.0),  # cannot lose, top half
    }
    columns = ["frequency", "recency", "T", "total_spend", "clv"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def spec(name, **params):
    return {"name": name, "params": params}


def test_rfm_within_tiers_joins_both_labels(frame):
    combined = CombinedSegmenter(
        outer=spec("tiers", cut_points=[0.5]),
        inner=spec("rfm", scoring="fixed", cut_points=FIXED),
    )
    labels = combined.assign(frame)
    tiers = ValueTiers(cut_points=[0.5]).assign(frame)
    rfm = RFMSegmenter(scoring="fixed", cut_points=FIXED).assign(frame)
    assert labels.tolist() == [f"{t} / {r}" for t, r in zip(tiers, rfm, strict=True)]
    assert labels.tolist() == [
        "top 50% / champions",
        "rest (bottom 50%) / lost",
        "rest (bottom 50%) / new",
        "top 50% / cannot lose",
    ]
    # Outer first, then the inner order; empty combinations left out.
    assert list(labels.cat.categories) == [
        "top 50% / champions",
        "top 50% / cannot lose",
        "rest (bottom 50%) / new",
        "rest (bottom 50%) / lost",
    ]
    kept = CombinedSegmenter(
        outer=spec("tiers", cut_points=[0.5]),
        inner=spec("rfm", scoring="fixed", cut_points=FIXED),
        keep_empty=True,
    ).assign(frame)
    assert len(kept.cat.categories) == 2 * 11
    assert combined.scores(frame)["rfm"].tolist() == ["555", "111", "511", "155"]


def test_rfm_within_tiers_config_builds_both_parts():
    cfg = compose_config(
        ["segmenter=rfm_within_tiers", "segmenter.params.outer.params.cut_points=[0.2]"]
    )
    segmenter = make_segmenter(cfg, build_registry(autoload=False))
    outer, inner = segmenter.parts()
    assert isinstance(outer, ValueTiers) and outer.cut_points == [0.2]
    assert isinstance(inner, RFMSegmenter) and inner.grid["r5"][0] == "new"


def test_unknown_or_malformed_parts_are_config_errors(frame):
    with pytest.raises(ConfigError, match=r"segmenter.params.inner.name: 'rmf'"):
        CombinedSegmenter(outer=spec("tiers"), inner=spec("rmf")).assign(frame)
    with pytest.raises(ConfigError, match=r"params.outer: must be a segmenter"):
        CombinedSegmenter(outer="tiers", inner=spec("rfm")).assign(frame)
