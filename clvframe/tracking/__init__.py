"""Experiment tracking; MLflow is imported only inside the functions that use it."""
