-- One row per perturbation curve: where KL first crossed the threshold, plateau length.
SELECT * FROM read_parquet('results/plateaus/*/thresholds.parquet', union_by_name = true)
