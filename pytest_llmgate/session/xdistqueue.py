"""The items an xdist worker has been handed but not run yet, so their calls can start early.

xdist keeps them in its WorkerInteractor's queue of item indices. That is xdist's internal state,
read defensively: when it is not there (another xdist version), nothing is prefetched.
"""

from __future__ import annotations

import pytest


def queued_items(session: pytest.Session) -> list[pytest.Item]:
    """The items this worker will run next, in order; empty when unknown or with work stealing."""
    if session.config.getoption("dist", None) == "worksteal":
        return []  # a queued item may be stolen by another worker: calling it here could call it twice
    interactor = next(
        (p for p in session.config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"), None
    )
    queue = getattr(interactor, "torun", None)
    if queue is None or not hasattr(queue, "lock"):
        return []
    with queue.lock() as pending:
        indices = [index for index in pending if isinstance(index, int)]
    upcoming = getattr(interactor, "nextitem_index", None)
    if isinstance(upcoming, int):
        indices.insert(0, upcoming)
    return [session.items[i] for i in indices if 0 <= i < len(session.items)]
