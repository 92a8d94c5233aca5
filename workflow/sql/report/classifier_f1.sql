-- Macro F1 for subjects and attributes by model: all values vs tails only (and the others run).
SELECT dataset, model, protocol, variant, level, macro_f1, top1, top3, n_sinks
FROM classifier_summary
WHERE level IN ('subject', 'attribute', 'pair')
ORDER BY dataset, model, protocol, level, variant
