"""The one exception a user can cause: its message is the single line the CLI prints."""


class DseError(Exception):
    """A problem the user can fix (bad file, bad URL, unknown name). Printed as one line."""
