"""Creating model repositories from model-repo-template/ (``mlopsctl init``)."""
