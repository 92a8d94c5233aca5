-- Threshold crossings per (model, condition): medians with bootstrap CIs; docs/plateaus.md.
SELECT * FROM read_parquet('results/plateaus/*/summary.parquet', union_by_name = true)
