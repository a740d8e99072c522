"""`history` answered from its edit cache starts without importing GitPython (issue 12's must-not-regress).

Issue 12 measured history through ``mlopsctl.gitops`` at 0.07 s before GitPython came in and 0.14 s
after, the difference being GitPython's import. Commands now run as plain git processes; GitPython is
imported only for object reads (its persistent ``cat-file --batch``), which a warm cache does not need.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlopsctl import oplog

READ = (
    "import json, sys; from pathlib import Path; from mlopsctl.gitops.history import read_history; "
    "entries = read_history(Path.cwd()); "
    "print(json.dumps({'gitpython': 'git' in sys.modules, 'entries': [e.commit + ' ' + e.action for e in entries]}))"
)


def _history(repo: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", READ], cwd=repo, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_history_from_its_cache_does_not_import_gitpython(model_repo: Path) -> None:
    first = _history(model_repo)  # walks the environment edits once (object reads: GitPython) and keeps them
    assert (model_repo / ".git" / "mlopsctl" / "history-edits-all.json").is_file()
    second = _history(model_repo)
    assert second == {"gitpython": False, "entries": first["entries"]}


def test_with_gitpython_loaded_the_tip_comes_from_the_ref_files(
    model_repo: Path, operations: list[oplog.Operation]
) -> None:
    from mlopsctl.gitops.history import read_history
    from mlopsctl.ports.git import Git

    assert Git(model_repo).repo is not None  # GitPython loaded, as in the dashboard
    first = read_history(model_repo)
    operations.clear()
    assert read_history(model_repo) == first
    assert [op.command for op in operations if "rev-parse" in op.command] == []
