-- Frobenius norms of weight matrices by (model, layer, role).
SELECT * FROM read_parquet('results/facts/*/norms.parquet', union_by_name = true)
