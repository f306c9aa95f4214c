"""Built-in ``combined`` segmenter: one segmenter's labels within another's.

``segmenter=rfm_within_tiers`` is this segmenter with value tiers outside and
RFM segments inside, so a customer is "top 1% / champions" or
"rest (bottom 75%) / lost". Any two registered segmenters combine, and a
combined segmenter can itself be a part.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from clvframe.errors import ConfigError
from clvframe.hooks import hookimpl
from clvframe.segmenters.base import Segmenter

logger = logging.getLogger(__name__)


def _build_part(spec: Mapping[str, Any] | None, key: str) -> Segmenter:
    from clvframe._plugins import build_registry

    if not isinstance(spec, Mapping) or not spec.get("name"):
        raise ConfigError(
            f"segmenter.params.{key}: must be a segmenter as {{name: ..., params: "
            f"{{...}}}}, e.g. {{name: tiers}}; got {spec!r}."
        )
    component = build_registry().get(
        "segmenter", str(spec["name"]), key=f"segmenter.params.{key}.name"
    )
    return component.cls.from_config(dict(spec.get("params") or {}))


class CombinedSegmenter(Segmenter):
    """Segments of ``inner`` within segments of ``outer`` ("top 1% / champions").

    Both parts label all customers (RFM scores are not recomputed per tier);
    the combined label joins them. Categories are ordered outer first, then
    inner, so the table reads tier by tier.

    Args:
        outer: The outer segmenter, ``{name: ..., params: {...}}``.
        inner: The inner segmenter, same shape.
        separator: Joins the two labels.
        keep_empty: Keep combinations with no customer in the table.
    """

    name = "combined"

    def __init__(
        self,
        outer: Mapping[str, Any] | None = None,
        inner: Mapping[str, Any] | None = None,
        separator: str = " / ",
        keep_empty: bool = False,
    ) -> None:
        self.outer = outer
        self.inner = inner
        self.separator = separator
        self.keep_empty = keep_empty

    def parts(self) -> tuple[Segmenter, Segmenter]:
        """The outer and inner segmenters, built from their registered names."""
        return _build_part(self.outer, "outer"), _build_part(self.inner, "inner")

    def assign(self, customers: pd.DataFrame) -> pd.Series:
        """Label each customer ``"<outer><separator><inner>"``."""
        outer, inner = (part.assign(customers) for part in self.parts())
        outer_names = [str(c) for c in _categories(outer)]
        inner_names = [str(c) for c in _categories(inner)]
        names = [f"{o}{self.separator}{i}" for o in outer_names for i in inner_names]
        labels = outer.astype(str) + self.separator + inner.astype(str)
        segments = pd.Categorical(labels, categories=names, ordered=True)
        if not self.keep_empty:
            segments = segments.remove_unused_categories()
        logger.info(
            "combined: %d customers in %d segments",
            len(customers),
            len(segments.categories),
        )
        return pd.Series(segments, index=customers.index, name="segment")

    def scores(self, customers: pd.DataFrame) -> pd.DataFrame | None:
        """The scores of whichever part has them (RFM scores), else ``None``."""
        for part in self.parts():
            if hasattr(part, "scores"):
                return part.scores(customers)
        return None


def _categories(labels: pd.Series) -> list[Any]:
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return list(labels.cat.categories)
    return sorted(labels.dropna().unique().tolist(), key=str)


@hookimpl
def clvframe_register_segmenters() -> list[type[Segmenter]]:
    """Register the combined segmenter."""
    return [CombinedSegmenter]
