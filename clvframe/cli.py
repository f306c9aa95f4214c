"""The ``clvframe`` command line.

``clvframe run`` hands the rest of its command line to Hydra, so overrides and
multirun (``-m``) work exactly as in any Hydra app; the other commands are
plain click commands.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from clvframe.errors import ClvframeError

console = Console()
logger = logging.getLogger(__name__)

_HEADLINE_METRICS = (
    "holdout_purchases_mae",
    "holdout_spend_mae",
    "holdout_spend_rmse",
    "holdout_spend_spearman",
    "holdout_revenue_error",
    "holdout_top_decile_lift",
    "holdout_gini",
    "holdout_churn_auc",
    "holdout_repurchase_auc",
    "fit_log_likelihood",
)


def _setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    logging.getLogger("clvframe").setLevel(level)
    logging.captureWarnings(True)


@click.group()
@click.version_option(package_name="clvframe")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """clvframe: customer lifetime value from a transaction log."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _setup_logging(verbose)


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def run(overrides: Sequence[str]) -> None:
    """Run an experiment. Arguments are Hydra overrides; --help lists them.

    \b
    Examples:
      clvframe run
      clvframe run estimator=historic forecast.horizon=26
      clvframe run -m estimator=historic,bgnbd
    """
    import hydra

    from clvframe.config.compose import CONFIG_NAME
    from clvframe.config.compose import config_dir
    from clvframe.config.schema import register_configs

    register_configs()
    sys.argv = ["clvframe run", *overrides]
    app = hydra.main(
        config_path=str(config_dir()), config_name=CONFIG_NAME, version_base="1.3"
    )(_run_job)
    app()


def _run_job(cfg: Any) -> None:
    from clvframe.experiment import run_experiment

    try:
        result = run_experiment(cfg)
    except ClvframeError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False)
        raise SystemExit(2) from None
    print_summary(result)


def print_summary(result: Any) -> None:
    """Print the metrics, the segment table and how to open the run."""
    cfg = result.config
    console.rule(f"[bold]clvframe run: {cfg.estimator.name} on {cfg.loader.name}")
    info = result.info
    console.print(
        f"{info['rows']:,} rows, {info['customers']:,} customers, observed to "
        f"{info['observation_end']}; horizon {cfg.forecast.horizon:g} "
        f"{cfg.forecast.horizon_unit}s, margin {cfg.forecast.margin:g}, discount "
        f"{cfg.forecast.discount_rate:.0%} a {cfg.forecast.discount_period}.",
        highlight=False,
    )
    if result.metrics:
        table = Table(
            title=(
                f"Holdout after {info['calibration_end']} "
                f"({info['holdout_customers']:,} customers; "
                f"{info['holdout_new_customers']:,} first seen later, not evaluated)"
            ),
            title_justify="left",
        )
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key in _HEADLINE_METRICS:
            if key in result.metrics:
                table.add_row(key, f"{result.metrics[key]:,.4f}")
        console.print(table)
    if result.segment_table is not None:
        console.print(_segment_rich_table(result.segment_table))
    if result.run_id:
        console.print(
            f"Tracked as run [bold]{result.run_id}[/] in {result.tracking_uri}\n"
            f"Open it: mlflow ui --backend-store-uri {result.tracking_uri}  then "
            f"http://127.0.0.1:5000/#/experiments/{result.experiment_id}/runs/"
            f"{result.run_id}",
            highlight=False,
        )
    console.print(f"Done in {info.get('wall_seconds', 0):.1f} s.")


def _segment_rich_table(frame: Any) -> Table:
    table = Table(title="Value by segment (predicted CLV over the horizon)", title_justify="left")
    table.add_column("segment")
    columns = [
        ("customers", "{:,.0f}"),
        ("share_of_customers", "{:.1%}"),
        ("total_clv", "{:,.0f}"),
        ("mean_clv", "{:,.2f}"),
        ("share_of_value", "{:.1%}"),
        ("mean_historic_clv", "{:,.2f}"),
        ("mean_p_alive", "{:.3f}"),
    ]
    present = [(c, f) for c, f in columns if c in frame.columns]
    for column, _ in present:
        table.add_column(column.replace("_", " "), justify="right")
    for segment, row in frame.iterrows():
        table.add_row(str(segment), *(fmt.format(row[c]) for c, fmt in present))
    return table


@main.command()
@click.option("--no-autoload", is_flag=True, help="Skip installed (entry-point) plugins.")
def plugins(no_autoload: bool) -> None:
    """List registered loaders, estimators, spend models and segmenters."""
    from clvframe._plugins import build_registry

    try:
        registry = build_registry(autoload=not no_autoload)
    except ClvframeError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False)
        raise SystemExit(2) from None
    table = Table(title="Registered components")
    for column in ("kind", "name", "origin", "plugin", "description"):
        table.add_column(column)
    for component in registry:
        table.add_row(
            component.kind,
            component.name,
            component.origin,
            component.plugin,
            component.summary,
        )
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
