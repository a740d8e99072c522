"""Retraining: the spec's ``retraining:`` triggers judged, and a candidate trained on fresh data, gated and proposed."""
