"""What a class name may be, wherever it comes from (a file, the command line, the window):
text that every list, terminal and database can show and store as it is."""

from __future__ import annotations

import unicodedata

MAX_NAME_LENGTH = 200  # characters in a class name
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unprintable(text: str) -> str | None:
    """Why the text cannot be shown or stored as it is (control characters such as ANSI
    escapes and newlines, bidi overrides, lone surrogates), or None."""
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            return "a lone surrogate (not valid Unicode)"
        if category == "Cc" or ch in _BIDI_CONTROLS:
            return "control characters"
    return None


def name_problem(name: object) -> str | None:
    """Why this is not a usable class name, or None."""
    if not isinstance(name, str) or not name.strip():
        return "a class name must be text and not empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"a class name is at most {MAX_NAME_LENGTH} characters (this one has {len(name):,})"
    problem = unprintable(name)
    return f"a class name may not contain {problem}" if problem else None
