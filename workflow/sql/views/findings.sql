-- Every analysis's findings (resid_atlas.findings.FINDINGS_SCHEMA): one row per (claim, model).
-- results/facts/<model>/findings.parquet are per-model parts of results/facts/findings.parquet.
SELECT * EXCLUDE (filename), filename AS source_file
FROM read_parquet('results/**/*findings.parquet', union_by_name = true, filename = true)
WHERE filename NOT LIKE 'results/report/%'
  AND NOT regexp_matches(filename, '^results/facts/[^/]+/findings\.parquet$')
