"""Names in a model repository: models, environments, projects (no pydantic here, so the git history
path, which only matches file names, starts without the spec models)."""

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
"""Lower-case letters, digits and dashes, starting with a letter, at most 63 characters."""
