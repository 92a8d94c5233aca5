"""One exception type for every input or environment problem a user can fix."""


class AtlasError(Exception):
    """A problem with the user's input or environment.

    The message names the file, row, key or model entry at fault and says how to fix it; the
    command line prints it alone (no traceback) and exits non-zero.
    """


def remake(path) -> str:
    """The recovery of a damaged pipeline output. A plain `snakemake` does not remake a file that
    is newer than its inputs, however broken: force it, or delete it."""
    return (
        f"remake it with `snakemake --forcerun {path}` (plus your usual options: it reruns the "
        f"job that writes it and everything made from it), or delete {path} and rerun snakemake"
    )
