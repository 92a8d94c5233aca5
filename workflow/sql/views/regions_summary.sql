-- Sharpness median/quartiles per (model, pairing, path) with size and checkpoint.
SELECT * FROM read_parquet('results/regions/summary.parquet', union_by_name = true)
