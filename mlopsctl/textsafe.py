"""Text from a model repository made safe to show on a terminal.

Run ids, model names, descriptions, commit subjects and authors, data column names: anything that
came from a file or a commit is written by someone we do not fully trust. A string holding
``ESC ] 0 ; ... BEL`` retitles the terminal, ``ESC [ 2 J`` clears it, and some terminals answer
queries by typing into the shell. So every terminal choke point (the CLI's consoles, the
dashboard's cells) passes text through :func:`terminal_safe`, which drops C0 controls but newline
and tab, DEL and the C1 controls (0x80-0x9f, which some terminals read as ESC sequences).

No heavy imports: the CLI imports this on every command.
"""

from __future__ import annotations

import re

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Every control character a terminal may act on; newline and tab are layout, not commands."""


def terminal_safe(text: str) -> str:
    """``text`` without the control characters a terminal would act on; the visible text is kept."""
    if UNSAFE.search(text) is None:  # the common case: no copy
        return text
    return UNSAFE.sub("", text)
