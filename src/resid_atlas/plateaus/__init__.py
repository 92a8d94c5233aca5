"""Activation plateaus and sensitive directions (docs/studies.md, study 003; Heimersheim &
Mendel 2024, with Lee & Heimersheim's cov-random mixture baseline).

- `conditions`: the (base, direction, mode) grid and its names;
- `reference`: real activations at the perturbation site and their mean/covariance;
- `perturb`: base activations, directions, straight and sphere paths;
- `sweep`: batched perturbed runs through `PrefixCache`, curves and the interpolation triangle;
- `crossings`: threshold and plateau detection, medians with bootstrap intervals;
- `claims`: the findings table; `figures`: the plots.
"""
