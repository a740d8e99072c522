"""kubectl: apply a kustomization to the cluster the user's kubeconfig names (kind ``kubectl`` in the log).

Which cluster and which credentials are the user's choice, never the repository's: the kubeconfig
comes from ``KUBECONFIG`` or ``~/.kube/config`` and the cluster is its current context (a model
repository could otherwise send the user's credentials to a cluster it names). Without a kubeconfig
nothing is run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, UnreachableError, UsageError

KIND = "kubectl"
TIMEOUT_SECONDS = 300


def kubeconfig() -> list[Path]:
    """The kubeconfig files kubectl would read that exist (``KUBECONFIG``'s list, else ``~/.kube/config``)."""
    listed = os.environ.get("KUBECONFIG", "")
    candidates = [Path(p) for p in listed.split(os.pathsep) if p] if listed else [Path.home() / ".kube" / "config"]
    return [path for path in candidates if path.is_file()]


def require_kubeconfig(what: str) -> None:
    if not kubeconfig():
        raise UsageError(
            f"{what} needs a kubeconfig: KUBECONFIG is not set and there is no {Path.home() / '.kube' / 'config'}",
            title="No kubeconfig",
            hint="set KUBECONFIG to your cluster's kubeconfig (kubectl config view shows it), or leave out "
            "--kubectl and let Argo CD or Flux sync the committed folder",
        )


def apply_kustomization(folder: Path, context: str | None = None) -> str:
    """``kubectl apply -k FOLDER``; kubectl's output. Raises when kubectl is missing or fails."""
    exe = shutil.which("kubectl")
    if exe is None:
        raise UsageError("kubectl is not installed", hint="install kubectl (Debian: kubernetes-client)")
    argv = [exe, "apply", "-k", str(folder), *(["--context", context] if context else [])]
    command = " ".join(["kubectl", *argv[1:]])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        oplog.record(KIND, command, False, str(exc))
        raise UnreachableError(f"{command} did not finish: {exc}", title="Cluster unreachable") from exc
    output = (proc.stdout + proc.stderr).strip()
    oplog.record(KIND, command, proc.returncode == 0, output[-500:])
    if proc.returncode != 0:
        raise MlopsError(f"{command} failed:\n{output}", title="kubectl apply failed")
    return output
