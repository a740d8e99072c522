"""The model contract that train, serve and monitor share, below all three: none imports another for it.

Modules:

* :mod:`~mlopsctl.contract.metrics`: the Prometheus series a prediction service exposes (names,
  labels, buckets), which serving writes and monitoring reads;
* :mod:`~mlopsctl.contract.binning`: the drift reference (bin edges, top categories) training
  records and the rule serving and monitoring both use to put a value in a bin;
* :mod:`~mlopsctl.contract.records`: the version record's data model (signature, data
  fingerprint, artifact reference, gate results, drift reference); the registry reads and writes
  the files;
* :mod:`~mlopsctl.contract.versions`: version numbers, their cap, and ``MODEL@VERSION`` references;
* :mod:`~mlopsctl.contract.batch`: the batch of input rows every request format becomes;
* :mod:`~mlopsctl.contract.predictor`: the fitted pipeline as the service predicts with it (the
  numpy fast path, or the pipeline), which training times for the latency gate.

This package imports no domain package (registry, train, serve, monitor, ...), only
:mod:`mlopsctl.errors`.
"""
