-- Mean |attraction score| by relative depth (the study: it shrinks through the layers).
SELECT dataset, model, variant, similarity, layer, rel_depth, mean_abs_score, share_positive,
       subject_silhouette, attribute_silhouette, groups_more_by
FROM geometry_summary
ORDER BY dataset, model, variant, similarity, layer
