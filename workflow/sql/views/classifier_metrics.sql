-- Precision, recall and F1 per class (pair, subject, attribute) for every classifier variant.
SELECT regexp_extract(filename, 'results/([^/]+)/', 1) AS dataset,
       regexp_extract(filename, '/(classifier[^/]*)/', 1) AS run, * EXCLUDE (filename)
FROM read_parquet('results/*/*/classifier*/*/metrics.parquet', union_by_name = true,
                  filename = true)
