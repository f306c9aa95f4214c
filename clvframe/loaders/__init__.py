"""Built-in transaction loaders."""
