"""Model images: one Docker image per model version, built through the Docker engine's API.

``api.build_image`` is the entry point (the CLI's ``mlopsctl build`` and the dashboard both call it).
The image holds the serving environment pinned to the training versions (installed offline from a
wheelhouse prepared on this machine), the prediction service's modules, and the version's record and
artifact, in that layer order; see ``context`` for the Dockerfile it generates.
"""
