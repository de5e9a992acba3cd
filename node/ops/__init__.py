"""Operating a node: health, metrics, logging, backup, checks, configuration checks."""
