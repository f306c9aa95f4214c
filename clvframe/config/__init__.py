"""Run configuration: the Hydra schema, composition and validation."""
