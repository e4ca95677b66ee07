"""Moved to mln_tf.tables (kept while branches that import it here are merged)."""
from mln_tf.tables import format_table  # noqa: F401
