"""Progress lines for people: never allowed to stop the work they report on."""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO


def say(line: str, file: TextIO | None = None) -> None:
    """Print one line and flush; a closed or broken terminal (a killed ``| tee``, a hung-up
    ssh session) is ignored, so cleanup after Ctrl-C or SIGTERM still runs to its end."""
    with contextlib.suppress(OSError, ValueError):  # ValueError: the stream itself was closed
        print(line, file=file or sys.stdout, flush=True)
