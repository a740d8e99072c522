"""Prometheus's HTTP API through prometheus-api-client: the connection, its credentials and a query.

A :class:`PrometheusConnection` is given its URL and, only when that URL is the user's own choice
(``~/.config/mlopsctl/config.yaml`` or ``MLOPS_PROMETHEUS_*``), the user's credentials and TLS
settings; a URL from a committed ``mlops.yaml`` is queried without them. Credentials travel only
over https (:func:`~mlopsctl.spec.userconfig.check_credential_url`), and no redirect is ever followed
(requests would re-send basic auth to wherever ``Location`` points): a redirect is an error naming
its target. Every query is recorded in the operation log (kind ``prometheus``).
"""

from __future__ import annotations

import os
import re
from typing import Any

import requests
from urllib3.util.retry import Retry

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, PrometheusUnreachable, UsageError
from mlopsctl.spec.userconfig import UserPrometheus, check_credential_url

USER_CONFIG = "~/.config/mlopsctl/config.yaml"
CREDENTIAL_FIELDS = "prometheus.username, password_env or bearer_token_env"
KIND = "prometheus"


class PrometheusConnection:
    """One Prometheus server; ``user`` (credentials, TLS) only when the URL came from the user config."""

    def __init__(self, url: str, user: UserPrometheus | None, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.from_user = user is not None
        self.timeout = timeout
        self.client = _client(self.url, user)

    def query(self, promql: str, at: float) -> list[dict[str, Any]]:
        """The rows of an instant query at ``at``; raises PrometheusUnreachable or a query error."""
        try:
            rows = self._query(promql, at)
        except MlopsError as exc:
            oplog.record(KIND, f"query {promql}", False, exc.message)
            raise
        oplog.record(KIND, f"query {promql}", True, f"{len(rows)} series from {self.url}")
        return rows

    def _query(self, promql: str, at: float) -> list[dict[str, Any]]:
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            rows: list[dict[str, Any]] = self.client.custom_query(
                promql, params={"time": f"{at:.3f}"}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise PrometheusUnreachable(
                f"cannot reach Prometheus at {self.url}: {_reason(exc)}",
                hint=f"start Prometheus or fix {self.url_origin()}; leave it empty to scrape the services directly",
            ) from None
        except PrometheusApiClientException as exc:
            raise _api_error(self.url, promql, str(exc), self.from_user) from None
        return rows

    def url_origin(self) -> str:
        """Where the URL was set, for hints."""
        if self.from_user:
            return f"prometheus.url in {USER_CONFIG} (or MLOPS_PROMETHEUS_URL)"
        return "prometheus.url in mlops.yaml (or MLOPS_PROMETHEUS_URL)"


class _NoRedirectSession(requests.Session):
    """A session that never follows a redirect: the 30x answer is refused by :func:`_refuse_redirect`."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks["response"].append(_refuse_redirect)

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None  # belt and braces: even without the hook, nothing is re-sent anywhere


def _refuse_redirect(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    if not 300 <= response.status_code < 400:
        return response
    url = _without_query(response.url)
    location = _printable(_without_query(response.headers.get("Location"))) or "nowhere (no Location header)"
    raise PrometheusUnreachable(
        f"Prometheus at {url} answered HTTP {response.status_code} redirecting to {location}; "
        "redirects are not followed (they would carry the credentials elsewhere)",
        hint="set the Prometheus URL to the server's own address",
    )


def _client(url: str, user: UserPrometheus | None) -> Any:
    """A client for ``url``; ``user`` (credentials, TLS) only when the URL is the user's own choice."""
    from prometheus_api_client import PrometheusConnect

    session = _NoRedirectSession()
    if user is None:
        return PrometheusConnect(url, session=session, retry=Retry(total=0))
    session.verify = _verify(user)
    if user.has_credentials:
        check_credential_url(url, what="the Prometheus credentials")
    headers = {}
    token = _secret(user.bearer_token_env, "bearer_token_env")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    auth = None
    if user.username:
        auth = (user.username, _secret(user.password_env, "password_env") or "")
    return PrometheusConnect(url, headers=headers or None, auth=auth, session=session, retry=Retry(total=0))


def _verify(user: UserPrometheus) -> bool | str:
    if not user.ca_file:
        return user.verify_tls
    path = os.path.expanduser(user.ca_file)
    if not os.path.isfile(path):
        raise UsageError(
            f"the CA bundle {user.ca_file} named by prometheus.ca_file in {USER_CONFIG} "
            "(or MLOPS_PROMETHEUS_CA_FILE) is not a file",
            hint="point it at the PEM file that signed the server's certificate",
        )
    return path


def _secret(variable: str | None, field_name: str) -> str | None:
    if not variable:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise UsageError(
            f"the environment variable {variable} named by prometheus.{field_name} in {USER_CONFIG} "
            f"(or MLOPS_PROMETHEUS_{field_name.upper()}) is not set",
            hint=f"export {variable}=... before running mlopsctl",
        )
    return value


def _api_error(url: str, promql: str, detail: str, from_user: bool) -> MlopsError:
    found = re.search(r"HTTP Status Code (\d+)", detail)
    code = int(found.group(1)) if found else 0
    if code in (401, 403):
        hint = (
            f"check {CREDENTIAL_FIELDS} in {USER_CONFIG} (or MLOPS_PROMETHEUS_*)"
            if from_user
            else f"credentials go only to a Prometheus URL set in {USER_CONFIG} or MLOPS_PROMETHEUS_URL, "
            "never to prometheus.url in mlops.yaml"
        )
        return PrometheusUnreachable(f"Prometheus at {url} refused the credentials (HTTP {code})", hint=hint)
    if code in (502, 503, 504):
        return PrometheusUnreachable(f"Prometheus at {url} is not serving queries (HTTP {code})")
    return MlopsError(f"Prometheus at {url} rejected the query {promql}: {detail[:300]}", title="Query failed")


def _without_query(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


def _printable(text: str, limit: int = 300) -> str:
    """A server's words, safe to print on one terminal line (no escape sequences, no line breaks)."""
    return "".join(char for char in text if char.isprintable())[:limit]


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.ConnectionError) and "refused" in str(exc).lower():
        return "connection refused"
    root = exc.__context__ or exc
    return f"{type(exc).__name__}: {str(root)[-200:]}"
