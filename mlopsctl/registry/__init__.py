"""The model registry: immutable version records under registry/<model>/ in the Git repo."""
