"""Keeping a session's collected items out of the cyclic garbage collector's walks (``gc.freeze``).

A case file's items live as long as the session, and every full collection during collection walked
them again: about 2 of the 3.5 s a 10,000-case collection took. They are frozen after each case file
and thawed before any test runs (a ``--collect-only`` run runs none): frozen objects are invisible to
``gc.get_referrers``, which tests and libraries rely on (hypothesis's ``register_random`` warned
falsely while they were frozen). At interpreter exit, after pytest's last collection has reported
unraisable exceptions, everything is frozen again: the interpreter's own final collection would only
walk the session's reports and rows to free memory the process is giving back (Python does not
promise ``__del__`` at exit). Only the outermost session freezes: a pytester run inside a test
session leaves the outer process's garbage to the collector.
"""

from __future__ import annotations

import atexit
import gc

_open_sessions = 0  # llmgate configs now configured in this process (pytester nests one in another)
_exit_freeze_registered = False


def session_started() -> None:
    """Count a configured session; the first of the process arranges the freeze at exit."""
    global _open_sessions, _exit_freeze_registered
    _open_sessions += 1
    if _open_sessions == 1 and not _exit_freeze_registered:
        _exit_freeze_registered = True
        atexit.register(gc.freeze)  # registered early, so run late: after the atexit handlers of what came later


def session_ended() -> None:
    """Count an unconfigured session."""
    global _open_sessions
    _open_sessions = max(0, _open_sessions - 1)


def freeze_collected() -> None:
    """Freeze what exists now (a case file was just collected), in the outermost session only."""
    if _open_sessions == 1:
        gc.freeze()


def thaw() -> None:
    """Tests are about to run: give the frozen objects back to the collector."""
    if _open_sessions == 1:
        gc.unfreeze()
