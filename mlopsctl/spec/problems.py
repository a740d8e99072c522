"""A problem found in a spec or data file, printed as ``file:line:column: field: message``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and exactly where."""

    file: str
    line: int
    column: int
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
