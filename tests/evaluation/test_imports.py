"""The evaluation package must stay cheap to import: no mlflow, no pyplot."""

from __future__ import annotations

import subprocess
import sys


def test_importing_evaluation_loads_neither_mlflow_nor_matplotlib() -> None:
    # NB: one interpreter for both checks; each start costs about a second.
    code = (
        "import sys, clvframe.evaluation; "
        "light = sorted(m for m in ('mlflow', 'matplotlib') if m in sys.modules); "
        "import clvframe.evaluation.plots; "
        "heavy = sorted({'mlflow', 'matplotlib.pyplot'} & set(sys.modules)); "
        "print(light, heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[] []"
