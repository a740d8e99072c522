"""Features: the spec's feature definitions compiled to one scikit-learn pipeline, used by training and serving."""
