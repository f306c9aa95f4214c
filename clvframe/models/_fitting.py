"""Maximum-likelihood fitting shared by every probabilistic model.

The models supply the per-row log-likelihood and its analytic gradient in
their natural parameters; this module optimises over log-parameters (so every
parameter stays positive without constraints), polishes the optimum with a
few Newton steps, checks for parameters that ran away, and derives standard
errors from the Hessian.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clvframe.errors import BoundaryWarning
from clvframe.errors import ConvergenceError

logger = logging.getLogger(__name__)

#: Per-row log-likelihood and its gradient (rows x parameters) at the
#: natural parameters given.
LogLikelihood = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

#: The optimiser keeps every log-parameter within these natural bounds; a
#: parameter that reaches one has run away and is reported as such.
OPTIMISER_BOUNDS = (1e-8, 1e8)

#: A fitted parameter outside this range is reported with a BoundaryWarning:
#: it is either unidentified by the data or the model is a poor fit.
PLAUSIBLE_RANGE = (1e-6, 1e5)

#: Largest gradient (of the mean negative log-likelihood with respect to the
#: log-parameters) accepted as an optimum.
GRADIENT_TOLERANCE = 1e-5

_REMEDY = (
    "Try a larger max_iter, a small penalizer (e.g. penalizer=0.001), or check "
    "that the summary is in a sensible time unit and holds repeat purchases."
)


@dataclass(frozen=True)
class FitResult:
    """Outcome of a maximum-likelihood fit.

    Attributes:
        params: Natural parameters at the optimum.
        log_likelihood: Weighted, unpenalised log-likelihood at the optimum.
        standard_errors: Standard errors of the natural parameters (inf where
            the data do not determine a parameter).
        converged: Whether the optimiser met its gradient tolerance.
        message: The optimiser's final message.
    """

    params: np.ndarray
    log_likelihood: float
    standard_errors: np.ndarray
    converged: bool
    message: str


def maximise_likelihood(
    loglik: LogLikelihood,
    weights: np.ndarray,
    start: Sequence[float],
    *,
    model_name: str,
    param_names: Sequence[str],
    penalizer: float = 0.0,
    max_iter: int = 1000,
    tol: float = 1e-10,
    summed: bool = False,
) -> FitResult:
    """Fit a model by maximum likelihood over its log-parameters.

    The objective is the weighted mean negative log-likelihood plus
    ``penalizer`` times the sum of squared log-parameters (an L2 penalty that
    pulls each parameter towards 1). The mean, not the sum, keeps the scale of
    the gradient and of ``tol`` independent of the number of customers.

    Args:
        loglik: Per-row log-likelihood and gradient at natural parameters.
        weights: Number of customers each row stands for.
        start: Deterministic natural start values.
        model_name: Used in error and warning messages.
        param_names: Names of the parameters, in order.
        penalizer: Non-negative L2 penalty on the log-parameters.
        max_iter: Iteration limit of the quasi-Newton optimiser.
        tol: Relative tolerance on the objective for the optimiser.
        summed: Whether ``loglik`` already returns the weighted sums (the
            total log-likelihood and its gradient vector) instead of per-row
            values; models that aggregate their terms by group use this to
            skip the per-row gradient matrix. ``weights`` then only gives
            the number of customers.

    Returns:
        The fit result.

    Raises:
        ConvergenceError: If the optimum was not found.
        ValueError: If ``penalizer`` is negative or ``max_iter`` < 1.
    """
    if not penalizer >= 0:
        raise ValueError(f"penalizer must be a float >= 0; got {penalizer!r}.")
    if max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}.")
    total_weight = float(np.sum(weights))

    def summed_loglik(theta: np.ndarray) -> tuple[float, np.ndarray]:
        if summed:
            total, total_grad = loglik(theta)
            return float(total), np.asarray(total_grad, dtype=np.float64)
        ll, grad = loglik(theta)
        # einsum, not @: BLAS threads stall on a busy machine (see
        # clvframe.models._special.dot).
        return float(np.einsum("i,i->", weights, ll)), np.einsum(
            "i,ij->j", weights, grad
        )

    # The last evaluation, kept: the polish ends where the optimum is then
    # evaluated again, and the log-likelihood is read off it.
    last: dict[str, object] = {}

    def objective(phi: np.ndarray) -> tuple[float, np.ndarray]:
        if last and np.array_equal(last["phi"], phi):
            # The cache holds arrays; mypy sees the dict's value union.
            gradient = last["gradient"].copy()  # type: ignore[union-attr]
            return last["value"], gradient  # type: ignore[return-value]
        theta = np.exp(phi)
        total, total_grad = summed_loglik(theta)
        value = -total / total_weight + penalizer * float(phi @ phi)
        # Chain rule: d/d(log theta) = theta * d/d(theta).
        gradient = -total_grad * theta / total_weight + 2 * penalizer * phi
        if not math.isfinite(value):
            raise ConvergenceError(
                f"{model_name}: the log-likelihood is not finite at parameters "
                f"{_format(param_names, theta)}. {_REMEDY}"
            )
        last.update(phi=phi.copy(), value=value, gradient=gradient, total=total)
        return value, gradient.copy()

    bounds = [tuple(np.log(OPTIMISER_BOUNDS))] * len(start)
    phi0 = np.log(np.asarray(start, dtype=np.float64))
    # Imported here: scoring with saved parameters never fits, and scipy's
    # optimisers take a tenth of a second to import.
    from scipy import optimize

    result = optimize.minimize(
        objective,
        phi0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-9},
    )
    phi, hessian = _newton_polish(objective, result.x, bounds)
    value, gradient = objective(phi)
    at_bound = _at_bound(phi, bounds)
    # A coordinate pinned at its bound has a non-zero gradient by design.
    free_gradient = np.where(at_bound, 0.0, gradient)
    converged = bool(np.max(np.abs(free_gradient)) < GRADIENT_TOLERANCE)
    message = str(result.message)
    low, high = PLAUSIBLE_RANGE
    theta = np.exp(phi)
    # On a likelihood that keeps rising as parameters run off to infinity the
    # gradient never vanishes; that is the data's limit, reported below as a
    # BoundaryWarning, not an optimiser failure.
    runaway = bool(np.any((theta < low) | (theta > high)))
    if not converged and not runaway:
        raise ConvergenceError(
            f"{model_name}: the optimiser did not converge ({message}; largest "
            f"gradient {np.max(np.abs(free_gradient)):.3g} after {result.nit} "
            f"iterations, at {_format(param_names, np.exp(phi))}). {_REMEDY}"
        )

    objective(phi)
    log_likelihood = float(last["total"])  # type: ignore[arg-type]
    if hessian is None:
        hessian = _numeric_hessian(objective, phi)
    standard_errors = _standard_errors(hessian, phi, total_weight, penalizer, bounds)
    _warn_boundary(model_name, param_names, theta, standard_errors)
    logger.info(
        "Fitted %s: %s, log-likelihood %.4f",
        model_name,
        _format(param_names, theta),
        log_likelihood,
    )
    return FitResult(theta, log_likelihood, standard_errors, converged, message)


def _format(names: Sequence[str], values: np.ndarray) -> str:
    return ", ".join(f"{n}={v:.6g}" for n, v in zip(names, values, strict=True))


def _at_bound(phi: np.ndarray, bounds: Sequence[tuple[float, float]]) -> np.ndarray:
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    return (phi <= low + 1e-8) | (phi >= high - 1e-8)


def _numeric_hessian(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    phi: np.ndarray,
    step: float = 1e-6,
) -> np.ndarray:
    """Forward differences of the analytic gradient, symmetrised.

    One evaluation per parameter beyond the one at ``phi`` (which the caller
    has usually just made, and ``objective`` keeps). With a step of 1e-6 in
    log-parameters the truncation error is about 1e-6 relative and the
    rounding error of the gradient contributes less, ample for Newton steps
    and for standard errors quoted to four digits.
    """
    k = phi.size
    base = objective(phi)[1]
    hessian = np.empty((k, k))
    for j in range(k):
        shifted = phi.copy()
        shifted[j] += step
        hessian[:, j] = (objective(shifted)[1] - base) / step
    return (hessian + hessian.T) / 2


def _newton_polish(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    phi: np.ndarray,
    bounds: Sequence[tuple[float, float]],
    max_steps: int = 25,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Refine a quasi-Newton optimum with damped Newton steps.

    L-BFGS-B stops on a relative change of the objective, which on a flat
    likelihood can leave the parameters off by more than the digits papers
    publish. Newton steps on the numeric Hessian of the analytic gradient
    reach the optimum to machine precision. The Hessian is reused while the
    steps keep shrinking the gradient fourfold or more (near the optimum it
    barely changes) and recomputed otherwise. Coordinates at a bound and an
    indefinite Hessian end the polish: that is the caller's boundary case,
    not something Newton can improve.

    Returns:
        The refined log-parameters, and the Hessian there when it was taken
        within 1e-4 of them (in log-parameters; else None).
    """
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    value, gradient = objective(phi)
    hessian = None
    hessian_at = phi
    for _ in range(max_steps):
        if np.any(_at_bound(phi, bounds)):
            break
        if hessian is None:
            hessian = _numeric_hessian(objective, phi)
            hessian_at = phi
            eigenvalues = np.linalg.eigvalsh(hessian)
            if eigenvalues[0] <= 1e-12 * max(eigenvalues[-1], 1e-300):
                return phi, None
        step = np.linalg.solve(hessian, -gradient)
        accepted = False
        for _ in range(30):
            candidate = np.clip(phi + step, low, high)
            new_value, new_gradient = objective(candidate)
            if new_value <= value + 1e-15 * abs(value):
                accepted = True
                break
            step /= 2
        if not accepted:
            break
        improvement = value - new_value
        moved = float(np.max(np.abs(candidate - phi)))
        contracted = np.max(np.abs(new_gradient)) <= 0.25 * np.max(np.abs(gradient))
        phi, value, gradient = candidate, new_value, new_gradient
        if moved < 1e-7:
            break
        if improvement <= 0:
            break
        if not contracted:
            hessian = None
    if hessian is not None and np.max(np.abs(phi - hessian_at)) < 1e-4:
        return phi, hessian
    return phi, None


