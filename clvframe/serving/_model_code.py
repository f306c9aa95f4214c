"""Entry file of a logged clvframe model (MLflow's "models from code").

MLflow copies this file into the model and runs it when the model is loaded,
so the model is rebuilt from code and JSON artifacts instead of a pickle.
Never import this module: it registers the model as a side effect.
"""

import mlflow

from clvframe.serving.model import CLVPyfuncModel

mlflow.models.set_model(CLVPyfuncModel())
