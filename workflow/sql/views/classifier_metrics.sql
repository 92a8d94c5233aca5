-- Precision, recall and F1 per class (pair, subject, attribute) for every classifier variant.
SELECT regexp_extract(filename, 'results/classifier/([^/]+)/', 1) AS dataset,
       CASE WHEN filename LIKE '%/control-last/%' THEN 'classifier-last' ELSE 'classifier' END AS run, * EXCLUDE (filename)
FROM read_parquet('results/classifier/*/*/**/metrics.parquet', union_by_name = true,
                  filename = true)
