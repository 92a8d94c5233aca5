-- The basic-facts findings, one row per (finding, model), with the rule that decided each.
SELECT model, claim_id, claim, verdict, value, detail, effect, n, rule
FROM findings
WHERE study LIKE '002%'
ORDER BY claim_id, model
