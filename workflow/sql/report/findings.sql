-- Every claim of the five studies with its verdict per model and the evidence that decided it:
-- the effect, its 95% interval or one-sided p-value, n and the rule (resid_atlas.stats.verdicts).
SELECT study, claim_id, claim, model, verdict, effect, ci_low, ci_high, p_value, n, rule,
       value, detail, figure
FROM findings
ORDER BY study, claim_id, model
