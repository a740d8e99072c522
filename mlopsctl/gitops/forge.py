"""Pull requests on GitHub and merge requests on GitLab, through their REST APIs (the HTTP port).

The provider comes from ``git.provider`` or, when that is ``auto``, from the remote URL's host.
Where the token goes and which variable holds it are the user's choice, never the repository's
(a committed ``mlops.yaml`` could otherwise send ``$GITHUB_TOKEN`` to any host): the API base is
``git.api_url`` of the user config (``~/.config/mlopsctl/config.yaml`` or ``MLOPS_GIT_API_URL``),
else the provider's public one (``https://api.github.com``; for GitLab ``https://<host>/api/v4``,
so ``api_url`` for GitLab includes ``/api/v4``). The token is read from the variable the user
config's ``git.token_env`` names (default ``GITHUB_TOKEN`` / ``GITLAB_TOKEN``), never from a file.
It is sent only over https (see :func:`mlopsctl.spec.userconfig.check_credential_url`) and never along
a redirect (:mod:`mlopsctl.ports.http` does not follow one with credentials): an answer that
redirects is an error naming where it pointed.

Requests follow the providers' documentation:

* GitHub ``POST /repos/{owner}/{repo}/pulls`` with ``Accept: application/vnd.github+json``,
  ``X-GitHub-Api-Version: 2022-11-28``, ``Authorization: Bearer <token>`` and a JSON body
  ``{title, head, base, body}``; answers 201 with ``html_url`` and ``number``.
* GitLab ``POST /projects/{url-encoded path}/merge_requests`` with ``PRIVATE-TOKEN: <token>`` and
  a JSON body ``{source_branch, target_branch, title, description, remove_source_branch}``;
  answers 201 with ``web_url`` and ``iid``.

Without a token (or with another host) nothing is called: :func:`compare_url` and
:func:`pr_command` give the web page and the exact command that open the request by hand.
"""

from __future__ import annotations

import os
import re
import shlex
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mlopsctl.errors import GitRemoteUnreachable, MlopsError
from mlopsctl.ports import http
from mlopsctl.spec.models import GitSettings
from mlopsctl.spec.userconfig import DEFAULT_TOKEN_VARIABLES, UserGit, check_credential_url, load_user_config

TIMEOUT_SECONDS = 20.0
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
_PROVIDER_NAMES = {"github": "GitHub", "gitlab": "GitLab"}
USER_CONFIG_WHERE = "~/.config/mlopsctl/config.yaml"


@dataclass(frozen=True)
class RemoteRepo:
    """Where a remote lives: its provider, host and project path (``owner/repo``, ``group/sub/project``)."""

    provider: str
    host: str | None
    path: str
    api_url: str | None

    @property
    def web_url(self) -> str | None:
        return f"https://{self.host}/{self.path}" if self.host else None


@dataclass(frozen=True)
class PullRequest:
    url: str
    number: int
    provider: str


def parse_remote_url(url: str) -> tuple[str | None, str]:
    """``git@github.com:acme/models.git`` -> ("github.com", "acme/models"); local paths give no host."""
    url = url.strip()
    host: str | None
    if "://" in url:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname if parsed.scheme != "file" else None
        path = parsed.path
    elif (match := _SCP_LIKE.match(url)) and not url.startswith((".", "/")):
        host, path = match["host"], match["path"]
    else:
        host, path = None, url
    path = path.strip("/").removesuffix(".git")
    if host is None:
        path = "/".join(path.split("/")[-2:])  # a local or file:// remote: owner/name from the last two parts
    return host, path


def resolve_remote(settings: GitSettings, url: str, user: UserGit | None = None) -> RemoteRepo:
    """The remote ``url`` points at; the API base comes from the user config (``user``, else loaded)."""
    host, path = parse_remote_url(url)
    provider = settings.provider
    if provider == "auto":
        lowered = (host or "").lower()
        provider = "github" if "github" in lowered else "gitlab" if "gitlab" in lowered else "none"
    user = user if user is not None else load_user_config().git
    api = user.api_url.rstrip("/") if user.api_url else _default_api(provider, host)
    return RemoteRepo(provider=provider, host=host, path=path, api_url=api)


def _default_api(provider: str, host: str | None) -> str | None:
    if provider == "github":
        return "https://api.github.com" if host in (None, "github.com") else f"https://{host}/api/v3"
    if provider == "gitlab":
        return f"https://{host or 'gitlab.com'}/api/v4"
    return None


def token_variable(user: UserGit, provider: str) -> str:
    """The variable holding the API token: the user config's choice, else the provider's usual one."""
    return user.token_env or DEFAULT_TOKEN_VARIABLES.get(provider, "GITHUB_TOKEN")


def find_token(user: UserGit, provider: str) -> str | None:
    return os.environ.get(token_variable(user, provider)) or None


def token_name(provider: str) -> str:
    """How messages call the credential: "the GitHub token"."""
    return f"the {_PROVIDER_NAMES.get(provider, provider)} token"


def check_api_url(remote: RemoteRepo) -> None:
    """Refuse (UsageError, exit 2) an API base a token must not be sent to: not https, or no API at all."""
    if remote.api_url is None or remote.provider not in ("github", "gitlab"):
        raise MlopsError(f"cannot open pull requests on provider '{remote.provider}'", title="No pull-request API")
    check_credential_url(remote.api_url, what=token_name(remote.provider))


