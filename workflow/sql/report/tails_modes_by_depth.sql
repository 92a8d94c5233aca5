-- Tail exponent a of g*exp(-b*x^a) (2: Gaussian tails, 1: exponential) of the SSE-best fit, and
-- left/right minor-mode counts, by layer and relative depth (layer + 1) / n_layers.
WITH tails AS (
    SELECT dataset, model, layer, median(tail_a) AS tail_a_median, avg(tail_a) AS tail_a_mean
    FROM fits
    WHERE best_sse AND status = 'ok' AND pair <> '(pooled)' AND isfinite(tail_a)
    GROUP BY ALL
), counts AS (
    SELECT dataset, model, layer, avg(n_left) AS left_modes, avg(n_right) AS right_modes
    FROM modes
    WHERE side = 'main' AND pair <> '(pooled)'
    GROUP BY ALL
)
SELECT t.dataset, t.model, t.layer, (t.layer + 1) / m.n_layers AS rel_depth,
       t.tail_a_median, t.tail_a_mean, c.left_modes, c.right_modes
FROM tails t
JOIN (SELECT DISTINCT dataset, model, n_layers FROM models) m USING (dataset, model)
LEFT JOIN counts c USING (dataset, model, layer)
ORDER BY t.dataset, t.model, t.layer
