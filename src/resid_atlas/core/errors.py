"""One exception type for every input or environment problem a user can fix."""


class AtlasError(Exception):
    """A problem with the user's input or environment.

    The message names the file, row, key or model entry at fault and says how to fix it; the
    command line prints it alone (no traceback) and exits non-zero.
    """
