"""The trailer keys that make the git log an audit log (written by operations, read by history).

Kept in a module of its own so that reading history imports nothing heavy.
"""

TRAILER_KEYS = ("Action", "Model", "Version", "Env", "Strategy", "Weight", "Previous")
