from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvframe._plugins import build_registry
from clvframe.config.compose import compose_config
from clvframe.data.summary import CustomerData
from clvframe.data.units import DAYS_PER_YEAR
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.estimators.gbm import MODEL_FILES
from clvframe.estimators.gbm import LightGBMEstimator
from clvframe.estimators.valuation import Valuation
from clvframe.experiment import make_estimator
from clvframe.features import build_features
from clvframe.features import build_labels

START = pd.Timestamp("2021-01-04")
CHANNELS = np.array(["web", "store", "app"])
CATEGORIES = np.array(["music", "books", "games", "film"])
FAST = {
    "num_rounds": 120,
    "learning_rate": 0.1,
    "early_stopping_rounds": 20,
    "min_data_in_leaf": 40,
    "windows": [4, 13, 26],
    "num_threads": 1,
}


def simulate_log(
    n_customers: int = 1500,
    weeks: float = 78,
    seed: int = 0,
    app_factor: float = 2.0,
    level_shape: float = 4.0,
    order_sigma: float = 0.3,
) -> pd.DataFrame:
    """A log with a known structure, independent of clvframe's own simulator.

    Customers arrive over the first 8 weeks, buy as a Poisson process (rate
    from a gamma) until an exponential lifetime ends, and keep one channel.
    Spend per order: a customer's own level times noise, times ``app_factor``
    on the app channel; buying behaviour does not depend on the channel, so an
    app customer's expected future spend is ``app_factor`` times another's.
    """
    rng = np.random.default_rng(seed)
    days = weeks * 7
    first = rng.uniform(0, 8 * 7, n_customers)
    rate = rng.gamma(1.5, (0.5 / 7) / 1.5, n_customers)  # per day; 0.5 a week
    life = rng.exponential(40 * 7, n_customers)
    channel = rng.choice(3, n_customers, p=[0.5, 0.3, 0.2])
    level = rng.gamma(level_shape, 40.0 / level_shape, n_customers)
    span = np.clip(np.minimum(first + life, days) - first, 0, None)
    repeats = rng.poisson(rate * span)
    owner = np.repeat(np.arange(n_customers), 1 + repeats)
    offsets = rng.uniform(0, 1, len(owner)) * span[owner]
    starts = np.r_[0, np.cumsum(1 + repeats)[:-1]]
    offsets[starts] = 0.0
    when = first[owner] + offsets
    amount = level[owner] * rng.lognormal(0, order_sigma, len(owner))
    amount *= np.where(channel[owner] == 2, app_factor, 1.0)
    return pd.DataFrame(
        {
            "customer_id": np.char.add("C", np.char.zfill(owner.astype(str), 5)),
            "timestamp": START + pd.to_timedelta(np.round(when * 1440), unit="min"),
            "amount": np.round(amount, 2),
            "channel": CHANNELS[channel[owner]],
            "category": CATEGORIES[rng.integers(0, 4, len(owner))],
        }
    ).astype({"customer_id": object})


def customer_data(log: pd.DataFrame, end: object) -> CustomerData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return CustomerData.from_transactions(log, observation_end=end)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate_log()


@pytest.fixture(scope="module")
def data(log: pd.DataFrame) -> CustomerData:
    return customer_data(log, START + pd.Timedelta(weeks=52))


@pytest.fixture(scope="module")
def fitted(data: CustomerData) -> LightGBMEstimator:
    return LightGBMEstimator(label_window=13, **FAST).fit(data)


