"""Distributions stage (study 000): 19 families fitted per (layer, pair), KDE mode catalogs,
family shares, figures and findings. Outputs: docs/distributions.md."""
