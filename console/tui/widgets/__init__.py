"""Console widgets: one per module, each with its structural CSS in ``DEFAULT_CSS``."""
