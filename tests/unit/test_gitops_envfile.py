"""Surgical YAML edits: the intended data, and every other byte of the file kept."""

from __future__ import annotations

import pytest
import yaml

from mlopsctl.gitops import envfile

HEADER = """# yaml-language-server: $schema=../schemas/environment.schema.json
# Desired state of staging.
apiVersion: mlopsctl/v1
kind: Environment
name: staging
"""

HAND_EDITED = (
    HEADER
    + """deployments:
  # churn answers the web shop; ask #ml-oncall before changing it
  churn:
    version: 2        # pinned while the holiday data settles
    port: 8105        # fixed for the load balancer
  fraud:
    version: 1
# trailing note that belongs to the file
"""
)


def test_first_deployment_replaces_the_empty_flow_mapping() -> None:
    text = HEADER + "deployments: {}\n"
    edited = envfile.set_deployment(text, "churn", {"version": 1})
    assert edited == HEADER + "deployments:\n  churn:\n    version: 1\n"


def test_empty_mapping_with_a_comment_keeps_the_comment_on_the_key_line() -> None:
    text = HEADER + "deployments: {}   # nothing yet\nbase_port: 8100\n"
    edited = envfile.set_deployment(text, "churn", {"version": 1})
    assert edited == HEADER + "deployments:   # nothing yet\n  churn:\n    version: 1\nbase_port: 8100\n"


def test_missing_deployments_key_is_appended() -> None:
    edited = envfile.set_deployment(HEADER, "churn", {"version": 3})
    assert edited == HEADER + "deployments:\n  churn:\n    version: 3\n"


def test_changing_a_version_touches_only_its_value() -> None:
    edited = envfile.set_deployment(HAND_EDITED, "churn", {"version": 3, "port": 8105})
    assert edited == HAND_EDITED.replace("version: 2        # pinned", "version: 3        # pinned")


def test_new_keys_go_after_the_last_key_and_comments_stay() -> None:
    fields = {"version": 2, "strategy": "canary", "candidate": 3, "weight": 20, "port": 8105}
    edited = envfile.set_deployment(HAND_EDITED, "churn", fields)
    assert edited == HAND_EDITED.replace(
        "    port: 8105        # fixed for the load balancer\n",
        "    port: 8105        # fixed for the load balancer\n    strategy: canary\n    candidate: 3\n    weight: 20\n",
    )


def test_removed_keys_lose_their_whole_line() -> None:
    canary = envfile.set_deployment(
        HAND_EDITED, "churn", {"version": 2, "strategy": "canary", "candidate": 3, "weight": 20, "port": 8105}
    )
    back = envfile.set_deployment(canary, "churn", {"version": 2, "port": 8105})
    assert back == HAND_EDITED


def test_a_new_model_is_added_after_the_last_entry_before_trailing_comments() -> None:
    edited = envfile.set_deployment(HAND_EDITED, "yes", {"version": 1})
    assert edited == HAND_EDITED.replace(
        "    version: 1\n# trailing", "    version: 1\n  'yes':\n    version: 1\n# trailing"
    )
    assert yaml.safe_load(edited)["deployments"]["yes"] == {"version": 1}


def test_flow_style_deployment_is_rewritten_in_flow_style() -> None:
    text = HEADER + "deployments:\n  churn: {version: 1}  # flow\n"
    edited = envfile.set_deployment(text, "churn", {"version": 1, "strategy": "shadow", "candidate": 2})
    assert edited == HEADER + "deployments:\n  churn: {version: 1, strategy: shadow, candidate: 2}  # flow\n"


def test_unusual_layout_falls_back_to_a_redump_that_keeps_the_header() -> None:
    text = HEADER + "deployments: {churn: {version: 1},\n  fraud: {version: 2}}\n"
    edited = envfile.set_deployment(text, "churn", {"version": 5})
    assert edited.startswith("# yaml-language-server: $schema=../schemas/environment.schema.json\n# Desired state")
    assert yaml.safe_load(edited)["deployments"] == {"churn": {"version": 5}, "fraud": {"version": 2}}


def test_file_without_a_final_newline() -> None:
    text = HEADER + "deployments:\n  churn:\n    version: 1"
    edited = envfile.set_deployment(text, "churn", {"version": 1, "strategy": "shadow", "candidate": 2})
    assert yaml.safe_load(edited)["deployments"]["churn"] == {"version": 1, "strategy": "shadow", "candidate": 2}
    assert edited.startswith(text)


def test_append_list_item_to_a_new_and_an_existing_file() -> None:
    header = "# Archived versions of churn.\n"
    first = envfile.append_list_item(header, "archived", {"version": 1, "by": "A <a@x>"})
    assert first == header + "archived:\n- version: 1\n  by: A <a@x>\n"
    second = envfile.append_list_item(first, "archived", {"version": 2, "reason": "yes"})
    assert second == first + "- version: 2\n  reason: 'yes'\n"


def test_scalar_quotes_what_yaml_would_misread() -> None:
    assert envfile.scalar("on") == "'on'"
    assert envfile.scalar("churn") == "churn"
    assert envfile.scalar(20) == "20"


@pytest.mark.parametrize(
    ("empty", "key_line"),
    [
        ("deployments:", "deployments:"),
        ("deployments: ~", "deployments:"),
        ("deployments: null  # none", "deployments:  # none"),
    ],
)
def test_null_deployments_become_a_block(empty: str, key_line: str) -> None:
    edited = envfile.set_deployment(HEADER + empty + "\nbase_port: 8100\n", "churn", {"version": 1})
    assert edited == HEADER + key_line + "\n  churn:\n    version: 1\nbase_port: 8100\n"


# --------------------------------------------------------------------------- untrusted text (issue 11)

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
"""432 bytes of YAML that expand to 9**9 strings."""
DEEP = "deployments: " + "[" * 100 + "]" * 100 + "\n"


def test_load_refuses_an_alias_bomb_naming_the_file() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        envfile.load(HEADER + BOMB, "environments/staging.yaml")
    assert str(caught.value) == "environments/staging.yaml:6:50: e: alias expansion exceeds 10000 nodes"


@pytest.mark.parametrize("edit", ["set", "append"])
def test_edits_refuse_nesting_too_deep_before_composing(edit: str) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        if edit == "set":
            envfile.set_deployment(HEADER + DEEP, "churn", {"version": 1})
        else:
            envfile.append_list_item(HEADER + DEEP, "archived", {"version": 1})
    assert str(caught.value) == "<text>:6:77: (document): nesting deeper than 64 levels"
