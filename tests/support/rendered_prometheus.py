"""A real Prometheus server configured with the rules and scrape configuration mlopsctl renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlopsctl.monitor.render import CONFIG_FILE, RULES_FILE
from tests.support.services import PrometheusServer


class RenderedPrometheus(PrometheusServer):
    """A test Prometheus that runs the configuration rendered by ``mlopsctl monitoring render``."""

    def __init__(self, folder: Path) -> None:
        super().__init__([], "1s")
        self.folder = folder

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = yaml.safe_load((self.folder / CONFIG_FILE).read_text())
        config["global"]["scrape_timeout"] = "1s"
        config["rule_files"] = [str(self.folder / RULES_FILE)]
        return config
