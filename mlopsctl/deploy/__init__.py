"""The reconciler: ``plan`` (what Git says against what runs), ``apply`` (converge) and ``down``.

Modules, by the question each answers:

* :mod:`~mlopsctl.deploy.model`: the words (a service's spec, a running instance, a change);
* :mod:`~mlopsctl.deploy.desired`: what Git says runs (the environment file at a commit);
* :mod:`~mlopsctl.deploy.processes` and :mod:`~mlopsctl.deploy.containers`: the ``local`` and
  ``docker`` targets (what runs, start, stop), behind :class:`~mlopsctl.deploy.runtime.Runtime`;
* :mod:`~mlopsctl.deploy.plan`: the difference, and its text, markdown and JSON forms;
* :mod:`~mlopsctl.deploy.apply`: carrying a plan out, health-gated, rolling back on failure;
* :mod:`~mlopsctl.deploy.api`: the three calls the CLI, the dashboard and CI use.
"""
