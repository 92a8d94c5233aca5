"""The cross-model report: a DuckDB atlas over every Parquet table, cross-model tables and
figures, and the findings page."""
