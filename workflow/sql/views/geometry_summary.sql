-- Attraction and grouping per (dataset, model, layer, variant); see docs/geometry.md.
SELECT * FROM read_parquet('results/geometry/*/*/summary.parquet', union_by_name = true)
