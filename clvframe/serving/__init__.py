"""Registered CLV models: pyfunc packaging, registry, batch scoring and serving.

:mod:`clvframe.serving.scorer` holds the scoring core (no MLflow import), which
the pyfunc model, the batch scorer and the scoring server all share.
"""
