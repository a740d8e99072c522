"""The model contract that train, serve and monitor share, below all three: none imports another for it.

Modules:

* :mod:`~mlopsctl.contract.metrics`: the Prometheus series a prediction service exposes (names,
  labels, buckets), which serving writes and monitoring reads;
* :mod:`~mlopsctl.contract.binning`: the drift reference (bin edges, top categories) training
  records and the rule serving and monitoring both use to put a value in a bin.
"""
