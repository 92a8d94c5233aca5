-- Mode catalog: one row per (dataset, model, layer, pair, mode); see docs/distributions.md.
SELECT regexp_extract(filename, 'results/distributions/([^/]+)/', 1) AS dataset, * EXCLUDE (filename)
FROM read_parquet('results/distributions/*/*/modes/layer_*.parquet', union_by_name = true, filename = true)
