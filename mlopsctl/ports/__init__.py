"""Ports: the one place each outside system (git, Docker, HTTP, processes, Prometheus) is reached."""
