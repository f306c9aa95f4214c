"""Command-line commands of the serving package: register, promote, score, serve.

They are added to the ``clvframe`` group in :mod:`clvframe.cli`.
"""

from __future__ import annotations

import logging
from typing import Any
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape

from clvframe.errors import ClvframeError

console = Console()
logger = logging.getLogger(__name__)

_TRACKING = click.option(
    "--tracking-uri",
    default=None,
    help="Tracking store; default MLFLOW_TRACKING_URI, then ./mlflow.db.",
)


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise SystemExit(2)


def _mlflow_message(err: Exception) -> str:
    return str(getattr(err, "message", err))


@click.command()
@click.option("--name", required=True, help="Registered model name (created if new).")
@click.option("--run", "run_id", default=None, help="Register the model of this run.")
@click.option(
    "--experiment",
    default=None,
    help="Register the best run of this experiment (with --metric).",
)
@click.option("--metric", default=None, help="Metric that picks the best run.")
@click.option(
    "--direction",
    type=click.Choice(["lower", "higher", "zero"]),
    default=None,
    help="Which way the metric is better; known metrics need none.",
)
@_TRACKING
def register(
    name: str,
    run_id: str | None,
    experiment: str | None,
    metric: str | None,
    direction: str | None,
    tracking_uri: str | None,
) -> None:
    """Register a run's model, or the best run of an experiment by a metric.

    \b
    Examples:
      clvframe register --name clv --run 3c0d9c2e8b06...
      clvframe register --name clv --experiment clvframe --metric holdout_spend_mae
    """  # noqa: D301 (click's no-rewrap marker \b must stay a real backspace)
    from mlflow.exceptions import MlflowException

    from clvframe.serving import registry

    if (run_id is None) == (experiment is None):
        _fail("give either --run RUN_ID or --experiment NAME --metric METRIC.")
    if experiment is not None and metric is None:
        _fail("--experiment needs --metric, the metric that picks the best run.")
    try:
        if run_id is not None:
            done = registry.register_run(run_id, name, tracking_uri=tracking_uri)
        else:
            done = registry.register_best(
                str(experiment),
                str(metric),
                name,
                direction=direction,
                tracking_uri=tracking_uri,
            )
    except ClvframeError as err:
        _fail(str(err))
    except MlflowException as err:
        _fail(_mlflow_message(err))
    best = f" (best by {done.metric} = {done.metric_value:g})" if done.metric else ""
    console.print(
        f"Registered run [bold]{done.run_id}[/]{best} as [bold]{done.uri}[/].\n"
        f"Promote it: clvframe promote {done.name} {done.version} --alias champion",
        highlight=False,
    )


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True, help="Alias to move.")
@_TRACKING
def promote(name: str, version: str, alias: str, tracking_uri: str | None) -> None:
    """Point an alias (champion, challenger) of model NAME at VERSION."""
    from mlflow.exceptions import MlflowException

    from clvframe.serving import registry

    try:
        previous = registry.promote(name, version, alias, tracking_uri=tracking_uri)
    except ClvframeError as err:
        _fail(str(err))
    except MlflowException as err:
        _fail(_mlflow_message(err))
    before = f"was version {previous}" if previous else "new alias"
    console.print(
        f"models:/{name}@{alias} -> version {version} ({before}).", highlight=False
    )


