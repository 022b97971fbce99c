"""One error type for bad user input: the CLI prints its message on one line and exits 2."""


class CtxlabError(Exception):
    """A problem with the user's input, worded as what is wrong and how to fix it."""

    exit_code = 2
