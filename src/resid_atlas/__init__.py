"""resid-atlas: map the residual stream of language models."""

__version__ = "0.1.0"
