"""Built-in ``rfm`` segmenter: recency, frequency and monetary scores, named segments.

Each customer gets three scores from 1 (worst) to 5 (best):

- **R**, from the days between the last purchase and the observation end
  (``T - recency`` in the summary's time unit, so the run's wall-clock date never
  matters): fewer days score higher;
- **F**, from the number of purchase periods (``frequency + 1``);
- **M**, from a spend column (``total_spend`` by default).

Scores are quantile-based by default (:func:`quantile_scores`) or come from
fixed cut points. A grid maps (R, F) (or (R, M), or (R, FM)) to a named segment;
it lives in ``conf/segmenter/rfm.yaml`` and a user can replace it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvframe.data.units import DEFAULT_MONTH_DAYS
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.hooks import hookimpl
from clvframe.segmenters.base import Segmenter

N_SCORES = 5
SCORE_COLUMNS = ("r_score", "f_score", "m_score")
GRID_COLUMNS = ("f", "m", "fm")
SCORINGS = ("quantile", "fixed")
# Values equal to this many decimals are ties (sums of amounts and T - recency
# in weeks differ in the last bits for customers who are really tied).
_DECIMALS = 6

# Rows: the recency score, 5 (bought most recently) to 1; columns: the grid
# score (frequency by default), 1 to 5. conf/segmenter/rfm.yaml repeats it.
DEFAULT_GRID: dict[str, list[str]] = {
    "r5": [
        "new",
        "potential loyalists",
        "potential loyalists",
        "champions",
        "champions",
    ],
    "r4": ["promising", "potential loyalists", "potential loyalists", "loyal", "loyal"],
    "r3": ["about to sleep", "about to sleep", "need attention", "loyal", "loyal"],
    "r2": ["hibernating", "hibernating", "at risk", "at risk", "cannot lose"],
    "r1": ["lost", "hibernating", "at risk", "at risk", "cannot lose"],
}
DEFAULT_ORDER = (
    "champions",
    "loyal",
    "potential loyalists",
    "new",
    "promising",
    "need attention",
    "about to sleep",
    "at risk",
    "cannot lose",
    "hibernating",
    "lost",
)

logger = logging.getLogger(__name__)


def quantile_scores(values: Any, n_scores: int = N_SCORES) -> np.ndarray:
    """Score values from 1 to ``n_scores`` by their quantiles, aware of ties.

    The rules, in order of precedence:

    1. Identical values get identical scores, and a higher value never gets a
       lower score (scores are a function of the value, never of row order).
    2. The lowest distinct value scores 1 and the highest ``n_scores`` (when
       there are at least two distinct values).
    3. With at most ``n_scores`` distinct values, each gets its own score,
       placed at the quantile of its mid-rank and moved just enough to keep
       them strictly increasing.
    4. Otherwise a block of identical values holding more than its share of
       customers (``1 / n_scores`` of them) takes one score, and the customers
       on each side are scored again, by quantiles, over the scores left on that
       side. So when most customers bought once, they all score 1 and the repeat
       buyers are spread over 2 to 5 instead of being lumped together.
    5. Without such a block, the score is the quantile of each value's
       mid-rank: ``1 + floor(n_scores * (below + equal / 2) / n)``, which is the
       usual quintile when there are no ties.

    Args:
        values: One number per customer (higher is better).
        n_scores: Number of scores.

    Returns:
        Integer scores in ``1..n_scores``, aligned with ``values``.

    Raises:
        DataValidationError: A value is missing or not finite.
    """
    array = np.asarray(values, dtype="float64")
    if array.size and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise DataValidationError(
            f"rfm: {bad} values to score are missing or not finite; fill them "
            "before segmenting."
        )
    if array.size == 0:
        return np.zeros(0, dtype="int64")
    distinct, inverse, counts = np.unique(
        np.round(array, _DECIMALS), return_inverse=True, return_counts=True
    )
    group_scores = np.zeros(len(distinct), dtype="int64")
    _score_groups(counts, 1, n_scores, n_scores, group_scores, 0)
    return group_scores[inverse.reshape(array.shape)]


def _score_groups(
    counts: np.ndarray, low: int, high: int, top: int, out: np.ndarray, offset: int
) -> None:
    """Score the distinct-value groups ``counts`` (ascending) over ``low..high``."""
    k = len(counts)
    if k == 0:
        return
    width = high - low + 1
    total = float(counts.sum())
    mid = (np.cumsum(counts) - counts / 2.0) / total
    ideal = low + np.minimum(np.floor(width * mid), width - 1).astype("int64")
    if k <= width:
        out[offset : offset + k] = _spread(ideal, low, high, top)
        return
    j = int(np.argmax(counts))
    interior = 0 < j < k - 1
    if counts[j] <= total / width or (interior and width < 3):
        out[offset : offset + k] = ideal
        return
    if j == 0:
        score = low
    elif j == k - 1:
        score = high
    else:
        score = int(min(max(ideal[j], low + 1), high - 1))
    out[offset + j] = score
    _score_groups(counts[:j], low, score - 1, top, out, offset)
    _score_groups(counts[j + 1 :], score + 1, high, top, out, offset + j + 1)


def _spread(ideal: np.ndarray, low: int, high: int, top: int) -> np.ndarray:
    """Distinct, strictly increasing scores near ``ideal``, ends anchored."""
    scores = ideal.copy()
    if len(scores) == 1:
        if low == 1 and high == top:
            return scores  # all values identical: the middle score
        scores[0] = low if low == 1 else high if high == top else scores[0]
        return scores
    scores[0], scores[-1] = low, high
    for i in range(1, len(scores)):
        scores[i] = max(scores[i], scores[i - 1] + 1)
    scores[-1] = min(scores[-1], high)
    for i in range(len(scores) - 2, -1, -1):
        scores[i] = min(scores[i], scores[i + 1] - 1)
    return scores


def fixed_scores(
    values: Any, cut_points: Sequence[float], *, descending: bool
) -> np.ndarray:
    """Score values from fixed cut points.

    With ``descending=False`` (frequency, monetary) a value below the first cut
    scores 1 and a value at or above the last scores ``len(cut_points) + 1``.
    With ``descending=True`` (days since the last purchase) a value at or below
    the first cut scores the most and one above the last cut scores 1.
    """
    cuts = np.asarray(cut_points, dtype="float64")
    array = np.round(np.asarray(values, dtype="float64"), _DECIMALS)
    if descending:
        return len(cuts) + 1 - np.searchsorted(cuts, array, side="left")
    return 1 + np.searchsorted(cuts, array, side="right")


class RFMSegmenter(Segmenter):
    """RFM scores (1 to 5) mapped to named segments (champions ... lost).

    Args:
        scoring: ``"quantile"`` (tie-aware quantiles, see
            :func:`quantile_scores`) or ``"fixed"`` (``cut_points``).
        cut_points: For fixed scoring, four increasing cut points for each of
            ``recency`` (days since the last purchase: at or below the first
            scores 5), ``frequency`` (purchase periods: below the first scores
            1, at or above the last scores 5) and ``monetary`` (the
            ``monetary`` column, same direction as frequency).
        monetary: The column behind the M score (``total_spend``, the spend to
            date, by default; ``historic_clv`` or ``monetary_value`` also work).
        grid: The segment of each cell: keys ``r5`` to ``r1`` (the recency
            score), each a list of five names for grid scores 1 to 5.
        grid_columns: The score across the grid: ``"f"``, ``"m"`` or ``"fm"``
            (the mean of F and M, rounded up).
        order: Segment order in tables, best first. When ``None``: the
            shipped order for the shipped names, else the grid's names in the
            order they first appear (top row first, high scores first).
        time_unit: Unit of ``recency`` and ``T`` in the customer frame, used to
            turn them into days for fixed cut points (the run's
            ``data.time_unit``; the frame's ``attrs["time_unit"]`` wins).
        month_days: Days in a month, when the time unit is a month.
    """

    name = "rfm"

    def __init__(
        self,
        scoring: str = "quantile",
        cut_points: Mapping[str, Sequence[float]] | None = None,
        monetary: str = "total_spend",
        grid: Mapping[str, Sequence[str]] | None = None,
        grid_columns: str = "f",
        order: Sequence[str] | None = None,
        time_unit: str = "week",
        month_days: float = DEFAULT_MONTH_DAYS,
    ) -> None:
        self.scoring = scoring
        self.cut_points = cut_points
        self.monetary = monetary
        self.grid = grid
        self.grid_columns = grid_columns
        self.order = order
        self.time_unit = time_unit
        self.month_days = month_days

    # -- configuration checks ---------------------------------------------------

    def _checked_grid(self) -> np.ndarray:
        given = dict(self.grid if self.grid is not None else DEFAULT_GRID)
        # Rows may be written r5 or 5 (YAML reads a bare 5 as an int).
        grid = {f"r{str(key).lower().removeprefix('r')}": v for key, v in given.items()}
        expected = [f"r{score}" for score in range(N_SCORES, 0, -1)]
        problems = []
        if sorted(grid) != sorted(expected) or len(grid) != len(given):
            problems.append(f"needs exactly the rows {expected}; got {list(given)}")
        cells = np.empty((N_SCORES, N_SCORES), dtype=object)
        for row in expected:
            names = grid.get(row)
            if names is None:
                continue
            if isinstance(names, str) or len(names) != N_SCORES:
                problems.append(
                    f"row {row} needs {N_SCORES} segment names; got {names!r}"
                )
                continue
            cells[N_SCORES - int(row[1:])] = [str(n) for n in names]
        if problems:
            raise ConfigError("segmenter.params.grid: " + "; ".join(problems) + ".")
        return cells

    def segment_names(self) -> list[str]:
        """The segment names in table order."""
        cells = self._checked_grid()
        found = list(dict.fromkeys(cells[:, ::-1].ravel().tolist()))
        if self.order is None:
            same = set(found) == set(DEFAULT_ORDER)
            return list(DEFAULT_ORDER) if same else found
        order = [str(name) for name in self.order]
        missing, extra = (
            sorted(set(found) - set(order)),
            sorted(set(order) - set(found)),
        )
        if missing or extra or len(order) != len(set(order)):
            raise ConfigError(
                "segmenter.params.order: must list each segment of the grid once; "
                f"missing {missing}, not in the grid {extra}, given {order}."
            )
        return order

    def _check_options(self) -> None:
        problems = []
        if self.scoring not in SCORINGS:
            problems.append(
                f"scoring: must be one of {list(SCORINGS)}; got {self.scoring!r}"
            )
        if self.grid_columns not in GRID_COLUMNS:
            problems.append(
                f"grid_columns: must be one of {list(GRID_COLUMNS)}; got "
                f"{self.grid_columns!r}"
            )
        if self.scoring == "fixed":
            problems += self._cut_problems()
        if problems:
            raise ConfigError("segmenter.params: " + "; ".join(problems) + ".")

    def _cut_problems(self) -> list[str]:
        cuts = dict(self.cut_points or {})
        problems = []
        for key in ("recency", "frequency", "monetary"):
            values = cuts.get(key)
            try:
                array = np.asarray(values, dtype="float64")
            except (TypeError, ValueError):
                array = np.zeros(0)
            ok = array.shape == (N_SCORES - 1,) and np.all(np.diff(array) > 0)
            if not ok:
                problems.append(
                    f"cut_points.{key}: fixed scoring needs {N_SCORES - 1} increasing "
                    f"numbers; got {values!r}"
                )
        return problems

    # -- scoring ----------------------------------------------------------------

    def _inputs(self, customers: pd.DataFrame) -> dict[str, np.ndarray]:
        needed = list(dict.fromkeys(["frequency", "recency", "T", self.monetary]))
        missing = [c for c in needed if c not in customers.columns]
        if missing:
            raise DataValidationError(
                f"rfm: the customer frame lacks {missing} (have "
                f"{list(customers.columns)}); segment a customer summary with "
                "forecast, or set segmenter.params.monetary to a column it has."
            )
        unit = str(customers.attrs.get("time_unit", self.time_unit))
        days = unit_days(unit, month_days=float(self.month_days))
        frame = customers[needed].apply(pd.to_numeric, errors="coerce")
        idle_days = (frame["T"] - frame["recency"]).to_numpy(dtype="float64") * days
        return {
            "recency": idle_days,
            "frequency": frame["frequency"].to_numpy(dtype="float64") + 1.0,
            "monetary": frame[self.monetary].to_numpy(dtype="float64"),
        }

    def scores(self, customers: pd.DataFrame) -> pd.DataFrame:
        """R, F and M scores of each customer, and the ``rfm`` cell ("545").

        Raises:
            ConfigError: Bad scoring options or cut points.
            DataValidationError: Columns are missing or values not finite.
        """
        self._check_options()
        inputs = self._inputs(customers)
        for key, values in inputs.items():
            bad = ~np.isfinite(values)
            if bad.any():
                raise DataValidationError(
                    f"rfm: {int(bad.sum())} customers have no {key} value (first: "
                    f"{customers.index[bad][0]!r}); fill or drop them first."
                )
        if self.scoring == "quantile":
            r = quantile_scores(-inputs["recency"])
            f = quantile_scores(inputs["frequency"])
            m = quantile_scores(inputs["monetary"])
        else:
            cuts = dict(self.cut_points or {})
            r = fixed_scores(inputs["recency"], cuts["recency"], descending=True)
            f = fixed_scores(inputs["frequency"], cuts["frequency"], descending=False)
            m = fixed_scores(inputs["monetary"], cuts["monetary"], descending=False)
        frame = pd.DataFrame(
            {"r_score": r, "f_score": f, "m_score": m}, index=customers.index
        ).astype("int64")
        frame["rfm"] = (
            frame["r_score"].astype(str)
            + frame["f_score"].astype(str)
            + frame["m_score"].astype(str)
        )
        return frame

    def assign(self, customers: pd.DataFrame) -> pd.Series:
        """Label each customer with its RFM segment."""
        cells = self._checked_grid()
        names = self.segment_names()
        scores = self.scores(customers)
        r = scores["r_score"].to_numpy()
        f, m = scores["f_score"].to_numpy(), scores["m_score"].to_numpy()
        column = {"f": f, "m": m, "fm": (f + m + 1) // 2}[self.grid_columns]
        labels = cells[N_SCORES - r, column - 1]
        segments = pd.Categorical(labels, categories=names, ordered=True)
        logger.info(
            "rfm: %d customers in %d segments",
            len(customers),
            len(set(labels.tolist())),
        )
        return pd.Series(segments, index=customers.index, name="segment")


@hookimpl
def clvframe_register_segmenters() -> list[type[Segmenter]]:
    """Register the rfm segmenter."""
    return [RFMSegmenter]
