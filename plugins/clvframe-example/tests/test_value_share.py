import pandas as pd
import pytest
from clvframe_example import ValueShareSegmenter

from clvframe._plugins import build_registry
from clvframe.errors import ConfigError


def test_segments_by_cumulative_value():
    customers = pd.DataFrame({"clv": [50.0, 30.0, 10.0, 5.0, 5.0]}, index=list("abcde"))
    segments = ValueShareSegmenter(shares=(0.5, 0.8)).assign(customers)
    # a holds 50%; b takes it to 80%; the rest share the last 20%.
    assert list(segments.cat.codes) == [0, 1, 2, 2, 2]


def test_ties_share_a_segment():
    customers = pd.DataFrame({"clv": [40.0, 40.0, 20.0]}, index=list("abc"))
    segments = ValueShareSegmenter(shares=(0.5,)).assign(customers)
    assert segments["a"] == segments["b"]


def test_bad_shares_are_a_config_error():
    with pytest.raises(ConfigError, match="must increase"):
        ValueShareSegmenter(shares=(0.8, 0.5)).assign(pd.DataFrame({"clv": [1.0]}))


def test_is_discovered_through_its_entry_point():
    component = build_registry().get("segmenter", "value_share")
    assert component.origin == "clvframe-example 0.1.0"
    assert component.cls is ValueShareSegmenter


def test_ships_its_config_group():
    from clvframe.config.compose import compose_config

    cfg = compose_config(["segmenter=value_share"])
    assert cfg.segmenter.name == "value_share"
    assert list(cfg.segmenter.params.shares) == [0.5, 0.8]
