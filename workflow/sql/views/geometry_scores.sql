-- Attraction score per (dataset, model, layer, subject, attribute, variant).
SELECT * FROM read_parquet('results/geometry/*/*/scores/layer_*.parquet', union_by_name = true)
