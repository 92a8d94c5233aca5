"""Subcommands of `python -m resid_atlas`; every module here defines `register(subparsers)`."""
