"""Named crash points for the process-kill tests (tests/fault).

``COFFER_CRASH_AT=<name>`` makes the process SIGKILL itself when it reaches that point, so a
test can kill a real server exactly between two steps (say, after the PG approved a payment and
before Coffer committed it). Unset, a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "COFFER_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
