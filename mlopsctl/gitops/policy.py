"""The rules a promotion must pass before anything is written, each refusal with its exact reason.

1. the version passed its gates when it was registered (``gates_passed`` in its record);
2. it is not archived (``registry/<model>/archived.yaml``);
3. a canary weight is within 1 and the spec's ``promotion.max_canary_weight``;
4. every environment the spec lists in ``promotion.requires[env]`` has run this version before
   (in any role, at any time in the committed history of its file; hand edits count).

``validate`` checks 1 and 2 again on every environment file, so a hand edit that names a failed or
archived version is caught on the pull request as well.
"""

from __future__ import annotations

from mlopsctl.contract.records import VersionRecord
from mlopsctl.errors import PolicyRefused
from mlopsctl.gitops.snapshot import Snapshot, ran_in
from mlopsctl.spec.models import ModelSpec


def check_deployable(record: VersionRecord, archived: set[int]) -> None:
    """Rules 1 and 2."""
    ref = f"{record.model}@{record.version}"
    if not record.gates_passed:
        failed = ", ".join(gate.gate for gate in record.gates if not gate.passed) or "no gate results"
        raise PolicyRefused(
            f"{ref} failed its gates ({failed}) and cannot be deployed",
            hint=f"train a version that passes the gates in models/{record.model}/model.yaml",
        )
    if record.version in archived:
        raise PolicyRefused(
            f"{ref} is archived and cannot be deployed",
            hint="archived versions are kept for lineage only; promote a newer version",
        )


def check_weight(spec: ModelSpec, weight: int) -> None:
    """Rule 3."""
    limit = spec.promotion.max_canary_weight
    if not 1 <= weight <= limit:
        raise PolicyRefused(
            f"canary weight {weight}% is out of range for {spec.name}: 1 to {limit}%",
            hint=f"the limit is promotion.max_canary_weight in models/{spec.name}/model.yaml",
        )


def check_requires(snap: Snapshot, spec: ModelSpec, version: int, env: str) -> None:
    """Rule 4."""
    required = spec.promotion.requires.get(env, [])
    for earlier in required:
        if not ran_in(snap, earlier, spec.name, version):
            raise PolicyRefused(
                f"{spec.name}@{version} has not run in {earlier}; {env} takes only versions "
                f"that ran in {', '.join(required)} first",
                hint=f"promote it there first: mlopsctl promote {spec.name}@{version} --env {earlier}",
            )
