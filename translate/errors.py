"""User-facing errors: one line, naming the thing at fault and the fix. The CLI prints them
without a traceback; anything else that escapes is a bug and keeps its traceback."""


class UserError(Exception):
    """A problem with the user's input (a file, a flag, a checkpoint), not with the code."""


class PluginError(UserError):
    """A plugin failed to load or does not honour the plugin contract. The message names it."""


class DataError(UserError):
    """A training file that cannot be used (unreadable, truncated, too large). The trainer saves a
    checkpoint before reporting it, so a bad file never costs the run."""


def one_line(message: object) -> str:
    """The message as the one line an error gets: a newline or other control character (in a file
    name, say) is shown escaped instead of breaking the line."""
    text = str(message)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def listing(items, limit: int = 3) -> str:
    """'x, y, z and 4 more': enough names for the user to find the problem, short enough for the
    one line an error gets."""
    names = [str(item) for item in items]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
