"""Representation geometry (study 000, "Representational Vector Similarities"): do subjects or
attributes pull sentence vectors together harder, layer by layer? Definitions: docs/geometry.md.

Modules: `cells` (the subject x attribute grid of a layer's rows), `similarity` (set-to-set
cosine, vectorised), `attraction` (the attraction score), `grouping` (within/between cosine and
silhouette), `layer` (one layer's tables, raw and PCA), `summary` (per-layer summaries, pulls,
depth trend, findings), `modes_link` (correlation with the distribution atlas's mode catalogs),
`figures`, `reference` (the study's published numbers).
"""
