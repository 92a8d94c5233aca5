-- Where KL(P_base || P_perturbed) first exceeds the threshold, per condition and model.
SELECT model, condition, base, direction, mode, size_unit, n_curves, n_crossed,
       crossing_median, crossing_ci_low, crossing_ci_high, plateau_median, max_kl_median
FROM plateaus_summary
ORDER BY model, mode, base, direction
