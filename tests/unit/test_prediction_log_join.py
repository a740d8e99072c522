"""labelled_rows: labels joined to the rows they label; torn last lines (a kill mid-write) are left out."""

from __future__ import annotations

import json
from pathlib import Path

from mlopsctl.contract.predictionlog import LABELS_FILE, labelled_rows


def answer(request_id: str, ages: list[float], outputs: list[int]) -> str:
    line = {"id": request_id, "time": 1.0, "model": "churn", "version": "2", "role": "canary", "rows": len(ages)}
    line |= {"inputs": {"age": ages, "role": ["x"] * len(ages)}, "outputs": outputs}
    return json.dumps(line, separators=(",", ":")) + "\n"


def test_labels_join_rows_and_torn_lines_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "predictions-00000000000000000001-7.jsonl").write_text(
        answer("a", [30.0], [1]) + answer("b", [40.0, 50.0, 60.0], [0, 1, 0]) + '{"id":"c","ti'
    )
    (tmp_path / "predictions-00000000000000000002-7.jsonl").write_text(answer("d", [70.0], [1]))
    labels = [{"id": "b", "row": 1, "label": 0}, {"id": "d", "row": 0, "label": 1}, {"id": "a", "row": 0, "label": 0}]
    (tmp_path / LABELS_FILE).write_text("".join(json.dumps(x) + "\n" for x in labels) + '{"id":"x"')
    joined = labelled_rows(tmp_path).sort_values("id").reset_index(drop=True)
    assert joined.to_dict("records") == [
        {
            "id": "a",
            "row": 0,
            "version": "2",
            "role": "canary",
            "prediction": 1,
            "age": 30.0,
            "input.role": "x",
            "label": 0,
        },
        {
            "id": "b",
            "row": 1,
            "version": "2",
            "role": "canary",
            "prediction": 1,
            "age": 50.0,
            "input.role": "x",
            "label": 0,
        },
        {
            "id": "d",
            "row": 0,
            "version": "2",
            "role": "canary",
            "prediction": 1,
            "age": 70.0,
            "input.role": "x",
            "label": 1,
        },
    ]


def test_nothing_logged_is_an_empty_frame(tmp_path: Path) -> None:
    assert labelled_rows(tmp_path).empty