def open_pull_request(remote: RemoteRepo, token: str, *, head: str, base: str, title: str, body: str) -> PullRequest:
    """Open the request; raises :class:`MlopsError` (refused) or :class:`GitRemoteUnreachable`."""
    check_api_url(remote)
    what = token_name(remote.provider)
    if remote.provider == "github":
        url = f"{remote.api_url}/repos/{remote.path}/pulls"
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        payload: dict[str, Any] = {"title": title, "head": head, "base": base, "body": body}
        return _created(url, _post(url, headers, payload, what), "html_url", "number", "github")
    project = urllib.parse.quote(remote.path, safe="")
    url = f"{remote.api_url}/projects/{project}/merge_requests"
    payload = {
        "source_branch": head,
        "target_branch": base,
        "title": title,
        "description": body,
        "remove_source_branch": True,
    }
    return _created(url, _post(url, {"PRIVATE-TOKEN": token}, payload, what), "web_url", "iid", "gitlab")


def _post(url: str, headers: dict[str, str], payload: dict[str, Any], what: str) -> dict[str, Any]:
    """POST ``payload``; ``headers`` hold the token, so the HTTP port never follows a redirect with them."""
    try:
        response = http.request(
            "POST", url, secret_headers=headers, secret_name=what, json_body=payload, timeout=TIMEOUT_SECONDS
        )
    except http.NoAnswer as exc:
        raise GitRemoteUnreachable(f"POST {url} failed: {exc.reason}") from exc
    if 300 <= response.status < 400:
        raise _redirect_error(url, response, what)
    if response.status >= 400:
        raise MlopsError(
            f"POST {url} answered {response.status}: {_api_message(response)}", title="Pull request not opened"
        )
    try:
        answer = response.json()
    except ValueError:
        raise _unexpected(url, "something that is not JSON") from None
    if not isinstance(answer, dict):
        raise _unexpected(url, "unexpected JSON")
    return answer


def _created(url: str, answer: dict[str, Any], link: str, number: str, provider: str) -> PullRequest:
    """The pull request from the provider's answer; an answer without its link or number is an error."""
    try:
        return PullRequest(url=str(answer[link]), number=int(answer[number]), provider=provider)
    except (KeyError, TypeError, ValueError):
        raise _unexpected(url, f"JSON without '{link}' and a numeric '{number}'") from None


def _unexpected(url: str, what: str) -> MlopsError:
    return MlopsError(f"POST {url} answered with {what}", title="Pull request not opened")


def _redirect_error(url: str, response: http.Response, what: str) -> MlopsError:
    location = _printable(response.header("Location") or "") or "nowhere (no Location header)"
    return MlopsError(
        f"POST {url} answered {response.status} redirecting to {location}; the redirect was not followed with {what}",
        title="Pull request not opened",
        hint=f"set git.api_url in {USER_CONFIG_WHERE} (or MLOPS_GIT_API_URL) to the API's own address",
    )


def _printable(text: str, limit: int = 300) -> str:
    """A server's words, safe to print on one terminal line (no escape sequences, no line breaks)."""
    return "".join(char for char in text if char.isprintable())[:limit]


def _api_message(response: http.Response) -> str:
    """The provider's own words: GitHub's ``message`` and ``errors[].message``, GitLab's ``message``."""
    try:
        data = response.json()
    except ValueError:
        return response.reason
    if not isinstance(data, dict):
        return response.reason
    message = data.get("message") or data.get("error") or response.reason
    parts = message if isinstance(message, list) else [message]
    details = [e.get("message") for e in data.get("errors", []) if isinstance(e, dict) and e.get("message")]
    return "; ".join(str(part) for part in [*parts, *details])


def compare_url(remote: RemoteRepo, head: str, base: str) -> str | None:
    """The web page that opens the request by hand."""
    if remote.web_url is None:
        return None
    if remote.provider == "github":
        return f"{remote.web_url}/compare/{base}...{urllib.parse.quote(head)}?expand=1"
    if remote.provider == "gitlab":
        query = urllib.parse.urlencode({"merge_request[source_branch]": head, "merge_request[target_branch]": base})
        return f"{remote.web_url}/-/merge_requests/new?{query}"
    return None


def pr_command(remote: RemoteRepo, head: str, base: str) -> str | None:
    """The CLI command that opens the request from the commit's title and body (gh, glab)."""
    if remote.provider == "github":
        return shlex.join(["gh", "pr", "create", "--base", base, "--head", head, "--fill"])
    if remote.provider == "gitlab":
        return shlex.join(["glab", "mr", "create", "--source-branch", head, "--target-branch", base, "--fill", "--yes"])
    return None


def push_command(remote_name: str, remote: RemoteRepo | None, branch: str, base: str) -> str:
    """The exact push; for GitLab with push options that open the merge request in the same step."""
    if remote is not None and remote.provider == "gitlab":
        return shlex.join(
            [
                "git", "push", "-o", "merge_request.create", "-o", f"merge_request.target={base}",
                remote_name, f"{branch}:{branch}",
            ]
        )  # fmt: skip
    return shlex.join(["git", "push", remote_name, f"{branch}:{branch}"])
