"""Core utilities every stage uses: config validation, errors, atomic writes, plotting,
devices and cluster job sizes. No torch import at module level."""
