"""The live evidence a promotion's pull request carries (issue 16): how the version behaved as a
shadow or a canary before it was promoted.

:func:`live_evidence` finds the version's latest run (:mod:`~mlopsctl.gitops.live_runs`), reads the
figures over that run from Prometheus (:func:`mlopsctl.monitor.evidence.candidate_evidence`, through
the Prometheus the user config or ``mlops.yaml`` names, as ``status`` finds it) and renders a
markdown section: the one-line summary, a table of the figures and, folded in a ``<details>``
block that GitHub and GitLab both render, the PromQL of each figure and the instant it was
evaluated at, so a reviewer can run it again.

Missing evidence never stops a promotion by itself: when Prometheus is not configured, unreachable
or refuses a query, the section says the evidence could not be read and why (``required=True``
raises the error instead, before anything is committed).

Label values read from Prometheus (a drifted feature's name) are untrusted text: they reach the
markdown only through :func:`markdown_text`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlopsctl.errors import CheckFailed, MlopsError, UsageError
from mlopsctl.gitops.live_runs import LiveRun
from mlopsctl.gitops.snapshot import Snapshot
from mlopsctl.spec.models import ModelSpec, PrometheusSettings
from mlopsctl.textsafe import terminal_safe

if TYPE_CHECKING:
    from mlopsctl.monitor.evidence import Evidence, Figure

NOT_CONFIGURED = (
    "no Prometheus URL is configured (set prometheus.url in the user config or MLOPS_PROMETHEUS_URL, "
    "or prometheus.url in mlops.yaml)"
)

MAX_REASON_CHARS = 500
MAX_LABEL_CHARS = 100
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_.:/ -]")
_URL_CREDENTIALS = re.compile(r"://[^/@\s]+@")


@dataclass(frozen=True)
class LiveEvidence:
    """The evidence section of one promotion: the run it covers, the figures or why there are none."""

    model: str
    run: LiveRun
    evidence: Evidence | None
    unreadable: str | None = None
    """Why the figures could not be read (None when they were)."""
    source: str = ""
    """Where the figures came from, e.g. ``Prometheus at http://127.0.0.1:9090``."""

    @property
    def summary(self) -> str:
        """The figures' one-line summary, or why there are none."""
        if self.evidence is None:
            return f"the live evidence could not be read: {self.unreadable}"
        return markdown_text(self.evidence.summary())

    def headline(self) -> str:
        """One line for people (a next step of the command): what the pull request's section says."""
        where = f"Live evidence ({self.run.role} in {self.run.env})"
        if self.evidence is None:
            return f"{where} could not be read: {self.unreadable}"
        return f"{where}: {self.summary}"

    def markdown(self) -> str:
        return evidence_markdown(self)

    def to_dict(self) -> dict[str, object]:
        run = self.run
        return {
            "env": run.env,
            "role": run.role,
            "candidate": run.candidate,
            "stable": run.stable,
            "start": run.start,
            "end": run.end,
            "running": run.running,
            "summary": self.summary if self.evidence is not None else None,
            "unreadable": self.unreadable,
            "figures": self.evidence.to_dict()["figures"] if self.evidence is not None else {},
        }


def live_evidence(
    snap: Snapshot,
    spec: ModelSpec,
    version: int,
    run: LiveRun | None,
    settings: PrometheusSettings,
    *,
    required: bool = False,
) -> LiveEvidence | None:
    """The evidence of ``spec.name@version``'s ``run`` as a shadow or canary (see
    :func:`~mlopsctl.gitops.live_runs.latest_live_run`), or None when it never ran as one.

    ``required``: no run is a CheckFailed, and a Prometheus that is not configured or cannot be read
    raises its error (exit 3 when unreachable) instead of being written into the section.
    """
    if run is None:
        if required:
            raise CheckFailed(
                f"{spec.name}@{version} never ran as a shadow or canary in any environment "
                f"(environment files as of {snap.commit[:12]})",
                title="No live evidence",
                hint=f"run it as a shadow first (mlopsctl promote {spec.name}@{version} --env ENV --strategy shadow), "
                "or promote without --require-evidence",
            )
        return None
    try:
        return _read(spec, run, settings)
    except MlopsError as exc:
        if required:
            raise
        return LiveEvidence(spec.name, run, None, unreadable=_reason(exc))


def _read(spec: ModelSpec, run: LiveRun, settings: PrometheusSettings) -> LiveEvidence:
    from mlopsctl.monitor.evidence import candidate_evidence  # Prometheus' client loads only when needed
    from mlopsctl.monitor.sources import PrometheusSource
    from mlopsctl.spec.userconfig import load_user_config

    user = load_user_config().prometheus
    if not (user.url or settings.url):
        raise UsageError(NOT_CONFIGURED)
    source = PrometheusSource(settings, [run.env], user)
    evidence = candidate_evidence(
        source,
        model=spec.name,
        env=run.env,
        stable=run.stable,
        candidate=run.candidate,
        role=run.role,
        start=run.start,
        end=run.end,
        spec=spec,
    )
    return LiveEvidence(spec.name, run, _with_safe_labels(evidence), source=without_credentials(source.description))


