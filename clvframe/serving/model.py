"""The MLflow pyfunc model of a packaged CLV estimator.

This module imports MLflow; import it only where a model is loaded. The
scoring itself is :class:`clvframe.serving.scorer.CLVScorer`.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from clvframe.serving.scorer import CLVScorer
from clvframe.serving.scorer import ScoringInputError

ESTIMATOR_ARTIFACT = "estimator"
SETTINGS_ARTIFACT = "settings"

logger = logging.getLogger(__name__)


class ScoringRequestError(MlflowException):
    """A scoring error whose message is final.

    MLflow's scoring server rewrites the message of an exception raised by a
    model into ``Failed to predict data '<the request's rows>'. Error: ...``,
    which would send the customers' data back in the error body. This
    exception keeps the message it was created with, so the answer holds only
    the short message written by :mod:`clvframe.serving.scorer`.
    """

    @property
    def message(self) -> str:
        """The message given at creation; later assignments are ignored."""
        return str(self.__dict__.get("_final_message", ""))

    @message.setter
    def message(self, value: str) -> None:
        self.__dict__.setdefault("_final_message", str(value))


class CLVPyfuncModel(mlflow.pyfunc.PythonModel):
    """A fitted CLV estimator that scores transaction logs.

    The model's artifacts are the estimator folder written by
    :meth:`~clvframe.estimators.base.CLVEstimator.save` (JSON, plus a
    LightGBM text model where there is one) and the settings file
    (:class:`~clvframe.serving.scorer.ModelSettings`), so loading it
    unpickles nothing.
    """

    def load_context(self, context: Any) -> None:
        """Load the estimator and the settings from the model's artifacts."""
        self.scorer = CLVScorer.from_files(
            context.artifacts[ESTIMATOR_ARTIFACT], context.artifacts[SETTINGS_ARTIFACT]
        )
        logger.info(
            "Loaded clvframe %s model (data to %s)",
            self.scorer.settings.estimator,
            self.scorer.settings.observation_end,
        )

    # model_input has no type hint on purpose: MLflow would read it as a schema.
    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Score a transaction log; see :meth:`CLVScorer.score`.

        Raises:
            ScoringRequestError: ``INVALID_PARAMETER_VALUE`` (HTTP 400) for an
                invalid log or parameter; ``INTERNAL_ERROR`` (HTTP 500) when
                scoring itself fails. Neither message holds customer data.
        """
        try:
            return self.scorer.score(model_input, params)
        except ScoringInputError as err:
            raise ScoringRequestError(
                str(err), error_code=INVALID_PARAMETER_VALUE
            ) from None
        except Exception as err:
            # The original message may name customers: log only its type.
            logger.error("Scoring failed inside the model: %s", type(err).__name__)
            raise ScoringRequestError(
                f"scoring failed inside the model ({type(err).__name__}); details "
                "are withheld because they may name customers. Score the same log "
                "with `clvframe score` to see them.",
                error_code=INTERNAL_ERROR,
            ) from err
