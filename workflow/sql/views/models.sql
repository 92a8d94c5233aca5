-- One row per (dataset, model, protocol) with activation shards: how they were made and the layer count.
SELECT regexp_extract(filename, 'results/activations/([^/]+)/', 1) AS dataset, model, source, id, revision,
       "like", architecture, n_layers, d_model, n_parameters, protocol, centring, compute_dtype,
       n_sentences
FROM read_json_auto('results/activations/*/*/*/meta.json', filename = true, union_by_name = true)