@click.command()
@click.option("--model", "model_uri", required=True, help="e.g. models:/clv@champion")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(),
    help="Log (.csv, .parquet).",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(),
    help="Scores (.csv, .parquet).",
)
@click.option(
    "--as-of", default=None, help="Last day observed (YYYY-MM-DD or 'latest')."
)
@click.option("--horizon", type=float, default=None, help="Forecast horizon.")
@click.option("--horizon-unit", default=None, help="day, week, month or year.")
@click.option(
    "--margin", type=float, default=None, help="Share of revenue that is profit."
)
@click.option("--discount-rate", type=float, default=None, help="Per discount period.")
@click.option(
    "--chunk-rows",
    type=int,
    default=1_000_000,
    show_default=True,
    help="About this many log rows per chunk (whole customers); bounds memory.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option(
    "--export",
    "exports",
    multiple=True,
    help="Exporter to run on the scores (repeatable): csv, parquet, sql, ...",
)
@click.option(
    "--export-option",
    "export_options",
    multiple=True,
    help="Override of an exporter's config, e.g. export.csv.params.path=top.csv.",
)
@_TRACKING
def score(
    model_uri: str,
    input_path: str,
    output_path: str,
    as_of: str | None,
    horizon: float | None,
    horizon_unit: str | None,
    margin: float | None,
    discount_rate: float | None,
    chunk_rows: int,
    no_progress: bool,
    exports: tuple[str, ...],
    export_options: tuple[str, ...],
    tracking_uri: str | None,
) -> None:
    """Score every customer of a transaction log with a registered model.

    \b
    Example:
      clvframe score --model models:/clv@champion --input log.csv \\
        --output scores.parquet --export csv \\
        --export-option export.csv.params.path=champions.csv
    """  # noqa: D301 (click's no-rewrap marker \b must stay a real backspace)
    from mlflow.exceptions import MlflowException

    from clvframe.serving.score import score_file

    given: dict[str, Any] = {
        "as_of": as_of,
        "horizon": horizon,
        "horizon_unit": horizon_unit,
        "margin": margin,
        "discount_rate": discount_rate,
    }
    params = {k: v for k, v in given.items() if v is not None}
    try:
        report = score_file(
            model_uri,
            input_path,
            output_path,
            params=params,
            chunk_rows=chunk_rows,
            tracking=tracking_uri,
            progress=not no_progress,
        )
    except ClvframeError as err:
        _fail(str(err))
    except MlflowException as err:
        _fail(_mlflow_message(err))
    console.print(
        f"Scored {report.customers:,} customers ({report.rows:,} rows, "
        f"{report.chunks} chunk(s)) into {report.output} in {report.seconds:.1f} s.",
        highlight=False,
    )
    if exports:
        try:
            _export_scores(output_path, exports, export_options)
        except ClvframeError as err:
            _fail(str(err))


def _export_scores(
    output_path: str, exports: tuple[str, ...], options: tuple[str, ...]
) -> None:
    """Run the chosen exporters on the scores just written, as a run does."""
    import pandas as pd

    from clvframe.config.compose import compose_config
    from clvframe.exporters import run_exports

    names = ",".join(exports)
    cfg = compose_config([f"export=[{names}]", *options])
    if output_path.endswith(".parquet"):
        scores = pd.read_parquet(output_path)
    else:
        scores = pd.read_csv(output_path, dtype={"customer_id": str})
    for result in run_exports(scores, cfg.export):
        console.print(
            f"Exported {result.rows:,} customers with {result.exporter} to "
            f"{result.location}.",
            highlight=False,
        )


@click.command()
@click.option("--model", "model_uri", required=True, help="e.g. models:/clv@champion")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=5001, show_default=True, help="Port.")
@click.option(
    "--workers", type=int, default=1, show_default=True, help="Server processes."
)
@click.option(
    "--timeout",
    type=int,
    default=60,
    show_default=True,
    help="Seconds a request may take.",
)
@_TRACKING
def serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    timeout: int,
    tracking_uri: str | None,
) -> None:
    """Serve a model with MLflow's scoring server (local environment).

    \b
    POST http://HOST:PORT/invocations, Content-Type: application/json:
      {"dataframe_split": {"columns": ["customer_id", "timestamp", "amount"],
                           "data": [["c1", "2024-01-05", 20.5]]},
       "params": {"as_of": "2024-06-30", "horizon": 26}}
    """  # noqa: D301 (click's no-rewrap marker \b must stay a real backspace)
    from clvframe.serving.server import exec_server
    from clvframe.serving.server import serve_command
    from clvframe.serving.server import serve_environment

    try:
        command = serve_command(
            model_uri, host=host, port=port, workers=workers, timeout=timeout
        )
    except ClvframeError as err:
        _fail(str(err))
    env = serve_environment(tracking_uri)
    console.print(
        f"Serving {model_uri} on http://{host}:{port}/invocations "
        f"(tracking store {env['MLFLOW_TRACKING_URI']}); Ctrl-C stops it.",
        highlight=False,
    )
    exec_server(command, env)


COMMANDS = (register, promote, score, serve)
