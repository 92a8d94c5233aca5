-- Fitted families: one row per (dataset, model, layer, pair, family); see docs/distributions.md.
SELECT regexp_extract(filename, 'results/distributions/([^/]+)/', 1) AS dataset, * EXCLUDE (filename)
FROM read_parquet('results/distributions/*/*/fits/layer_*.parquet', union_by_name = true, filename = true)