def test_lightgbm_is_registered_and_importing_it_skips_lightgbm():
    assert build_registry().get("estimator", "lightgbm").cls is LightGBMEstimator

    code = (
        "import sys; from clvframe._plugins import build_registry; build_registry(); "
        "print('lightgbm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_config_label_window_follows_the_forecast_horizon():
    registry = build_registry()
    cfg = compose_config(["estimator=lightgbm", "forecast.horizon=26"])

    estimator = make_estimator(cfg, registry)

    assert isinstance(estimator, LightGBMEstimator)
    assert estimator.label_window == 26
    assert estimator.label_window_unit == "week"
    assert estimator.num_threads == 1


def test_fit_trains_at_earlier_cutoffs_with_a_time_based_validation(fitted, data):
    # 52 weeks, 13-week windows: validation at week 39, training at 26 and 13;
    # week 0 falls inside min_history (4 weeks).
    assert fitted.label_days_ == 91
    assert fitted.validation_cutoff_ == str(
        (data.observation_end - pd.Timedelta(days=91)).date()
    )
    assert fitted.cutoffs_ == [
        str((data.observation_end - pd.Timedelta(days=91 * k)).date())
        for k in (1, 2, 3)
    ]
    assert set(fitted.best_iterations_) == {"spend", "purchases", "repurchase"}
    assert all(1 <= n <= 120 for n in fitted.best_iterations_.values())


def test_predict_columns_and_ranges(fitted, data):
    forecast = fitted.predict(data, horizon=13)

    assert list(forecast.columns) == [
        "expected_purchases",
        "p_alive",
        "p_repurchase",
        "expected_spend",
        "clv",
    ]
    assert forecast.index.equals(data.summary.index)
    assert forecast["p_alive"].isna().all()
    assert forecast["p_repurchase"].between(0, 1).all()
    assert (forecast[["expected_purchases", "expected_spend"]] >= 0).all().all()


def test_predicted_total_is_close_to_what_customers_then_spent(fitted, data, log):
    forecast = fitted.predict(data, horizon=13)
    actual = build_labels(
        log, data.observation_end, window_days=91, customers=data.summary.index
    )

    # The process is stationary apart from churn, so a well-trained model gets
    # the next quarter's total within a few percent (sampling noise ~3%).
    assert forecast["expected_spend"].sum() == pytest.approx(
        actual["spend"].sum(), rel=0.12
    )
    assert forecast["expected_purchases"].sum() == pytest.approx(
        actual["purchases"].sum(), rel=0.12
    )
    bought = actual["purchases"] > 0
    assert (
        forecast.loc[bought, "p_repurchase"].mean()
        > forecast.loc[~bought, "p_repurchase"].mean() + 0.2
    )


def test_clv_spreads_spend_evenly_over_discounted_months(fitted, data):
    valuation = Valuation(margin=0.3, discount_rate=0.12, discount_period="year")
    horizon_days = 13 * 7

    forecast = fitted.predict(
        data, horizon=13, horizon_unit="week", valuation=valuation
    )

    # Month ends at 30.4375 and 60.875 days, then the horizon at 91 days.
    month = DAYS_PER_YEAR / 12
    ends = np.array([month, 2 * month, horizon_days])
    shares = np.diff(np.r_[0.0, ends]) / horizon_days
    factor = np.sum(shares * 1.12 ** (-ends / DAYS_PER_YEAR))
    np.testing.assert_allclose(
        forecast["clv"], 0.3 * forecast["expected_spend"] * factor
    )


def test_other_horizons_are_scaled_from_the_label_window(fitted, data):
    window = fitted.predict(data, horizon=13)

    double = fitted.predict(data, horizon=26)

    np.testing.assert_allclose(double["expected_spend"], 2 * window["expected_spend"])
    np.testing.assert_allclose(
        double["expected_purchases"], 2 * window["expected_purchases"]
    )
    np.testing.assert_allclose(
        double["p_repurchase"], 1 - (1 - window["p_repurchase"]) ** 2
    )


def test_known_signal_app_customers_spend_twice_as_much():
    # Amounts are noisy (sigma 1 per order) and customers' own levels alike
    # (CV 0.1), so the channel, not the past amounts, tells the level; buying
    # does not depend on it, so an app customer's future spend is twice another's.
    log = simulate_log(seed=1, level_shape=100.0, order_sigma=1.0)
    data = customer_data(log, START + pd.Timedelta(weeks=52))
    estimator = LightGBMEstimator(label_window=13, **FAST).fit(data)
    channel = log.groupby("customer_id")["channel"].first().reindex(data.summary.index)

    spend = estimator.predict(data, horizon=13)["expected_spend"]

    ratio = spend[channel == "app"].mean() / spend[channel != "app"].mean()
    assert 1.5 < ratio < 2.5
    assert "x_channel_share_app" in estimator.importance_.index[:10]
    # Same histories, channel switched: the channel alone moves the forecast.
    switched = {
        level: estimator.predict(
            CustomerData(
                summary=data.summary,
                transactions=data.transactions.assign(channel=level),
                observation_end=data.observation_end,
            ),
            horizon=13,
        )["expected_spend"]
        for level in ("app", "web")
    }
    regular = data.summary["frequency"] >= 3
    assert switched["app"][regular].mean() / switched["web"][regular].mean() > 1.3
    contributions = estimator.explain(data)["x_channel_share_app"]
    assert (
        contributions[channel == "app"].mean() > contributions[channel != "app"].mean()
    )


def test_results_repeat_for_a_seed_and_change_with_it():
    data = customer_data(simulate_log(n_customers=800), START + pd.Timedelta(weeks=52))
    params = {
        **FAST,
        "feature_fraction": 0.7,
        "bagging_fraction": 0.7,
        "label_window": 13,
    }

    first = LightGBMEstimator(seed=3, **params).fit(data).predict(data, horizon=13)
    again = LightGBMEstimator(seed=3, **params).fit(data).predict(data, horizon=13)
    other = LightGBMEstimator(seed=4, **params).fit(data).predict(data, horizon=13)

    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["expected_spend"], other["expected_spend"])


