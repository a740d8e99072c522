"""Settings that belong to the person or CI runner, never to the model repository.

Every file in a model repository may come from someone the user does not fully trust (a
contributor's pull request, a compromised account). So a committed file must not choose where a
credential is sent, which environment variable is sent, or which files outside the repository are
read. Those choices live here, in a file the repository cannot write, and in ``MLOPS_*``
environment variables that the runner sets:

* ``$MLOPS_USER_CONFIG``, else ``$XDG_CONFIG_HOME/mlopsctl/config.yaml``, else
  ``~/.config/mlopsctl/config.yaml`` (optional; every field has a safe default);
* ``MLOPS_GIT_API_URL``, ``MLOPS_GIT_TOKEN_ENV``, ``MLOPS_PROMETHEUS_URL``,
  ``MLOPS_PROMETHEUS_USERNAME``, ``MLOPS_PROMETHEUS_PASSWORD_ENV``,
  ``MLOPS_PROMETHEUS_BEARER_TOKEN_ENV``, ``MLOPS_PROMETHEUS_VERIFY_TLS``,
  ``MLOPS_PROMETHEUS_CA_FILE``, ``MLOPS_DATA_ALLOW_OUTSIDE_REPO`` override the file.

Credentials travel only over https. Plain http is allowed for a loopback host (127.0.0.0/8,
``::1``, ``localhost``) and only while ``MLOPS_ALLOW_INSECURE_LOOPBACK=1`` is set, which is meant
for tests and local experiments.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlopsctl.errors import UsageError

USER_CONFIG_VARIABLE = "MLOPS_USER_CONFIG"
INSECURE_LOOPBACK_VARIABLE = "MLOPS_ALLOW_INSECURE_LOOPBACK"
DEFAULT_TOKEN_VARIABLES = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class UserGit(_Section):
    api_url: str | None = None
    """REST API base URL (GitHub Enterprise, self-hosted GitLab with /api/v4). Empty: the provider's public API."""
    token_env: str | None = None
    """Environment variable holding the API token. Empty: GITHUB_TOKEN or GITLAB_TOKEN by provider."""


class UserPrometheus(_Section):
    url: str | None = None
    """Prometheus server URL; overrides prometheus.url in mlops.yaml. Credentials go only to this URL."""
    username: str | None = None
    """User name for HTTP basic auth."""
    password_env: str | None = None
    """Environment variable holding the basic-auth password."""
    bearer_token_env: str | None = None
    """Environment variable holding a bearer token."""
    verify_tls: bool = True
    """Verify the server's TLS certificate."""
    ca_file: str | None = None
    """CA bundle for the server's certificate."""

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password_env or self.bearer_token_env)


class UserData(_Section):
    allow_outside_repo: bool = False
    """Let data.source name files outside the model repository (absolute paths, ../, file:// URIs)."""


class UserMetadata(_Section):
    trusted_hosts: list[str] = Field(default_factory=list)
    """Run store hosts (HOST or HOST:PORT) that get your database credentials (PGPASSWORD, ~/.pgpass) even
    when mlops.yaml, not MLOPS_METADATA_STORE, names the store. MLOPS_METADATA_TRUSTED_HOSTS adds to them."""


class UserConfig(_Section):
    """The user's own settings: ~/.config/mlopsctl/config.yaml."""

    git: UserGit = Field(default_factory=UserGit)
    """Where pull requests are opened and with which token."""
    prometheus: UserPrometheus = Field(default_factory=UserPrometheus)
    """Which Prometheus to query and with which credentials."""
    data: UserData = Field(default_factory=UserData)
    """Which data files may be read."""
    metadata: UserMetadata = Field(default_factory=UserMetadata)
    """Which shared run stores get your database credentials."""


def config_path() -> Path:
    """Where the user config file is (it need not exist)."""
    explicit = os.environ.get(USER_CONFIG_VARIABLE)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mlopsctl" / "config.yaml"


def load_user_config() -> UserConfig:
    """The user config file with ``MLOPS_*`` overrides; a broken file is a usage error naming it."""
    path = config_path()
    data = _read(path) if path.is_file() else {}
    _apply_env(data)
    try:
        return UserConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(
            f"{path}: {where}: {first['msg']}",
            title="Invalid user config",
            hint="fix the file or the MLOPS_* variable that sets this field",
        ) from None


def _read(path: Path) -> dict[str, Any]:
    from mlopsctl.spec.yamlpos import load_yaml

    doc = load_yaml(path)
    if doc.problems:
        raise UsageError(str(doc.problems[0]), title="Invalid user config")
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise UsageError(f"{path}: expected a mapping of keys", title="Invalid user config")
    return doc.data


def _apply_env(data: dict[str, Any]) -> None:
    for section, model in (("git", UserGit), ("prometheus", UserPrometheus), ("data", UserData)):
        for name in model.model_fields:
            raw = os.environ.get(f"MLOPS_{section.upper()}_{name.upper()}")
            if raw is None:
                continue
            block = data.setdefault(section, {})
            if isinstance(block, dict):
                block[name] = _env_value(raw, model.model_fields[name].annotation)


def _env_value(raw: str, annotation: Any) -> Any:
    if annotation is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw or None


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 and ``::1``."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def insecure_loopback_allowed() -> bool:
    return os.environ.get(INSECURE_LOOPBACK_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def check_credential_url(url: str, *, what: str) -> None:
    """Refuse to send a credential to ``url`` unless it is https (or loopback http, explicitly allowed)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname) and insecure_loopback_allowed():
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        hint = f"set {INSECURE_LOOPBACK_VARIABLE}=1 to allow plain http to this machine (tests only)"
    else:
        hint = "credentials are only sent over https"
    raise UsageError(f"refusing to send {what} to {url}: not an https URL", title="Insecure URL", hint=hint)
