"""The prediction service: one HTTP service behind ``mlopsctl serve`` and every Docker image.

Modules, from the wire inwards:

- :mod:`~mlopsctl.serve.httpserver`: a lean asyncio HTTP/1.1 server (keep-alive, limits, graceful stop);
- :mod:`~mlopsctl.serve.app`: the routes (predict, Open Inference Protocol V2, health, metadata, metrics);
- :mod:`~mlopsctl.serve.inputs`: request shapes and validation against the version's signature;
- :mod:`~mlopsctl.serve.binary`: the V2 binary tensor data extension, and the V2 features refused by name;
- :mod:`~mlopsctl.serve.service`: the stable version, an optional canary or shadow candidate;
- :mod:`~mlopsctl.contract.predictor`: the fitted pipeline compiled to a fast numpy path (or the pipeline),
  shared with training, which times it for the latency gate;
- :mod:`~mlopsctl.serve.metrics`: Prometheus series named by :mod:`mlopsctl.contract.metrics`;
- :mod:`~mlopsctl.serve.runner`: running it (foreground with signals, or a background thread);
- :mod:`~mlopsctl.serve.local`: ``mlopsctl serve MODEL@VERSION`` through the registry;
- ``python -m mlopsctl.serve``: the process images run, importing serving dependencies only
  (:mod:`~mlopsctl.serve.requirements`).

This package never imports click, rich, textual, docker or git.
"""