def _standard_errors(
    hessian: np.ndarray,
    phi: np.ndarray,
    total_weight: float,
    penalizer: float,
    bounds: Sequence[tuple[float, float]],
) -> np.ndarray:
    """Standard errors of the natural parameters from the observed information.

    The Hessian is taken in log-parameters and mapped by the delta method
    (exact at an interior optimum, where the gradient vanishes). Directions
    the data do not pin down (zero curvature, or a parameter at its bound)
    get an infinite standard error instead of a linear-algebra failure.
    """
    k = phi.size
    theta = np.exp(phi)
    # Undo the mean and the penalty: information of the summed log-likelihood.
    information = (hessian - 2 * penalizer * np.eye(k)) * total_weight
    eigenvalues, vectors = np.linalg.eigh(information)
    scale = max(abs(eigenvalues[-1]), 1e-300)
    good = eigenvalues > 1e-10 * scale
    inverse_values = np.where(good, 1.0 / np.where(good, eigenvalues, 1.0), 0.0)
    covariance = (vectors * inverse_values) @ vectors.T
    variance_log = np.clip(np.diag(covariance), 0.0, None)
    unidentified = np.any(np.abs(vectors[:, ~good]) > 1e-3, axis=1)
    unidentified |= _at_bound(phi, bounds)
    standard_errors = np.where(unidentified, np.inf, theta * np.sqrt(variance_log))
    return standard_errors


def _warn_boundary(
    model_name: str,
    param_names: Sequence[str],
    theta: np.ndarray,
    standard_errors: np.ndarray,
) -> None:
    low, high = PLAUSIBLE_RANGE
    advice = (
        "The data do not identify it (too few customers or repeat purchases, or "
        "every customer behaves alike); predictions may still be usable, but do "
        "not interpret this parameter. A small penalizer keeps it finite."
    )
    for name, value, se in zip(param_names, theta, standard_errors, strict=True):
        if value < low or value > high:
            problem = (
                f"ran to {value:.6g}, outside the plausible range [{low:g}, {high:g}]"
            )
        elif not np.isfinite(se):
            problem = (
                f"ended at {value:.6g} on a flat stretch of the likelihood (it is "
                "running towards a bound; its standard error is infinite)"
            )
        else:
            continue
        warnings.warn(
            f"{model_name}: parameter {name} {problem}. {advice}",
            BoundaryWarning,
            stacklevel=4,
        )
