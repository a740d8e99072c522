"""What the dashboard asks for its first screen: every model, where its versions run, merged health.

The read model itself lives in :mod:`mlopsctl.overview` (plain Python, no Textual); this is its
door for the faces, like every domain's ``api`` module.
"""

from __future__ import annotations

from mlopsctl.overview import ModelRow, Overview, Placement, read_overview

__all__ = ["ModelRow", "Overview", "Placement", "read_overview"]
