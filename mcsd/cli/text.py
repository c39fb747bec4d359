"""Safe printing of user-supplied strings (priors names, region ids, file paths, messages).

A priors file or a command line may carry terminal control sequences (ANSI escapes, C1
controls such as CSI U+009B, carriage returns, bidirectional overrides) or, in file names,
bytes that are not UTF-8 (surrogate escapes). :func:`safe` replaces each such character by
a visible escape (``\\x1b``, ``\\u202e``), so what mcsd prints cannot move the cursor,
recolour the terminal, hide text or break the one-line shape of an error message.
"""

from __future__ import annotations

import re
import sys
import unicodedata

# C0 controls, DEL, C1 controls; bidirectional embeddings, overrides and isolates; the line
# and paragraph separators; lone surrogates (undecodable bytes of a file name).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object) -> str:
    """``str(value)`` with every control, bidi-control and surrogate character escaped."""
    text = str(value)
    return _UNSAFE.sub(_escape, text)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`safe` would escape (or another ``Cc``)."""
    return bool(_UNSAFE.search(text)) or any(unicodedata.category(c) == "Cc" for c in text)


def error_line(prog: str, message: str) -> int:
    """Print ``PROG: error: MESSAGE`` as one safe line on stderr; return exit code 2."""
    line = " ".join(safe(message).split())
    try:
        print(f"{prog}: error: {line}", file=sys.stderr)
    except (OSError, ValueError):  # stderr gone too: nothing left to tell
        pass
    return 2
