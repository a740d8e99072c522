"""What the faces ask of the scaffold: a new model repository from the template."""

from __future__ import annotations

from mlopsctl.scaffold.init import InitResult, init_repo

__all__ = ["InitResult", "init_repo"]
