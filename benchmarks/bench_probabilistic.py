"""Speed and agreement of clvframe's probabilistic models against lifetimes 0.11.3.

For each size, a synthetic log is drawn from BG/NBD (and one from Pareto/NBD)
with CDNOW-like parameters in weeks (``clvframe.models.synthetic``) and
summarised once by ``clvframe.data.summary.summarise`` (day grain, weeks).
Both libraries then fit on the same summary:

* BG/NBD and Pareto/NBD on (frequency, recency, T), both given the same
  unique rows with their counts as weights (lifetimes accepts ``weights``;
  without them it evaluates every customer and is far slower);
* Gamma-Gamma on the repeat buyers' (frequency, monetary_value);
* prediction for every customer: expected purchases in the next 52 weeks and
  P(alive).

Reported: seconds per stage, the log-likelihood each library's parameters
reach (evaluated by clvframe, so both are measured alike; higher is better),
and the largest absolute difference between the two libraries' predictions.

lifetimes is a benchmark-only dependency (``pip install lifetimes==0.11.3``);
without it only clvframe's timings are printed.

Usage::

    python benchmarks/bench_probabilistic.py                       # 10k, 100k, 1M
    python benchmarks/bench_probabilistic.py --sizes 10000 --out /tmp/prob.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvframe.data.summary import summarise
from clvframe.models import BetaGeoModel
from clvframe.models import GammaGammaModel
from clvframe.models import ParetoNBDModel
from clvframe.models.synthetic import simulate_transactions

HORIZON_WEEKS = 52.0


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def compress(summary: pd.DataFrame) -> pd.DataFrame:
    return (
        summary.groupby(["frequency", "recency", "T"], sort=False)
        .size()
        .rename("weights")
        .reset_index()
    )


def run_size(n: int, seed: int, lifetimes_max: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        import lifetimes  # noqa: F401  (optional: benchmark-only dependency)

        have_lifetimes = n <= lifetimes_max
    except ImportError:
        have_lifetimes = False

    for process, model_class in (
        ("bgnbd", BetaGeoModel),
        ("paretonbd", ParetoNBDModel),
    ):
        log, t_sim = timed(
            lambda p=process: simulate_transactions(n, process=p, seed=seed)
        )
        summary, t_sum = timed(lambda log=log: summarise(log, time_unit="week"))
        unique = compress(summary)
        x = summary["frequency"].to_numpy(float)
        tx = summary["recency"].to_numpy(float)
        T = summary["T"].to_numpy(float)
        print(
            f"n={n:,} {process}: {len(log):,} rows simulated in {t_sim:.1f}s, "
            f"summarised in {t_sum:.1f}s, {len(unique):,} unique summaries",
            file=sys.stderr,
        )
        ours, t_fit = timed(
            lambda u=unique, m=model_class: m().fit(
                u["frequency"], u["recency"], u["T"], weights=u["weights"]
            )
        )
        ours_pred, t_pred = timed(
            lambda m=ours, x=x, tx=tx, T=T: (
                m.conditional_expected_purchases(HORIZON_WEEKS, x, tx, T),
                m.p_alive(x, tx, T),
            )
        )
        row: dict[str, Any] = {
            "n": n,
            "model": model_class.name,
            "transactions": len(log),
            "unique": len(unique),
            "summarise_s": t_sum,
            "clvframe_fit_s": t_fit,
            "clvframe_predict_s": t_pred,
            "clvframe_ll": ours.log_likelihood_,
        }
        if have_lifetimes:
            row.update(_lifetimes_purchase(process, unique, x, tx, T, ours, ours_pred))
        rows.append(row)

        if process == "bgnbd":
            rows.append(_gamma_gamma(n, summary, have_lifetimes))
    return rows


def _lifetimes_purchase(
    process: str,
    unique: pd.DataFrame,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    ours: Any,
    ours_pred: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    from lifetimes import BetaGeoFitter
    from lifetimes import ParetoNBDFitter

    fitter_class = BetaGeoFitter if process == "bgnbd" else ParetoNBDFitter
    with warnings.catch_warnings():
        # lifetimes warns about its own internals (pandas, autograd).
        warnings.simplefilter("ignore")
        theirs, t_fit = timed(
            lambda: fitter_class().fit(
                unique["frequency"],
                unique["recency"],
                unique["T"],
                weights=unique["weights"],
            )
        )
        (expected, alive), t_pred = timed(
            lambda: (
                theirs.conditional_expected_number_of_purchases_up_to_time(
                    HORIZON_WEEKS, x, tx, T
                ),
                theirs.conditional_probability_alive(x, tx, T),
            )
        )
    params = {name: float(theirs.params_[name]) for name in ours.param_names}
    theirs_ll = (
        type(ours)
        .from_params(params)
        .log_likelihood(
            unique["frequency"],
            unique["recency"],
            unique["T"],
            weights=unique["weights"],
        )
    )
    expected = np.asarray(expected, dtype=float)
    alive = np.asarray(alive, dtype=float).ravel()
    finite = np.isfinite(expected) & np.isfinite(alive)
    return {
        "lifetimes_fit_s": t_fit,
        "lifetimes_predict_s": t_pred,
        "lifetimes_ll": theirs_ll,
        "lifetimes_nonfinite": int((~finite).sum()),
        "max_abs_diff_expected": float(
            np.max(np.abs(expected[finite] - ours_pred[0][finite]))
        ),
        "max_abs_diff_p_alive": float(
            np.max(np.abs(alive[finite] - ours_pred[1][finite]))
        ),
    }


def _gamma_gamma(n: int, summary: pd.DataFrame, have_lifetimes: bool) -> dict[str, Any]:
    repeat = summary[summary["frequency"] > 0]
    freq, spend = repeat["frequency"], repeat["monetary_value"]
    ours, t_fit = timed(lambda: GammaGammaModel().fit(freq, spend))
    _, t_pred = timed(lambda: ours.conditional_expected_spend(freq, spend))
    row: dict[str, Any] = {
        "n": n,
        "model": "gamma_gamma",
        "transactions": None,
        "unique": len(repeat),
        "clvframe_fit_s": t_fit,
        "clvframe_predict_s": t_pred,
        "clvframe_ll": ours.log_likelihood_,
    }
    if have_lifetimes:
        from lifetimes import GammaGammaFitter

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs, t_theirs = timed(lambda: GammaGammaFitter().fit(freq, spend))
            their_spend, t_theirs_pred = timed(
                lambda: theirs.conditional_expected_average_profit(freq, spend)
            )
        params = {k: float(theirs.params_[k]) for k in ("p", "q", "v")}
        row.update(
            lifetimes_fit_s=t_theirs,
            lifetimes_predict_s=t_theirs_pred,
            lifetimes_ll=GammaGammaModel.from_params(params).log_likelihood(
                freq, spend
            ),
            max_abs_diff_expected=float(
                np.max(
                    np.abs(
                        np.asarray(their_spend, float)
                        - ours.conditional_expected_spend(freq, spend)
                    )
                )
            ),
        )
    return row


def to_markdown(rows: list[dict[str, Any]]) -> str:
    columns = [
        ("n", "customers", "{:,}"),
        ("model", "model", "{}"),
        ("unique", "unique rows", "{:,}"),
        ("clvframe_fit_s", "fit s (clvframe)", "{:.2f}"),
        ("lifetimes_fit_s", "fit s (lifetimes)", "{:.2f}"),
        ("clvframe_predict_s", "predict s (clvframe)", "{:.2f}"),
        ("lifetimes_predict_s", "predict s (lifetimes)", "{:.2f}"),
        ("clvframe_ll", "LL (clvframe)", "{:.2f}"),
        ("lifetimes_ll", "LL (lifetimes)", "{:.2f}"),
        ("max_abs_diff_expected", "max abs diff E[X]/spend", "{:.2e}"),
        ("max_abs_diff_p_alive", "max abs diff P(alive)", "{:.2e}"),
        ("lifetimes_nonfinite", "lifetimes NaN/inf", "{}"),
    ]
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lifetimes-max",
        type=int,
        default=1_000_000,
        help="largest size at which lifetimes is run as well",
    )
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        rows.extend(run_size(n, args.seed, args.lifetimes_max))
    header = (
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, {platform.machine()}; "
        f"horizon {HORIZON_WEEKS:g} weeks; seed {args.seed}.\n\n"
    )
    table = header + to_markdown(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
