-- Attraction score per (dataset, model, layer, subject, attribute, variant).
SELECT regexp_extract(filename, 'results/([^/]+)/', 1) AS dataset, * EXCLUDE (filename)
FROM read_parquet('results/*/*/geometry/scores/layer_*.parquet', union_by_name = true,
                  filename = true)
