"""Stable regions (study 004, Janiak et al.): interpolation curves between real residual
activations, boundary sharpness, 2-D slices and the cross-model summary.

- `paths`: linear and arc interpolation, normalised curves and sharpness (pure numerics);
- `pairs`: prompt pairs from the corpus (consecutive stream windows, or pairs by meaning);
- `curves`: patched runs with the prefix cache, one token per interpolation point;
- `slices`: 2-D grids through three real activations, coloured by output similarity;
- `summary`: medians, quartiles, bootstrap CIs, the semantic check and the findings;
- `plots`: the figures.
"""
