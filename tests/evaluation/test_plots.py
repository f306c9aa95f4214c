"""Tests of the diagnostic plots: hand-checked curve data, readable figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from clvframe.errors import DataValidationError
from clvframe.evaluation.metrics import decile_table
from clvframe.evaluation.plots import plot_clv_distribution
from clvframe.evaluation.plots import plot_conditional_expectations
from clvframe.evaluation.plots import plot_deciles
from clvframe.evaluation.plots import plot_frequency_recency_heatmap
from clvframe.evaluation.plots import plot_gain_curve
from clvframe.evaluation.plots import plot_metrics_comparison
from clvframe.evaluation.plots import plot_tracking
from clvframe.evaluation.plots import repeat_transaction_curve


@pytest.fixture
def customers() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 300
    frequency = rng.poisson(1.5, n)
    expected = 0.4 * frequency + rng.gamma(1.0, 0.3, n)
    holdout = rng.poisson(expected)
    return pd.DataFrame(
        {
            "frequency": frequency,
            "frequency_holdout": holdout,
            "expected_purchases": expected,
            "spend_holdout": holdout * rng.gamma(2.0, 20.0, n),
            "expected_spend": expected * 40.0,
        }
    )


def _assert_readable(figure: Figure, path: Path) -> None:
    panels = [
        ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"
    ]
    assert panels
    has_title = figure.get_suptitle() or all(ax.get_title() for ax in panels)
    assert has_title
    assert all(ax.get_ylabel() for ax in panels)
    assert any(ax.get_xlabel() for ax in panels)
    figure.savefig(path)
    assert path.stat().st_size > 1000


def test_repeat_transaction_curve_matches_hand_values() -> None:
    ages_seen: list[np.ndarray] = []

    def expected_new(age: np.ndarray) -> np.ndarray:
        ages_seen.append(age)
        return 0.5 * age

    curve = repeat_transaction_curve(
        first_purchase=np.array([0.0, 0.0, 1.5]),
        repeat_times=np.array([0.5, 1.2, 2.0, 2.5, 3.1]),
        expected_new=expected_new,
        end=3.0,
    )

    # periods (0,1], (1,2], (2,3]; 2.0 closes the second; 3.1 is past the end
    np.testing.assert_allclose(curve["period"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(curve["actual"], [1.0, 2.0, 1.0])
    # cumulative: two customers from 0 give t; one from 1.5 gives 0.5 (t - 1.5)
    # at t = 0, 1, 2, 3: 0, 1, 2.25, 3.75
    np.testing.assert_allclose(curve["expected"], [1.0, 1.25, 1.5])
    assert all((age > 0).all() for age in ages_seen)


def test_repeat_transaction_curve_shortens_the_last_period() -> None:
    curve = repeat_transaction_curve(
        np.array([0.0]), np.array([2.4]), lambda age: age, end=2.5, step=1.0
    )
    np.testing.assert_allclose(curve["period"], [1.0, 2.0, 2.5])
    np.testing.assert_allclose(curve["expected"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(curve["actual"], [0.0, 0.0, 1.0])


def test_repeat_transaction_curve_rejects_a_wrong_shape() -> None:
    with pytest.raises(DataValidationError, match="expected_new returned shape"):
        repeat_transaction_curve(
            np.array([0.0, 1.0]), np.array([]), lambda age: age[:1], end=3.0
        )


def test_repeat_transaction_curve_rejects_a_zero_step() -> None:
    with pytest.raises(DataValidationError, match="end and step must be > 0"):
        repeat_transaction_curve(np.array([0.0]), np.array([]), np.sqrt, 3.0, 0.0)


def test_plot_tracking(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    firsts = rng.uniform(0, 12, 200)
    repeats = rng.uniform(0, 52, 500)
    curve = repeat_transaction_curve(firsts, repeats, lambda t: 0.1 * t, end=52.0)
    figure = plot_tracking(curve, cutoff=39.0, unit="weeks")
    assert len(figure.axes) == 2
    assert figure.axes[1].get_xlabel() == "time since start of the log (weeks)"
    _assert_readable(figure, tmp_path / "tracking.png")


def test_plot_conditional_expectations_buckets_seven_and_more(
    customers: pd.DataFrame, tmp_path: Path
) -> None:
    figure = plot_conditional_expectations(customers.assign(frequency=[9] + [0] * 299))
    labels = [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    assert labels == ["0\n(n=299)", "7+\n(n=1)"]
    _assert_readable(figure, tmp_path / "conditional.png")


def test_plot_conditional_expectations_requires_frequency(
    customers: pd.DataFrame,
) -> None:
    with pytest.raises(
        DataValidationError, match=r"missing column\(s\) \['frequency'\]"
    ):
        plot_conditional_expectations(customers.drop(columns="frequency"))


def test_plot_deciles(customers: pd.DataFrame, tmp_path: Path) -> None:
    figure = plot_deciles(decile_table(customers), currency="USD")
    assert figure.axes[0].get_ylabel() == "mean holdout spend per customer (USD)"
    _assert_readable(figure, tmp_path / "deciles.png")


def test_plot_gain_curve_shows_gini_in_title(tmp_path: Path) -> None:
    actual = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    figure = plot_gain_curve(-actual, actual)
    assert figure.axes[0].get_title() == "Gain curve (normalised Gini = -1.000)"
    _assert_readable(figure, tmp_path / "gain.png")


def test_plot_clv_distribution(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    clv = pd.Series(np.concatenate([rng.lognormal(4, 1.2, 500), np.zeros(20)]))
    figure = plot_clv_distribution(clv, {"top 1%": 900.0, "top 10%": 250.0, "all": 0.0})
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert [line.get_xdata()[0] for line in ax.get_lines()[-2:]] == [250.0, 900.0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "20 customers with CLV <= 0 not shown" in legend
    _assert_readable(figure, tmp_path / "clv.png")


def test_plot_frequency_recency_heatmap(tmp_path: Path) -> None:
    calls = []

    def func(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        calls.append(T)
        return frequency * recency / T

    figure = plot_frequency_recency_heatmap(func, 10, 20.0, "Expected purchases")
    assert calls[0].shape == (11, 21)
    assert np.all(calls[0] == 20.0)
    assert (
        figure.axes[0].get_title() == "Expected purchases (customer age T = 20 weeks)"
    )
    _assert_readable(figure, tmp_path / "heatmap.png")


def test_plot_frequency_recency_heatmap_rejects_a_wrong_shape() -> None:
    with pytest.raises(DataValidationError, match=r"func returned shape \(3,\)"):
        plot_frequency_recency_heatmap(lambda f, r, t: np.ones(3), 4, 5.0, "x")


def test_plot_metrics_comparison_highlights_the_best_run(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "run_name": ["bgnbd", "pareto", "historic"],
            "holdout_spend_mae": [3.0, 2.0, 4.0],
            "holdout_gini": [0.5, 0.7, 0.6],
            "holdout_revenue_error": [-0.05, 0.2, 0.1],
        },
        index=pd.Index(["r1", "r2", "r3"], name="run_id"),
    )
    metrics = ["holdout_spend_mae", "holdout_gini", "holdout_revenue_error"]

    figure = plot_metrics_comparison(table, metrics)

    bars = [ax.patches for ax in figure.axes[:3]]
    colors = [[bar.get_facecolor() for bar in panel] for panel in bars]
    # best: r2 for MAE and Gini, r1 for the error closest to zero
    for panel, best in zip(colors, [1, 1, 0], strict=True):
        others = [c for i, c in enumerate(panel) if i != best]
        assert all(c != panel[best] for c in others)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["bgnbd (r1)", "pareto (r2)", "historic (r3)"]
    _assert_readable(figure, tmp_path / "comparison.png")


def test_plot_metrics_comparison_names_a_missing_metric() -> None:
    table = pd.DataFrame({"holdout_gini": [0.5]}, index=["r1"])
    with pytest.raises(DataValidationError, match="holdout_spend_mae"):
        plot_metrics_comparison(table, ["holdout_spend_mae"])