def test_fit_and_predict_ignore_rows_after_the_observation_end(fitted, data, log):
    grown = CustomerData(
        summary=data.summary,
        transactions=log,  # the whole 78 weeks
        observation_end=data.observation_end,
    )

    refit = LightGBMEstimator(label_window=13, **FAST).fit(grown)

    pd.testing.assert_frame_equal(
        refit.predict(grown, horizon=13), fitted.predict(data, horizon=13)
    )


def test_short_log_falls_back_to_a_shorter_label_window_and_says_so(log, caplog):
    short = customer_data(log, START + pd.Timedelta(weeks=39))
    estimator = LightGBMEstimator(
        label_window=39, fallback_label_windows=[26, 13], **FAST
    )

    with caplog.at_level(logging.WARNING, logger="clvframe.estimators.gbm"):
        estimator.fit(short)

    # 39 weeks hold 4 + 2 x 13 but not 4 + 2 x 26.
    assert estimator.label_days_ == 91
    assert "too short for a label window of 39 weeks; using 13 weeks" in caplog.text


def test_log_too_short_for_any_label_window_says_what_is_needed(log):
    short = customer_data(log, START + pd.Timedelta(weeks=10))
    estimator = LightGBMEstimator(label_window=13, fallback_label_windows=[4], **FAST)

    with pytest.raises(
        DataValidationError,
        match=r"too short for any label window in \[13.0, 4.0\] weeks.*least 84 days",
    ):
        estimator.fit(short)


def test_summary_only_data_is_refused(data):
    summary_only = CustomerData.from_summary(data.summary)

    with pytest.raises(DataValidationError, match="cannot fit from a summary alone"):
        LightGBMEstimator().fit(summary_only)


def test_bad_params_are_reported_together(data):
    estimator = LightGBMEstimator(objective="poisson", num_leaves=1, windows=[0, 4])

    with pytest.raises(
        ConfigError, match=r"windows: must be.*objective: must be one of.*num_leaves"
    ):
        estimator.fit(data)


def test_save_writes_lightgbm_text_files_and_loads_back(fitted, data, tmp_path):
    import lightgbm as lgb

    path = fitted.save(tmp_path / "model")

    assert path.name == "estimator.json"
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == sorted(["estimator.json", *MODEL_FILES.values()])
    assert (path.parent / "model_spend.txt").read_text().startswith("tree\n")
    loaded = LightGBMEstimator.load(path.parent)
    pd.testing.assert_frame_equal(
        loaded.predict(data, horizon=20), fitted.predict(data, horizon=20)
    )
    # The spend file alone is a LightGBM model that LightGBM reads on its own.
    booster = lgb.Booster(model_file=str(path.parent / "model_spend.txt"))
    x = fitted.features(data).to_numpy(dtype="float32")
    np.testing.assert_allclose(
        booster.predict(x), fitted.predict(data, horizon=13)["expected_spend"]
    )


def test_load_names_a_missing_model_file(fitted, tmp_path):
    fitted.save(tmp_path)
    (tmp_path / "model_repurchase.txt").unlink()

    with pytest.raises(
        DataValidationError, match="model_repurchase.txt: the repurchase model"
    ):
        LightGBMEstimator.load(tmp_path)


