"""Batch scoring of a large log, and the scoring server under concurrent load.

Model: BG/NBD + Gamma-Gamma with value tiers, fitted by ``run_experiment`` on
a synthetic log of 20,000 customers (clvframe's CDNOW-like BG/NBD simulator)
and packaged with :func:`clvframe.serving.pyfunc.save_model`.

Batch: a fresh synthetic log of ``--customers`` customers (1M by default,
about 2.7M rows) written as CSV (ISO dates) and Parquet, scored by
:func:`clvframe.serving.score.score_file` in a fresh Python process per case,
so that each case's peak resident memory (``ru_maxrss``) is its own. "model
loaded" is the process's RSS after importing clvframe and MLflow and loading
the model, before scoring. The multi-chunk and single-chunk outputs are
compared customer by customer.

Server: ``clvframe serve`` (``mlflow models serve --env-manager local``) on a
free 127.0.0.1 port; a load generator of ``--concurrency`` threads, each with
its own keep-alive HTTP connection, sends requests for ``--seconds`` seconds
(at most ``--max-requests`` per scenario) of one customer's transactions, or
of 100 customers'. Latency is measured by the client, from sending the
request to reading the whole answer; any status but 200 is an error.

Usage::

    python benchmarks/bench_serving.py                    # 1M customers
    python benchmarks/bench_serving.py --customers 100000 --seconds 5 --out /tmp/s.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "serving.md"
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the child process of one batch case ----------------------------------------------


def child_score(model: str, source: str, output: str, chunk_rows: int) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from clvframe.serving.score import load_model
    from clvframe.serving.score import score_file

    loaded = load_model(model)
    base = _rss_mib()
    started = time.perf_counter()
    report = score_file(loaded, source, output, chunk_rows=chunk_rows, progress=False)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "model_loaded_mib": base,
                "peak_mib": _peak_mib(),
                "rows": report.rows,
                "customers": report.customers,
                "chunks": report.chunks,
            }
        )
    )


def run_case(
    model: Path, source: Path, output: Path, chunk_rows: int
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child-score", str(model), str(source)]
    command += [str(output), str(chunk_rows)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"batch case failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- setup ----------------------------------------------------------------------------


def build_model(folder: Path) -> Path:
    from clvframe.experiment import run_experiment
    from clvframe.serving.pyfunc import save_model

    result = run_experiment(
        [
            "loader=synthetic",
            "loader.params.n_customers=20000",
            "split.calibration_end=null",
            "tracking.enabled=false",
        ]
    )
    return save_model(result, folder / "model")


def build_log(n_customers: int, folder: Path) -> tuple[Path, Path, pd.DataFrame]:
    from clvframe.models.synthetic import simulate_transactions

    log = simulate_transactions(n_customers, seed=1, start="2020-01-01")
    csv = folder / "log.csv"
    text = log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d"))
    text.to_csv(csv, index=False)
    parquet = folder / "log.parquet"
    log.to_parquet(parquet, index=False)
    return csv, parquet, log


def compare_outputs(a: Path, b: Path) -> float:
    """Largest relative CLV difference between two score files, same customers."""
    left = pd.read_parquet(a).set_index("customer_id").sort_index()
    right = pd.read_parquet(b).set_index("customer_id").sort_index()
    if not left.index.equals(right.index):
        raise SystemExit("the two score files hold different customers")
    if not (left["segment"] == right["segment"]).all():
        raise SystemExit("the two score files disagree on segments")
    scale = np.maximum(np.abs(right["clv"].to_numpy()), 1e-12)
    return float(
        np.max(np.abs(left["clv"].to_numpy() - right["clv"].to_numpy()) / scale)
    )


# --- the server and the load generator ------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    model: Path, folder: Path, workers: int
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "clvframe.cli", "serve", "--model", str(model)]
    command += ["--port", str(port), "--workers", str(workers)]
    command += ["--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
    log = open(folder / f"server-{port}.log", "wb")  # noqa: SIM115 (the child holds it)
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited; see {folder}/server-{port}.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise SystemExit("server did not start in 180 s")


def stop_server(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def request_bodies(log: pd.DataFrame, per_request: int, count: int) -> list[bytes]:
    rng = np.random.default_rng(7)
    ids = log["customer_id"].drop_duplicates().to_numpy()
    text = log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d"))
    by_customer = text.groupby("customer_id", sort=False)
    bodies = []
    for _ in range(count):
        chosen = rng.choice(ids, size=per_request, replace=False)
        rows = pd.concat([by_customer.get_group(c) for c in chosen])
        split = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
        bodies.append(json.dumps({"dataframe_split": split}).encode())
    return bodies


def load_test(
    port: int, bodies: list[bytes], concurrency: int, seconds: float, max_requests: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    budget = iter(range(max_requests))

    def worker(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        i = offset
        while time.monotonic() < deadline:
            with lock:
                if next(budget, None) is None:
                    break
            body = bodies[i % len(bodies)]
            i += concurrency
            started = time.perf_counter()
            try:
                connection.request("POST", "/invocations", body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException) as err:
                status = type(err).__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(str(status))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": wall,
        "throughput": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


# --- report ---------------------------------------------------------------------------


def markdown(
    meta: dict[str, Any], batch: list[dict[str, Any]], served: list[dict[str, Any]]
) -> str:
    lines = [
        "# Serving benchmark",
        "",
        f"Machine: {meta['cores']} cores, Python {meta['python']}, "
        f"mlflow {meta['mlflow']}, pandas {meta['pandas']}; {meta['date']}. "
        f"Command: `{meta['command']}`.",
        "",
        "## Batch scoring (`clvframe score`)",
        "",
        f"Synthetic BG/NBD log: {meta['customers']:,} customers, {meta['rows']:,} rows "
        f"(CSV {meta['csv_mib']:.0f} MiB). Each case in a fresh process; peak RSS is "
        "the process's maximum resident memory, model loaded its RSS before scoring.",
        "",
        "| input | chunk rows | chunks | customers | seconds | customers/s "
        "| model loaded MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in batch:
        lines.append(
            f"| {case['input']} | {case['chunk_rows']:,} | {case['chunks']} | "
            f"{case['customers']:,} | {case['seconds']:.1f} | "
            f"{case['customers'] / case['seconds']:,.0f} | "
            f"{case['model_loaded_mib']:.0f} | {case['peak_mib']:.0f} |"
        )
    lines += [
        "",
        f"Chunked against single-chunk scores: same customers and segments, largest "
        f"relative CLV difference {meta['max_rel_diff']:.1e}.",
        "",
        "## Scoring server (`clvframe serve`, loopback)",
        "",
        "Load generator: one thread per client, each with its own keep-alive "
        f"connection, for {meta['seconds']:g} s per scenario (at most "
        f"{meta['max_requests']:,} requests), on the same 2-core machine as the "
        "server (and as other work: the figures include that contention). A "
        "request holds every transaction of 1 or 100 random customers of the "
        "log; latency is measured by the client.",
        "",
        "| request | server workers | concurrent clients | requests | errors | req/s "
        "| p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in served:
        lines.append(
            f"| {case['scenario']} | {case['workers']} | {case['clients']} | "
            f"{case['requests']:,} | "
            f"{case['errors']} | {case['throughput']:.1f} | {case['p50_ms']:.1f} | "
            f"{case['p99_ms']:.1f} | {case['max_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--child-score", nargs=4, metavar=("MODEL", "IN", "OUT", "CHUNK")
    )
    args = parser.parse_args()
    if args.child_score:
        model, source, output, chunk = args.child_score
        child_score(model, source, output, int(chunk))
        return

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        folder = Path(tmp)
        print("fitting and packaging the model ...", flush=True)
        model = build_model(folder)
        print(f"simulating {args.customers:,} customers ...", flush=True)
        csv, parquet, log = build_log(args.customers, folder)
        csv_mib = csv.stat().st_size / 2**20

        batch = []
        cases = [
            ("CSV", csv, args.chunk_rows, "chunked.parquet"),
            ("CSV", csv, 10**9, "whole.parquet"),
            ("Parquet", parquet, args.chunk_rows, "from-parquet.parquet"),
        ]
        for name, source, chunk_rows, out in cases:
            print(f"batch: {name}, chunk rows {chunk_rows:,} ...", flush=True)
            result = run_case(model, source, folder / out, chunk_rows)
            batch.append({"input": name, "chunk_rows": chunk_rows, **result})
            print(f"  {result}", flush=True)
        max_rel_diff = compare_outputs(
            folder / "chunked.parquet", folder / "whole.parquet"
        )

        served = []
        one = request_bodies(log, 1, 500)
        hundred = request_bodies(log, 100, 50)
        n = args.concurrency
        plan = [
            (1, [("1 customer", one, 1), ("1 customer", one, n)]),
            (2, [("1 customer", one, n), ("100 customers", hundred, n)]),
        ]
        for workers, scenarios in plan:
            process, port = start_server(model, folder, workers)
            try:
                for scenario, bodies, clients in scenarios:
                    load_test(port, bodies, 2, 2.0, 50)  # warm-up
                    print(f"server: {workers} worker(s), {scenario} ...", flush=True)
                    result = load_test(
                        port, bodies, clients, args.seconds, args.max_requests
                    )
                    served.append(
                        {"scenario": scenario, "workers": workers, "clients": clients}
                        | result
                    )
                    print(f"  {result}", flush=True)
            finally:
                stop_server(process)

    meta = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "pandas": pd.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python benchmarks/bench_serving.py", *sys.argv[1:]]),
        "customers": args.customers,
        "rows": len(log),
        "csv_mib": csv_mib,
        "max_rel_diff": max_rel_diff,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "max_requests": args.max_requests,
    }
    text = markdown(meta, batch, served)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
