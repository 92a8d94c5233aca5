"""The study's published numbers for the similarity part (study 000, GPT2-small, PCA variant)."""

from __future__ import annotations

STUDY = "000 beyond-gaussian"

# Mean |attraction score| by layer 0..11 of GPT2-small, PCA to 90% of the variance (the study,
# docs/studies.md).
GPT2_SMALL_PCA_MEAN_ABS = (
    0.750,
    0.262,
    0.210,
    0.135,
    0.113,
    0.091,
    0.088,
    0.056,
    0.058,
    0.058,
    0.058,
    0.054,
)

# The attributes the study names as most consistently attracting or repulsing.
STUDY_NAMED_ATTRIBUTES = ("in an angry tone", "in all lower case", "in a childish style")
# The attribute it names as staying distinctive in later layers.
STUDY_PERSISTENT_ATTRIBUTE = "in all lower case"


def reference_depth() -> list[tuple[float, float]]:
    """(relative depth, mean |score|) of the published series; depth = layer / (n_layers - 1)."""
    n = len(GPT2_SMALL_PCA_MEAN_ABS)
    return [(layer / (n - 1), value) for layer, value in enumerate(GPT2_SMALL_PCA_MEAN_ABS)]
