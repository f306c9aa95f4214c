"""BG/NBD against Fader, Hardie and Lee (2005) and the shared failure cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats

from clvframe.errors import BoundaryWarning
from clvframe.errors import ConvergenceError
from clvframe.errors import DataValidationError
from clvframe.errors import IdentificationError
from clvframe.errors import NotFittedError
from clvframe.models.bgnbd import BetaGeoModel

PUBLISHED = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}


@pytest.fixture(scope="module")
def fitted(cdnow_summary: pd.DataFrame) -> BetaGeoModel:
    d = cdnow_summary
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return BetaGeoModel().fit(d["frequency"], d["recency"], d["T"])


def test_fit_reproduces_published_cdnow_parameters(fitted: BetaGeoModel) -> None:
    # Published to 4 decimals: 1e-3 absolute is well within their rounding.
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, abs=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)
    assert fitted.n_customers_ == 2357
    assert fitted.converged_
    assert all(0 < se < np.inf for se in fitted.standard_errors_.values())


def test_fit_weights_equal_repeated_rows(cdnow_summary: pd.DataFrame) -> None:
    d = cdnow_summary.iloc[:400]
    doubled = BetaGeoModel().fit(
        np.tile(d["frequency"], 2), np.tile(d["recency"], 2), np.tile(d["T"], 2)
    )
    weighted = BetaGeoModel().fit(
        d["frequency"], d["recency"], d["T"], weights=np.full(len(d), 2.0)
    )
    for name in BetaGeoModel.param_names:
        assert weighted.params_[name] == pytest.approx(doubled.params_[name], rel=1e-6)


def test_published_customer_prediction() -> None:
    # Fader, Hardie and Lee (2005): x=2, t_x=30.43, T=38.86 with the published
    # parameters; the paper rounds to 4 decimals.
    model = BetaGeoModel.from_params(PUBLISHED)
    assert model.conditional_expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(
        1.2259, abs=1e-4
    )
    assert model.p_alive(2, 30.43, 38.86) == pytest.approx(0.7266, abs=1e-4)


def test_tracking_total_at_week_78(
    fitted: BetaGeoModel, cdnow_first_purchase_weeks: np.ndarray
) -> None:
    total = fitted.expected_purchases_new(78 - cdnow_first_purchase_weeks).sum()
    assert total == pytest.approx(4165.7, abs=0.5)


def test_small_a_plus_b_case(shared_dir) -> None:
    case = pd.read_csv(shared_dir / "cases" / "bgnbd-small-a-plus-b-summary.csv")
    model = BetaGeoModel.from_params({"r": 0.2, "alpha": 3.0, "a": 0.3, "b": 0.5})
    got = model.conditional_expected_purchases(
        case["t_future"], case["frequency"], case["recency"], case["T"]
    )
    expected = [0.7292515848, 0.2135596, 0.0383688, 2.6541256]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("a", [1.0, 1.00003, 0.99997])
def test_expected_purchases_continuous_at_removable_singularity(a: float) -> None:
    # a = 1 divides by zero in the closed form; the answer is smooth there.
    model = BetaGeoModel.from_params({"r": 0.5, "alpha": 4.0, "a": a, "b": 2.0})
    got = model.expected_purchases_new(np.array([1.0, 39.0, 400.0]))
    ref = [_expected_by_integration(0.5, 4.0, a, 2.0, t) for t in (1.0, 39.0, 400.0)]
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def _expected_by_integration(r, alpha, a, b, t):
    """E[(1 - exp(-lambda p t)) / p] by quadrature over p ~ Beta(a, b)."""

    def integrand(p):
        return -np.expm1(-r * np.log1p(p * t / alpha)) / p * stats.beta.pdf(p, a, b)

    return integrate.quad(integrand, 0, 1, epsabs=0, epsrel=1e-11, limit=200)[0]


def test_conditional_expectation_matches_integration_for_large_history() -> None:
    r, alpha, a, b = 0.3, 5.0, 0.8, 2.5
    model = BetaGeoModel.from_params({"r": r, "alpha": alpha, "a": a, "b": b})
    x, tx, T, t = 1500.0, 1990.0, 2000.0, 52.0
    alive = model.p_alive(x, tx, T)
    # Given alive: Gamma(r + x, alpha + T) rate and Beta(a, b + x) dropout.
    ref = alive * _expected_by_integration(r + x, alpha + T, a, b + x, t)
    assert model.conditional_expected_purchases(t, x, tx, T) == pytest.approx(
        ref, rel=1e-7
    )


def test_p_n_purchases_is_a_distribution_with_the_right_mean(
    fitted: BetaGeoModel,
) -> None:
    n = np.arange(300)
    probs = fitted.p_n_purchases(n, 39, 2, 30.43, 38.86)
    assert probs.sum() == pytest.approx(1.0, abs=1e-10)
    mean = fitted.conditional_expected_purchases(39, 2, 30.43, 38.86)
    assert (n * probs).sum() == pytest.approx(mean, rel=1e-8)
    new = fitted.p_n_purchases_new(n, 39)
    assert (n * new).sum() == pytest.approx(fitted.expected_purchases_new(39), rel=1e-8)


def test_extreme_histories_are_finite_without_warnings() -> None:
    model = BetaGeoModel.from_params(PUBLISHED)
    x = np.array([0, 1, 400, 3000, 3000])
    tx = np.array([0, 0.5, 360, 364, 10])
    T = np.array([5000, 5000, 365, 365, 5000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alive = model.p_alive(x, tx, T)
        expected = model.conditional_expected_purchases(5000, x, tx, T)
        probs = model.p_n_purchases(3, 10, x, tx, T)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert np.all(np.isfinite(probs))


def test_degenerate_all_zero_is_an_identification_error(shared_dir) -> None:
    d = pd.read_csv(shared_dir / "cases" / "degenerate-summaries.csv")
    zero = d[d["dataset"] == "all_zero"]
    with pytest.raises(IdentificationError, match="no customer made a repeat"):
        BetaGeoModel().fit(zero["frequency"], zero["recency"], zero["T"])


@pytest.mark.parametrize("dataset", ["one_repeat", "daily"])
def test_degenerate_fits_warn_and_are_deterministic(shared_dir, dataset) -> None:
    d = pd.read_csv(shared_dir / "cases" / "degenerate-summaries.csv")
    g = d[d["dataset"] == dataset]
    runs = []
    for _ in range(2):
        with pytest.warns(BoundaryWarning, match="parameter"):
            model = BetaGeoModel().fit(g["frequency"], g["recency"], g["T"])
        runs.append(model.params_)
        assert all(np.isfinite(v) for v in model.params_.values())
        assert np.isfinite(model.log_likelihood_)
    assert runs[0] == runs[1]


def test_fit_rejects_invalid_rows_naming_count_and_positions() -> None:
    with pytest.raises(DataValidationError, match=r"recency > T: 2 rows.*\[1, 3\]"):
        BetaGeoModel().fit([1, 1, 0, 2], [3, 9, 0, 12], [10, 8, 10, 11])
    with pytest.raises(DataValidationError, match="frequency is negative: 1 row"):
        BetaGeoModel().fit([-1, 1], [0, 3], [10, 8])
    with pytest.raises(DataValidationError, match="NaN or infinite"):
        BetaGeoModel().fit([1, np.nan], [3, 0], [10, 8])
    with pytest.raises(DataValidationError, match="recency is 0"):
        BetaGeoModel().fit([1, 2], [0, 3], [10, 8])


def test_unfitted_model_names_the_class() -> None:
    with pytest.raises(NotFittedError, match="BetaGeoModel"):
        BetaGeoModel().p_alive(1, 2, 3)


def test_from_params_rejects_missing_and_non_positive() -> None:
    with pytest.raises(ValueError, match="missing"):
        BetaGeoModel.from_params({"r": 1.0, "alpha": 1.0, "a": 1.0})
    with pytest.raises(ValueError, match="positive"):
        BetaGeoModel.from_params({"r": 1.0, "alpha": -1.0, "a": 1.0, "b": 1.0})


def test_expectation_where_scipy_hyp2f1_overflows() -> None:
    # Found by the property tests: scipy returns inf for 2F1(-0.5, -0.5; 99;
    # 0.9001); the series fallback must agree with direct integration.
    r, alpha, a, b = 0.5, 0.1094, 0.5, 0.5
    model = BetaGeoModel.from_params({"r": r, "alpha": alpha, "a": a, "b": b})
    x, tx, T, t = 99.0, 1.0, 1.0, 10.0
    ref = model.p_alive(x, tx, T) * _expected_by_integration(
        r + x, alpha + T, a, b + x, t
    )
    assert model.conditional_expected_purchases(t, x, tx, T) == pytest.approx(
        ref, rel=1e-8
    )


def test_tiny_horizons_keep_relative_accuracy() -> None:
    model = BetaGeoModel.from_params({"r": 1.0, "alpha": 1.0, "a": 4.0, "b": 1.0})
    t = np.array([1e-16, 1e-9, 1e-6])
    # E[X(t)] -> E[lambda] t = r / alpha * t as t -> 0.
    np.testing.assert_allclose(model.expected_purchases_new(t) / t, 1.0, rtol=1e-5)
    assert np.all(model.expected_purchases_new(t) > 0)


def test_non_convergence_names_the_optimiser_message_and_a_remedy(
    cdnow_summary: pd.DataFrame,
) -> None:
    d = cdnow_summary
    with pytest.raises(ConvergenceError, match=r"ITERATIONS REACHED LIMIT.*max_iter"):
        BetaGeoModel(max_iter=1).fit(d["frequency"], d["recency"], d["T"])


def test_penalizer_shrinks_log_parameters_towards_zero(
    cdnow_summary: pd.DataFrame, fitted: BetaGeoModel
) -> None:
    d = cdnow_summary
    model = BetaGeoModel(penalizer=0.05).fit(d["frequency"], d["recency"], d["T"])
    shrunk = np.abs(np.log(list(model.params_.values())))
    free = np.abs(np.log(list(fitted.params_.values())))
    assert shrunk.sum() < free.sum()
    assert model.log_likelihood_ < fitted.log_likelihood_


def test_customers_first_seen_on_the_last_day_are_accepted(
    cdnow_summary: pd.DataFrame, fitted: BetaGeoModel
) -> None:
    # T = 0: first purchase on the observation end day (day grain). Such a
    # customer contributes a likelihood of exactly 1.
    d = cdnow_summary
    x = np.append(d["frequency"], [0, 0])
    tx = np.append(d["recency"], [0.0, 0.0])
    T = np.append(d["T"], [0.0, 0.0])
    model = BetaGeoModel().fit(x, tx, T)
    assert model.log_likelihood_ == pytest.approx(fitted.log_likelihood_, abs=1e-6)
    assert model.p_alive(0, 0, 0) == 1.0
    assert model.conditional_expected_purchases(10, 0, 0, 0) == pytest.approx(
        model.expected_purchases_new(10)
    )
