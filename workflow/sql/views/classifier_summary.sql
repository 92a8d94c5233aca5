-- Macro F1 and top-k accuracy per (dataset, model, protocol, variant, level).
SELECT regexp_extract(filename, 'results/classifier/([^/]+)/', 1) AS dataset, * EXCLUDE (filename)
FROM read_parquet('results/classifier/*/*/summary.parquet', union_by_name = true,
                  filename = true)
