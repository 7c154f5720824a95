"""What llmgate does about other plugins in the user's run: keep their cost out of it where it can."""

from __future__ import annotations

import sys

import pytest


def drop_idle_hypothesis_plugin(config: pytest.Config) -> None:
    """hypothesis is a dependency, so its pytest plugin is in every user's run, and its terminal summary
    imports all of hypothesis (0.13-0.26 s). When nothing in this process used hypothesis and no xdist
    worker reports here, that summary has nothing to say: unregister the plugin before it runs."""
    plugin = config.pluginmanager.get_plugin("hypothesispytest")
    idle = "hypothesis" not in sys.modules and not config.pluginmanager.has_plugin("dsession")
    if plugin is not None and idle and not config.getoption("hypothesis_show_statistics", False):
        config.pluginmanager.unregister(plugin)
