"""The ``clvframe`` command line.

``clvframe run`` hands the rest of its command line to Hydra, so overrides and
multirun (``-m``) work exactly as in any Hydra app; the other commands are
plain click commands.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any
from typing import NoReturn

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from clvframe.errors import ClvframeError
from clvframe.serving.cli import COMMANDS as SERVING_COMMANDS

console = Console()
err_console = Console(stderr=True)
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
    # Warnings are for the user: one log line each, without the source line.
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    logging.getLogger("clvframe").warning("%s: %s", category.__name__, message)


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
    from clvframe.config.compose import plugin_config_dirs
    from clvframe.config.compose import searchpath_override
    from clvframe.config.schema import register_configs

    register_configs()
    search = []
    if not any(o.startswith("hydra.searchpath") for o in overrides):
        try:
            search = searchpath_override(plugin_config_dirs())
        except ClvframeError as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise SystemExit(2) from None
    sys.argv = ["clvframe run", *overrides, *search]
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
    if result.holdout is None:
        console.print(
            "No holdout: split.calibration_end is null. Set it (YYYY-MM-DD) to "
            "fit on the log up to that day and measure the forecast after it.",
            highlight=False,
        )
    if result.metrics and result.holdout is not None:
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
    from clvframe.acquisition import acquisition_renderables

    for renderable in acquisition_renderables(result):
        console.print(renderable)
    for line in info.get("exports", []):
        console.print(f"Exported {line}", highlight=False)
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
    table = Table(
        title="Value by segment: historic CLV (spend to date x margin) beside "
        "predicted CLV (over the horizon)",
        title_justify="left",
    )
    table.add_column("segment")
    columns = [
        ("customers", "{:,.0f}", "customers"),
        ("share_of_customers", "{:.1%}", "% cust."),
        ("total_historic_clv", "{:,.0f}", "historic total"),
        ("total_clv", "{:,.0f}", "predicted total"),
        ("mean_historic_clv", "{:,.2f}", "historic mean"),
        ("mean_clv", "{:,.2f}", "predicted mean"),
        ("share_of_value", "{:.1%}", "% of predicted"),
        ("mean_p_alive", "{:.3f}", "P(alive)"),
    ]
    present = [(c, f, h) for c, f, h in columns if c in frame.columns]
    for _, _, header in present:
        table.add_column(header, justify="right")
    for segment, row in frame.iterrows():
        # NB: an empty segment has no mean P(alive) (NaN): show a dash.
        cells = (
            "-" if row[c] != row[c] else fmt.format(row[c]) for c, fmt, _ in present
        )
        table.add_row(str(segment), *cells)
    return table


@main.command()
@click.option(
    "--no-autoload", is_flag=True, help="Skip installed (entry-point) plugins."
)
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


@main.command()
@click.option("--experiment", "-e", default="clvframe", show_default=True)
@click.option(
    "--tracking-uri",
    default=None,
    help="MLflow store; default: MLFLOW_TRACKING_URI, else ./mlflow.db.",
)
@click.option("--sort-by", "-s", default="holdout_spend_mae", show_default=True)
@click.option(
    "--metric",
    "-m",
    "metrics",
    multiple=True,
    help="Metric column to show (repeatable); default: the main holdout metrics.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write the table here."
)
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Draw the metrics to this PNG."
)
def compare(
    experiment: str,
    tracking_uri: str | None,
    sort_by: str,
    metrics: tuple[str, ...],
    fmt: str,
    output: str | None,
    plot: str | None,
) -> None:
    """Compare the runs of an experiment side by side, best first.

    \b
    Examples:
      clvframe run -m estimator=historic,bgnbd,paretonbd
      clvframe compare
      clvframe compare --sort-by holdout_gini --format markdown -o compare.md
    """
    from clvframe.evaluation.compare import best_per_column
    from clvframe.evaluation.compare import compare_runs
    from clvframe.evaluation.compare import format_table
    from clvframe.tracking.mlflow import resolve_tracking_uri

    try:
        table = compare_runs(
            experiment,
            resolve_tracking_uri(tracking_uri),
            sort_by=sort_by,
            metrics=list(metrics) or None,
        )
    except ClvframeError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False)
        raise SystemExit(2) from None
    if fmt == "table":
        console.print(_compare_rich_table(table, best_per_column(table), sort_by))
    else:
        text = format_table(table, fmt="markdown" if fmt == "markdown" else "csv")
        if output is None:
            click.echo(text)
    if output is not None:
        text = format_table(table, fmt="csv" if output.endswith(".csv") else "markdown")
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as err:
            _fail(f"--output: cannot write {output!r}: {err.strerror}.")
        err_console.print(f"Wrote {output}")
    if plot is not None:
        from clvframe.evaluation.plots import plot_metrics_comparison

        shown = [c for c in table.columns if c.startswith(("holdout_", "fit_"))]
        if not plot.lower().endswith((".png", ".svg", ".pdf")):
            _fail(f"--plot: {plot!r} must end in .png, .svg or .pdf.")
        figure = plot_metrics_comparison(table, shown[:6])
        try:
            figure.savefig(plot, dpi=110, bbox_inches="tight")
        except OSError as err:
            _fail(f"--plot: cannot write {plot!r}: {err.strerror}.")
        err_console.print(f"Wrote {plot}")


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(2)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _compare_rich_table(frame: Any, best: dict[str, Any], sort_by: str) -> Table:
    table = Table(title=f"Runs, best first by {sort_by} (best per column in bold)")
    table.add_column("run")
    # Settings stay in the Markdown and CSV output; the terminal shows metrics.
    frame = frame[
        [
            c
            for c in frame.columns
            if c in ("run_name", "estimator") or c.startswith(("holdout_", "fit_"))
        ]
    ]
    for column in frame.columns:
        table.add_column(
            column.replace("holdout_", "").replace("_", " "), justify="right"
        )
    for run_id, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            text = _number(value) if isinstance(value, float) else str(value)
            cells.append(f"[bold]{text}[/]" if best.get(column) == run_id else text)
        table.add_row(str(run_id), *cells)
    return table


for _command in SERVING_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
