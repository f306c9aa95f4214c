"""The evaluation package must stay cheap to import: no mlflow, no matplotlib."""

from __future__ import annotations

import subprocess
import sys


def test_importing_evaluation_loads_neither_mlflow_nor_matplotlib() -> None:
    code = (
        "import sys, clvframe.evaluation, clvframe.evaluation.compare; "
        "print(sorted(m for m in ('mlflow', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_importing_plots_does_not_load_mlflow_or_pyplot() -> None:
    code = (
        "import sys, clvframe.evaluation.plots; "
        "print(sorted(m for m in ('mlflow', 'matplotlib.pyplot') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
