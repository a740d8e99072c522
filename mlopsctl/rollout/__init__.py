"""Canary analysis (issue 16): judge a canary's current step by its checks and commit what follows.

:mod:`.steps` finds the step a deployment is at and when it started (the commit that set its
weight), :mod:`.checks` turns the live evidence of :mod:`mlopsctl.monitor.evidence` into pass/fail
checks against the spec's ``rollout.checks``, :mod:`.judge` decides (wait, advance, promote, roll
back) and :mod:`.api` is the door the CLI and the dashboard call.
"""
