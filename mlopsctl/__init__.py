"""mlopsctl: the whole life of scikit-learn models from one Git repository of declarative specs."""

__version__ = "0.1.0"