def without_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it removed: a pull request is no place for them."""
    return _URL_CREDENTIALS.sub("://", text)


def _reason(exc: MlopsError) -> str:
    reason = without_credentials(_line(exc.message if not exc.hint else f"{exc.message} ({exc.hint})"))
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def _line(text: str) -> str:
    """``text`` without controls, its whitespace runs (newlines too) made one space."""
    return " ".join(terminal_safe(text).split())


def _with_safe_labels(evidence: Evidence) -> Evidence:
    """The evidence with every label from Prometheus cut to name characters (others become ``?``)."""
    figures = {name: replace(figure, label=safe_label(figure.label)) for name, figure in evidence.figures.items()}
    return replace(evidence, figures=figures)


def safe_label(text: str) -> str:
    """A label value (a feature's name) as letters, digits and ``_.:/-`` only, at most 100 characters."""
    return _UNSAFE_LABEL.sub("?", text[:MAX_LABEL_CHARS])


# --------------------------------------------------------------------------- markdown


def evidence_markdown(found: LiveEvidence) -> str:
    """The pull request's section: heading, summary, where and when, the figures and their PromQL."""
    run = found.run
    lines = [f"### Live evidence: {found.model}@{run.candidate} as {run.role} in {run.env}", ""]
    if found.evidence is None:
        lines += [f"The live evidence could not be read: {markdown_text(found.unreadable or '')}", ""]
        lines += [_window_line(run), ""]
        return "\n".join(lines)
    evidence = found.evidence
    lines += [f"> {markdown_text(evidence.summary())}", ""]
    lines += [f"{_window_line(run)} From {markdown_text(found.source)}, evaluated at {_when(run.end)}.", ""]
    lines += ["| Figure | Value |", "|---|---|"]
    lines += [f"| {_figure_name(evidence, f)} | {_figure_value(f)} |" for f in evidence.figures.values()]
    lines += ["", *_queries(evidence), ""]
    return "\n".join(lines)


def _window_line(run: LiveRun) -> str:
    made = f"commit {run.started_by[:12]} made it the {run.role}"
    since = f"from {_when(run.start)} ({'the last 30 days; ' if run.clamped else ''}{made})"
    until = (
        "to now (it still runs)"
        if run.running
        else f"to {_when(run.end)} (commit {(run.ended_by or '')[:12]} changed it)"
    )
    return f"Window: {since} {until}."


def _queries(evidence: Evidence) -> list[str]:
    lines = ["<details>", f"<summary>PromQL behind each figure (instant queries at {evidence.end:.3f})</summary>", ""]
    for figure in evidence.figures.values():
        lines += [f"{_figure_name(evidence, figure)}:", "", fenced(figure.promql, "promql"), ""]
    return [*lines, "</details>"]


def _figure_name(evidence: Evidence, figure: Figure) -> str:
    candidate, stable = f"v{evidence.candidate} ({evidence.role})", f"v{evidence.stable} (stable)"
    names = {
        "candidate_requests": f"Requests, {candidate}",
        "stable_requests": f"Requests, {stable}",
        "compared_rows": "Rows compared with the stable version",
        "agreement": "Agreement with the stable version",
        "p95_candidate_ms": f"p95 latency, {candidate}",
        "p95_stable_ms": f"p95 latency, {stable}",
        "error_rate_candidate": f"Error rate, {candidate}",
        "error_rate_stable": f"Error rate, {stable}",
        "drift_psi": f"Largest feature drift (PSI), {candidate}",
        "live_candidate": f"Live performance, {candidate}",
        "live_stable": f"Live performance, {stable}",
    }
    return names.get(figure.name, markdown_text(figure.name))


_FORMATS: dict[str, Callable[[float], str]] = {
    "candidate_requests": lambda v: f"{v:,.0f}",
    "stable_requests": lambda v: f"{v:,.0f}",
    "compared_rows": lambda v: f"{v:,.0f}",
    "agreement": lambda v: f"{v:.2%}",
    "p95_candidate_ms": lambda v: f"{v:.2f} ms",
    "p95_stable_ms": lambda v: f"{v:.2f} ms",
    "error_rate_candidate": lambda v: f"{v:.2%}",
    "error_rate_stable": lambda v: f"{v:.2%}",
    "drift_psi": lambda v: f"{v:.3f}",
}
"""How each figure is shown; others (live performance) with four decimals."""


def _figure_value(figure: Figure) -> str:
    if figure.value is None:
        return f"n/a: {markdown_text(figure.why)}"
    shown = _FORMATS.get(figure.name, _four_decimals)(figure.value)
    return f"{shown} (`{figure.label}`)" if figure.label else shown


def _four_decimals(value: float) -> str:
    return f"{value:.4f}"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def markdown_text(text: str) -> str:
    """Untrusted text as one line of plain markdown: no controls, no backticks, HTML escaped, pipes escaped.

    A label can then neither break the table, nor close a code span, nor add HTML (an image, a fake
    approval) to the pull request.
    """
    return html.escape(_line(text).replace("`", "'"), quote=False).replace("|", "\\|")


def fenced(text: str, info: str) -> str:
    """``text`` in a code fence longer than any backtick run inside it, so nothing in it can close the fence."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"
