"""The data model: transaction logs, purchase periods, customer summaries."""
