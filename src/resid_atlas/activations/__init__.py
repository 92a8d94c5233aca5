"""Activations stage: per-layer pooled residual shards, their row index and meta.json.
Outputs: README.md (activations)."""
