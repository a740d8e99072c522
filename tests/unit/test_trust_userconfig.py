"""The user's own settings: read from outside the repository, overridden by MLOPS_*, and the rule
that credentials only travel over https (plain http only to loopback, explicitly allowed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.errors import ExitCode, UsageError
from mlopsctl.spec.userconfig import check_credential_url, config_path, is_loopback_host, load_user_config


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "mlopsctl" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_when_no_file(isolated_home: Path) -> None:
    config = load_user_config()
    assert config_path() == isolated_home / ".config" / "mlopsctl" / "config.yaml"
    assert config.git.api_url is None and config.git.token_env is None
    assert config.prometheus.url is None and not config.prometheus.has_credentials
    assert config.data.allow_outside_repo is False


def test_file_then_environment(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        isolated_home,
        "git: {api_url: 'https://ghe.example.com/api/v3', token_env: GHE_TOKEN}\n"
        "prometheus: {url: 'https://prom.example.com', bearer_token_env: PROM_TOKEN}\n",
    )
    monkeypatch.setenv("MLOPS_GIT_TOKEN_ENV", "OTHER_TOKEN")
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")
    monkeypatch.setenv("MLOPS_PROMETHEUS_VERIFY_TLS", "false")
    config = load_user_config()
    assert config.git.api_url == "https://ghe.example.com/api/v3"
    assert config.git.token_env == "OTHER_TOKEN"
    assert config.prometheus.has_credentials
    assert config.prometheus.verify_tls is False
    assert config.data.allow_outside_repo is True


def test_explicit_path_and_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "mlopsctl" / "config.yaml"
    monkeypatch.setenv("MLOPS_USER_CONFIG", str(tmp_path / "mine.yaml"))
    (tmp_path / "mine.yaml").write_text("data: {allow_outside_repo: true}\n")
    assert load_user_config().data.allow_outside_repo is True


def test_unknown_key_names_the_file(isolated_home: Path) -> None:
    path = write_config(isolated_home, "git: {api_ur: 'https://x'}\n")
    with pytest.raises(UsageError) as caught:
        load_user_config()
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == f"{path}: git.api_ur: Extra inputs are not permitted"


def test_broken_yaml_names_file_and_line(isolated_home: Path) -> None:
    path = write_config(isolated_home, "git:\n  api_url: [unclosed\n")
    with pytest.raises(UsageError) as caught:
        load_user_config()
    assert caught.value.message.startswith(f"{path}:")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("[::1]", True), ("::1", True),
     ("10.0.0.1", False), ("example.com", False), ("localhost.evil.com", False), (None, False)],
)  # fmt: skip
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_credentials_only_over_https(monkeypatch: pytest.MonkeyPatch) -> None:
    check_credential_url("https://api.github.com/repos/a/b/pulls", what="the token")
    with pytest.raises(UsageError) as caught:
        check_credential_url("http://attacker.example/api", what="the GitHub token")
    assert caught.value.message == "refusing to send the GitHub token to http://attacker.example/api: not an https URL"
    assert caught.value.hint == "credentials are only sent over https"
    with pytest.raises(UsageError) as loop:
        check_credential_url("http://127.0.0.1:8080/api", what="the token")
    assert loop.value.hint == "set MLOPS_ALLOW_INSECURE_LOOPBACK=1 to allow plain http to this machine (tests only)"
    monkeypatch.setenv("MLOPS_ALLOW_INSECURE_LOOPBACK", "1")
    check_credential_url("http://127.0.0.1:8080/api", what="the token")
    with pytest.raises(UsageError):
        check_credential_url("http://10.1.2.3/api", what="the token")  # loopback only, even when allowed
    with pytest.raises(UsageError):
        check_credential_url("ftp://127.0.0.1/api", what="the token")
