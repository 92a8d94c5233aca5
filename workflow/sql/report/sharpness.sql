-- Boundary sharpness of stable regions by model, size and training checkpoint.
SELECT model, pairing, path, steps, n_ok AS n_pairs, median, q25, q75, ci_low, ci_high,
       share_smooth, share_sharp, n_parameters, revision, training_step, trained
FROM regions_summary
ORDER BY pairing, path, n_parameters, training_step
