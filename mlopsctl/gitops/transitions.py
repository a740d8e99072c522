"""How a promotion or a rollback changes one model's deployment in one environment.

A deployment has a stable ``version`` (it answers requests) and, for canary and shadow, a
``candidate`` (canary: answers ``weight`` percent of requests; shadow: sees every request, its
answers are only recorded). Writing ``S`` for the stable version, ``C`` for the candidate and
``v`` for the version being promoted:

==========================  ====================  ==================================================
now                         action                becomes
==========================  ====================  ==================================================
nothing                     promote v replace     ``S=v`` replace
nothing                     promote v canary/sh.  refused: a canary or a shadow needs a stable version
``S`` replace               promote v replace     ``S=v`` (v = S: nothing to change)
``S`` replace               promote v canary w    ``S``, ``C=v`` canary w (v = S: refused)
``S`` replace               promote v shadow      ``S``, ``C=v`` shadow (v = S: refused)
``S, C`` canary/shadow      promote v replace     ``S=v`` replace, candidate cleared (v = C finishes
                                                  the canary; v = S abandons it)
``S, C`` canary w0          promote C canary w    ``S, C`` canary w (a new weight; w = w0: nothing to change)
``S, C`` shadow             promote C canary w    ``S, C`` canary w (the shadow starts taking traffic)
``S, C`` canary             promote C shadow      ``S, C`` shadow (traffic taken back, still observed)
``S, C`` canary/shadow      promote v canary/sh.  ``S``, ``C=v`` (another candidate replaces C; v = S: refused)
``S, C`` canary/shadow      rollback              ``S`` replace: the candidate is dropped
``S`` replace               rollback              the stable version that ran before S here (git history)
anything                    rollback --to X       ``S=X`` replace; X must have run here before
==========================  ====================  ==================================================

Fields the actions do not own (``target``, ``replicas``, ``port``) are carried over untouched;
``strategy`` is written only when it is not the default (replace). These functions are pure: they
take and return the deployment's plain mapping as it reads in YAML, so the file edit stays minimal.
"""

from __future__ import annotations

from typing import Any

from mlopsctl.contract.versions import MAX_VERSION
from mlopsctl.errors import CheckFailed, MlopsError, PolicyRefused

Fields = dict[str, Any]
ROLES = ("version", "candidate")


class NothingToChange(MlopsError):
    """The environment already says what was asked; no commit is made."""

    title = "Nothing to change"


def describe(fields: Fields | None) -> str:
    """``3``, ``3 canary 4 at 20%``, ``3 shadow 4`` or ``none``: the state in one short phrase."""
    if not fields:
        return "none"
    strategy = fields.get("strategy", "replace")
    if strategy == "canary":
        return f"{fields['version']} canary {fields.get('candidate')} at {fields.get('weight')}%"
    if strategy == "shadow":
        return f"{fields['version']} shadow {fields.get('candidate')}"
    return str(fields["version"])


def promote(current: Fields | None, version: int, strategy: str, weight: int | None, where: str) -> Fields:
    """The deployment after promoting ``version`` with ``strategy``; ``where`` is ``model in env`` for messages."""
    if strategy == "replace":
        return _to_replace(current, version, where)
    if current is None:
        raise PolicyRefused(
            f"nothing runs for {where} yet, and a {strategy} needs a stable version to run beside",
            hint="promote a first version with --strategy replace",
        )
    stable = stable_version(current, where)
    if version == stable:
        raise PolicyRefused(
            f"version {version} is already the stable version of {where}; "
            f"a {strategy} candidate must be another version"
        )
    new = {k: v for k, v in current.items() if k not in ("candidate", "weight", "strategy")}
    new = _ordered({**new, "strategy": strategy, "candidate": version, **({"weight": weight} if weight else {})})
    if _same(current, new):
        raise NothingToChange(f"{where} already runs {describe(current)}; nothing to change")
    return new


def rollback(current: Fields, previous_stable: int | None, to: int | None, where: str) -> Fields:
    """The deployment after a rollback (see the table in the module docstring)."""
    if to is None and current.get("strategy", "replace") != "replace":
        return _to_replace(current, stable_version(current, where), where)
    target = to if to is not None else previous_stable
    if target is None:
        raise NothingToChange(
            f"{where} has run only version {current['version']}: there is no earlier version to roll back to"
        )
    return _to_replace(current, target, where)


def stable_version(current: Fields, where: str) -> int:
    """The deployment's ``version``, which an environment file (someone's commit) may have written badly."""
    version = current.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= MAX_VERSION:
        return version
    shown = repr(str(version)[:20] + ("..." if len(str(version)) > 20 else ""))
    raise CheckFailed(
        f"the environment file gives {where} the version {shown}, which is not a version number (1 to {MAX_VERSION})",
        title="Invalid environment",
        hint="run 'mlopsctl validate' for the exact line, and correct the file",
    )


def _to_replace(current: Fields | None, version: int, where: str) -> Fields:
    if current is None:
        return {"version": version}
    new = {k: v for k, v in current.items() if k not in ("candidate", "weight", "strategy")}
    new["version"] = version
    if _same(current, new):
        raise NothingToChange(f"{where} already runs version {version}; nothing to change")
    return new


def _same(a: Fields, b: Fields) -> bool:
    def norm(fields: Fields) -> Fields:
        return {k: v for k, v in fields.items() if not (k == "strategy" and v == "replace")}

    return norm(a) == norm(b)


_ORDER = ("version", "strategy", "candidate", "weight")


def _ordered(fields: Fields) -> Fields:
    """Keep the keys the file already has in place; the strategy keys follow ``version``."""
    head = {k: fields[k] for k in _ORDER if k in fields}
    return {**head, **{k: v for k, v in fields.items() if k not in head}}


def runs(fields: Fields | None, version: int) -> str | None:
    """The role ``version`` plays in a deployment (stable, canary, shadow), or None."""
    if not fields:
        return None
    if fields.get("version") == version:
        return "stable"
    if fields.get("candidate") == version:
        return str(fields.get("strategy", "canary"))
    return None
