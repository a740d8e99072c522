"""A loopback stand-in for GitHub's and GitLab's pull-request endpoints, strict like the real ones.

It serves exactly the two endpoints mlopsctl calls and checks each request the way the providers
document them, answering with their status codes and JSON shapes:

* GitHub, "Create a pull request": ``POST /repos/{owner}/{repo}/pulls``; headers
  ``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version: 2022-11-28``,
  ``Authorization: Bearer <token>``, a ``User-Agent`` (GitHub rejects requests without one) and a
  JSON body with ``title``, ``head``, ``base`` (and optional ``body``, ``draft``...). 201 with the
  pull request (``number``, ``html_url``, ``state: open``, ``head.ref``, ``base.ref``); 401 ``Bad
  credentials``; 422 ``Validation Failed`` when the head branch does not exist or a pull request
  for it is already open.
* GitLab, "Create MR": ``POST /api/v4/projects/{id or URL-encoded path}/merge_requests``; header
  ``PRIVATE-TOKEN``; JSON body with ``source_branch``, ``target_branch``, ``title`` (and optional
  ``description``, ``remove_source_branch``...). 201 with the merge request (``iid``, ``web_url``,
  ``state: opened``); 401 ``401 Unauthorized``; 409 when one is already open for the branch.

Branch existence is checked against a real bare repository, as the real services would. With
``redirect_to`` set it plays a moved API instead: every request is answered with a redirect (302 unless
``redirect_status`` says otherwise) to the same path there.

mlopsctl finds it as a user would point it at GitHub Enterprise: through ``MLOPS_GIT_API_URL`` (plus
``MLOPS_ALLOW_INSECURE_LOOPBACK=1``, since it speaks plain http), never through ``mlops.yaml``.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GITHUB_PULLS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls$")
GITLAB_MRS = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/merge_requests$")
GITHUB_DOCS = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"


@dataclass
class Seen:
    """One request as it arrived: method, raw path, headers (lower-case names) and parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Forge:
    token: str
    repository: Path
    """The bare repository that plays the remote (head branches must exist in it)."""
    project: str = "acme/churn-models"
    requests: list[Seen] = field(default_factory=list)
    opened: dict[str, int] = field(default_factory=dict)
    url: str = ""
    redirect_to: str | None = None
    """Answer every request with ``redirect_status`` to this base URL (same path) instead of serving it."""
    redirect_status: int = 302

    def branch_exists(self, branch: str) -> bool:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            cwd=self.repository,
            capture_output=True,
            check=False,
        )
        return done.returncode == 0


class _Handler(BaseHTTPRequestHandler):
    forge: Forge

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._record(None)
        self._send(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self._record(body)
        if self.forge.redirect_to is not None:
            self._redirect(self.forge.redirect_to + self.path)
        elif (match := GITHUB_PULLS.match(self.path)) is not None:
            self._github(match, body)
        elif (match := GITLAB_MRS.match(self.path)) is not None:
            self._gitlab(match, body)
        else:
            self._send(404, {"message": "Not Found"})

    def _record(self, body: Any) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.forge.requests.append(Seen(self.command, self.path, headers, body))

    # ------------------------------------------------------------------ GitHub

    def _github(self, match: re.Match[str], body: Any) -> None:
        forge = self.forge
        if self.headers.get("Authorization") not in (f"Bearer {forge.token}", f"token {forge.token}"):
            self._send(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
            return
        if not self.headers.get("User-Agent"):
            self._send(403, {"message": "Request forbidden by administrative rules. Please make sure your request "
                             "has a User-Agent header"})  # fmt: skip
            return
        if f"{match['owner']}/{match['repo']}" != forge.project:
            self._send(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS})
            return
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("head", "base", "title")):
            self._send(422, {"message": "Invalid request.", "documentation_url": GITHUB_DOCS})
            return
        head = body["head"].split(":", 1)[-1]
        if not forge.branch_exists(head):
            self._send(422, _github_invalid([{"resource": "PullRequest", "field": "head", "code": "invalid"}]))
            return
        if head in forge.opened:
            message = f"A pull request already exists for {match['owner']}:{head}."
            self._send(422, _github_invalid([{"resource": "PullRequest", "code": "custom", "message": message}]))
            return
        number = len(forge.opened) + 1
        forge.opened[head] = number
        web = f"https://github.com/{forge.project}/pull/{number}"
        self._send(
            201,
            {
                "url": f"{forge.url}/repos/{forge.project}/pulls/{number}",
                "id": 1000 + number,
                "number": number,
                "state": "open",
                "title": body["title"],
                "body": body.get("body"),
                "html_url": web,
                "draft": bool(body.get("draft", False)),
                "head": {"ref": head, "label": f"{match['owner']}:{head}"},
                "base": {"ref": body["base"], "label": f"{match['owner']}:{body['base']}"},
            },
        )

    # ------------------------------------------------------------------ GitLab

    def _gitlab(self, match: re.Match[str], body: Any) -> None:
        forge = self.forge
        if self.headers.get("PRIVATE-TOKEN") != forge.token:
            self._send(401, {"message": "401 Unauthorized"})
            return
        if urllib.parse.unquote(match["project"]) != forge.project:
            self._send(404, {"message": "404 Project Not Found"})
            return
        if not isinstance(body, dict):
            self._send(400, {"error": "source_branch is missing, target_branch is missing, title is missing"})
            return
        missing = [key for key in ("source_branch", "target_branch", "title") if not body.get(key)]
        if missing:
            self._send(400, {"error": ", ".join(f"{key} is missing" for key in missing)})
            return
        source = body["source_branch"]
        if not forge.branch_exists(source):
            self._send(422, {"message": ["Source branch does not exist"]})
            return
        if source in forge.opened:
            iid = forge.opened[source]
            self._send(409, {"message": [f"Another open merge request already exists for this source branch: !{iid}"]})
            return
        iid = len(forge.opened) + 1
        forge.opened[source] = iid
        self._send(
            201,
            {
                "id": 5000 + iid,
                "iid": iid,
                "project_id": 42,
                "title": body["title"],
                "description": body.get("description"),
                "state": "opened",
                "source_branch": source,
                "target_branch": body["target_branch"],
                "web_url": f"https://gitlab.com/{forge.project}/-/merge_requests/{iid}",
            },
        )

    def _redirect(self, location: str) -> None:
        self.send_response(self.forge.redirect_status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _github_invalid(errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"message": "Validation Failed", "errors": errors, "documentation_url": GITHUB_DOCS}


def api_environment(api_url: str, token_env: str | None = None) -> dict[str, str]:
    """The variables a user sets to send pull requests to ``api_url`` (a loopback forge speaks plain http)."""
    variables = {"MLOPS_GIT_API_URL": api_url, "MLOPS_ALLOW_INSECURE_LOOPBACK": "1"}
    if token_env:
        variables["MLOPS_GIT_TOKEN_ENV"] = token_env
    return variables


@contextmanager
def serve(forge: Forge) -> Iterator[Forge]:
    """Serve ``forge`` on 127.0.0.1 on a free port for the duration of the block."""
    handler = type("Handler", (_Handler,), {"forge": forge})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield forge
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
