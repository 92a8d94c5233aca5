-- Every claim of the five studies with its verdict per model.
SELECT study, claim_id, claim, model, verdict, value, detail, figure
FROM findings
ORDER BY study, claim_id, model
