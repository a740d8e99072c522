"""The team's shared stores, as the faces reach them (issue 14)."""
