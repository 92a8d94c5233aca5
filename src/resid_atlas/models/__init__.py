"""Shared model access: loading and the planning catalog, residual hook points and patched
writes, pooling, fixed-length prompts, read-outs, the byte tokenizer, parameter roles."""
