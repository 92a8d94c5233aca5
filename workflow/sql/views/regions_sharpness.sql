-- Sharpness per interpolated pair of prompts; docs/regions.md.
SELECT * FROM read_parquet('results/regions/*/sharpness.parquet', union_by_name = true)
