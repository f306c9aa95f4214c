"""Probabilistic customer-base models: the pure mathematics.

Each class fits by maximum likelihood on a customer summary and predicts in
whatever time unit the summary uses; the estimators of the framework add time
units, horizons, discounting and CLV on top.
"""

from clvframe.models.bgbb import BetaGeoBetaBinomModel
from clvframe.models.bgnbd import BetaGeoModel
from clvframe.models.gamma_gamma import GammaGammaModel
from clvframe.models.mbgnbd import ModifiedBetaGeoModel
from clvframe.models.paretonbd import ParetoNBDModel
from clvframe.models.sbg import ShiftedBetaGeometricModel

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "ShiftedBetaGeometricModel",
]
