"""Fresh training data: the spec's ``data.source`` plus the labelled traffic of an environment.

Labelled traffic comes from the prediction logs of the environment's services (the local
target's ``predictions/env/<env>/<model>/``) and of ``mlopsctl serve`` (``predictions/serve/<model>/``,
which an environment may point at): :func:`mlopsctl.contract.predictionlog.labelled_rows` joins
each label to the row it labels. Rows are de-duplicated by (request id, row) (a shadow logs the
same request again), given the spec's columns (columns a request never carries, such as an id,
stay empty) with the label as the target, de-duplicated again as whole rows (the same inputs asked
again under a new id, a client's retry, carry no id that tells them apart, and would fail the
quality check's duplicate rows), and appended to the source rows. The result is written
atomically as CSV under the state folder, where train reads it like any data file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.contract.predictionlog import labelled_rows
from mlopsctl.fsio import atomic_write_text
from mlopsctl.spec.api import Repo
from mlopsctl.spec.models import ModelSpec

KEYS = ["id", "row"]


@dataclass(frozen=True)
class FreshData:
    """Where the fresh data was written and what it holds."""

    path: Path
    source_rows: int
    labelled_rows: int
    absent: tuple[str, ...] = ()
    """Columns labelled rows cannot carry (neither a feature nor the target, e.g. an id): empty in them."""

    @property
    def rows(self) -> int:
        return self.source_rows + self.labelled_rows


def log_folders(repo: Repo, model: str, env: str) -> list[Path]:
    root = repo.state_dir / "predictions"
    return [root / "env" / env / model, root / "serve" / model]


def labelled_traffic(repo: Repo, model: str, env: str) -> Any:
    """Every labelled logged row of ``model`` in ``env``'s logs, one per (request id, row)."""
    import pandas as pd

    frames = [frame for frame in map(labelled_rows, log_folders(repo, model, env)) if len(frame)]
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "version", "role", "prediction", "label"])
    joined = pd.concat(frames, ignore_index=True)
    stable_first = joined.sort_values("role", key=lambda roles: roles == "shadow", kind="stable")
    return stable_first.drop_duplicates(KEYS).reset_index(drop=True)


def assemble(repo: Repo, spec: ModelSpec, env: str, source: Any) -> FreshData:
    """``source`` (the loaded data.source frame) plus ``env``'s labelled traffic, written as CSV."""
    import pandas as pd

    traffic = _as_spec_rows(spec, labelled_traffic(repo, spec.name, env), list(source.columns)).drop_duplicates()
    frame = pd.concat([source, traffic], ignore_index=True) if len(traffic) else source
    path = repo.state_dir / "retrain" / f"{spec.name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    atomic_write_text(path, buffer.getvalue())
    return FreshData(
        path, len(source), len(traffic), absent_columns(spec, list(source.columns)) if len(traffic) else ()
    )


def absent_columns(spec: ModelSpec, columns: list[str]) -> tuple[str, ...]:
    carried = {feature.name for feature in spec.features} | {spec.data.target}
    return tuple(name for name in columns if name not in carried)


def completeness_overrides(fresh: FreshData) -> list[str]:
    """Train's ``--set`` for the absent columns: they may be empty (recorded on the version as overrides)."""
    return [f"quality.completeness.max_missing.{name}=1.0" for name in fresh.absent]


def _as_spec_rows(spec: ModelSpec, traffic: Any, columns: list[str]) -> Any:
    """Logged rows in the source's columns: the label becomes the target, absent columns stay empty."""
    import pandas as pd

    renamed = {f"input.{name}": name for name in columns}
    rows = traffic.rename(columns=renamed)
    rows = rows.assign(**{spec.data.target: rows["label"]}) if len(rows) else rows
    return pd.DataFrame({name: rows.get(name) for name in columns}, index=rows.index)
