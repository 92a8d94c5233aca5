"""Likelihood classifier on activation values (study 001, "Activation Magnitudes Matter On Their
Own"): per-(pair, layer) densities, scoring variants (a compiled kernel), metrics, a
logistic-regression reference, the Japanese pooling control and the findings table. Outputs:
docs/classifier.md."""
