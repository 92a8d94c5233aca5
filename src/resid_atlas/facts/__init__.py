"""Basic facts about LM internals (study 002, Millidge & Winsor): activations, outlier dimensions,
weights, gradients, spectra and norms of one model, measured with bounded memory."""
