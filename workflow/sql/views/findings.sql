-- Every analysis's findings (resid_atlas.stats.findings.FINDINGS_SCHEMA): one row per (claim,
-- model). Each stage stacks its findings into results/<stage>/findings.parquet, so one glob reads
-- them all.
SELECT * EXCLUDE (filename), filename AS source_file
FROM read_parquet('results/*/findings.parquet', union_by_name = true, filename = true)
