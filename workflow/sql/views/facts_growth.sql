-- Geometric growth rates per model (residual norm, writing and reading weights); docs/facts.md.
SELECT * FROM read_parquet('results/facts/*/growth.parquet', union_by_name = true)
