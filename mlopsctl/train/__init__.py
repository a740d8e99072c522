"""Training: check the data, split, fit the compiled pipeline, evaluate, gate, track and register."""
