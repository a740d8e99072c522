"""The model repository as a whole: what spans the specs and the registry (``mlopsctl validate``)."""
