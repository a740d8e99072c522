"""What the dashboard loads before its first screen (issue 13, item 16).

The speed itself is measured by ``bench/bench_tui.py`` (no timed assertions here). This checks
the cause that is easy to undo by accident: a fresh process that opens the dashboard as
``mlopsctl`` does imports neither the monitor (numpy, the Prometheus client), nor the actions and
their modals, nor the Log view's RichLog, before its models table holds every row.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.tui_repo import build_tui_repo

FIRST_SCREEN = """
import asyncio, sys
from pathlib import Path
from mlopsctl.tui.app import MlopsApp

HEAVY = ("numpy", "pandas", "sklearn", "prometheus_api_client", "mlopsctl.monitor.api", "mlopsctl.tui.actions",
         "mlopsctl.tui.modals", "rich.pretty")

async def main() -> None:
    app = MlopsApp(Path(sys.argv[1]), live=False)
    async with app.run_test(size=(120, 32)) as pilot:
        while app.screen.query_one("#models").row_count < int(sys.argv[2]):
            await pilot.pause(0.001)
        print(sorted(name for name in HEAVY if name in sys.modules))

asyncio.run(main())
"""


def test_the_first_screen_loads_no_monitor_actions_or_log_widget(tmp_path: Path) -> None:
    root = build_tui_repo(tmp_path / "repo", models=3)
    done = subprocess.run(
        [sys.executable, "-c", FIRST_SCREEN, str(root), "3"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