def test_state_round_trips_with_models_and_refuses_without(fitted, data):
    state = fitted.get_state(include_models=True)

    restored = LightGBMEstimator().set_state(state)

    pd.testing.assert_frame_equal(
        restored.predict(data, horizon=13), fitted.predict(data, horizon=13)
    )
    with pytest.raises(DataValidationError, match="holds no LightGBM models"):
        LightGBMEstimator().set_state(fitted.get_state())


def test_explain_contributions_add_up_to_the_prediction(fitted, data):
    contributions = fitted.explain(data)

    assert list(contributions.columns) == [*fitted.feature_names_, "expected_value"]
    # Tweedie uses a log link: exp(sum of contributions) is the window spend.
    np.testing.assert_allclose(
        np.exp(contributions.sum(axis=1)),
        fitted.predict(data, horizon=13)["expected_spend"],
        rtol=1e-6,
    )
    logit = fitted.explain(data, model="repurchase", customers=data.summary.index[:5])
    p = 1 / (1 + np.exp(-logit.sum(axis=1)))
    np.testing.assert_allclose(
        p, fitted.predict(data, horizon=13)["p_repurchase"].iloc[:5]
    )


def test_artifacts_are_tables_and_figures(fitted, data):
    from matplotlib.figure import Figure

    artifacts = fitted.artifacts(data)

    assert set(artifacts) == {
        "feature_importance",
        "feature_importance_plot",
        "shap_summary",
        "shap_summary_plot",
        "shap_top_customers",
        "training",
    }
    assert isinstance(artifacts["feature_importance_plot"], Figure)
    top = artifacts["shap_top_customers"]
    assert len(top) == 100
    best = fitted.predict(data, horizon=13)["expected_spend"].nlargest(100)
    assert set(top.index) == set(best.index)
    assert artifacts["shap_summary"]["mean_abs_shap"].is_monotonic_decreasing


def test_missing_extra_column_at_scoring_is_named(fitted, data):
    without = CustomerData(
        summary=data.summary,
        transactions=data.transactions.drop(columns="channel"),
        observation_end=data.observation_end,
    )

    with pytest.raises(
        DataValidationError, match=r"lacks the extra column\(s\) \['channel'\]"
    ):
        fitted.predict(without, horizon=13)


def test_log_regression_objective_is_rescaled_to_the_mean(data, log):
    estimator = LightGBMEstimator(label_window=13, objective="log_regression", **FAST)

    forecast = estimator.fit(data).predict(data, horizon=13)

    # The exponential of a mean log falls short of the mean.
    assert estimator.scale_factors_["spend"] > 1.0
    actual = build_labels(
        log, data.observation_end, window_days=91, customers=data.summary.index
    )
    assert forecast["expected_spend"].sum() == pytest.approx(
        actual["spend"].sum(), rel=0.2
    )


def test_stacking_adds_the_probabilistic_forecasts_and_survives_saving(data, tmp_path):
    estimator = LightGBMEstimator(
        label_window=13,
        stack_model="bgnbd",
        stack_params={"spend_model": "gamma_gamma"},
        extra_columns="none",
        **FAST,
    ).fit(data)

    assert estimator.feature_names_[-3:] == [
        "stack_expected_purchases",
        "stack_p_alive",
        "stack_expected_spend",
    ]
    features = estimator.features(data)
    assert features["stack_p_alive"].between(0, 1).all()
    estimator.save(tmp_path)
    loaded = LightGBMEstimator.load(tmp_path)
    pd.testing.assert_frame_equal(
        loaded.predict(data, horizon=13), estimator.predict(data, horizon=13)
    )


def test_features_at_scoring_are_those_of_the_feature_builder(fitted, data):
    features = fitted.features(data)

    direct = build_features(
        data.transactions,
        data.observation_end,
        windows=[4, 13, 26],
        extra_columns={"channel": ["shares"], "category": ["shares"]},
        levels=fitted.levels_,
        season_days=91,
    )

    pd.testing.assert_frame_equal(
        features, direct.loc[data.summary.index], check_names=False
    )


def test_saved_folder_holds_no_pickle(fitted, tmp_path):
    fitted.save(tmp_path)

    for path in Path(tmp_path).iterdir():
        assert not path.read_bytes().startswith(b"\x80"), path
