-- Share of samples each family wins, by model, under the study's SSE criterion and under AIC.
-- Per-pair samples only (the pooled sample of all pairs is reported in the per-model tables).
WITH best AS (
    SELECT dataset, model, family, 'sse' AS criterion FROM fits
    WHERE best_sse AND status = 'ok' AND pair <> '(pooled)'
    UNION ALL
    SELECT dataset, model, family, 'aic' AS criterion FROM fits
    WHERE best_aic AND status = 'ok' AND pair <> '(pooled)'
), counts AS (
    SELECT dataset, model, criterion, family, count(*) AS n_samples FROM best GROUP BY ALL
)
SELECT dataset, model, criterion, family, n_samples,
       n_samples / sum(n_samples) OVER (PARTITION BY dataset, model, criterion) AS share
FROM counts
ORDER BY dataset, model, criterion, share DESC, family
