-- The basic-facts findings, one row per (finding, model).
SELECT model, claim_id, claim, verdict, value, detail
FROM findings
WHERE study LIKE '002%'
ORDER BY claim_id, model
