"""A kubernetes environment's plan as a pull-request comment: the manifest diff, cut to fit (issue 17)."""

from __future__ import annotations

from mlopsctl.deploy.model import ServiceSpec
from mlopsctl.deploy.plan import Plan
from mlopsctl.deploy.rendered import MARKDOWN_DIFF_CHARS, RenderedPlan
from mlopsctl.kubernetes.api import ManifestPlan

SPEC = ServiceSpec(model="churn", version=1, target="kubernetes", port=8100)


def manifest_plan(lines: int) -> ManifestPlan:
    diff = "".join(f"+line {index:06d} of a rendered manifest\n" for index in range(lines))
    return ManifestPlan(
        env="staging",
        folder="deploy/staging",
        models=["churn"],
        diff=diff,
        added=["churn-deployment-stable.yaml"],
    )


def test_a_small_diff_is_shown_whole_in_a_fenced_block() -> None:
    plan = RenderedPlan.of(Plan(env="staging", commit=None, changes=[], in_sync=[]), manifest_plan(3), [SPEC])

    markdown = plan.to_markdown()

    assert "```diff\n+line 000000 of a rendered manifest\n+line 000001" in markdown
    assert "+line 000002 of a rendered manifest\n```\n\n</details>\n" in markdown
    assert [change.action for change in plan.changes] == ["start"]
    assert plan.changes[0].reasons == ("deploy/staging/: churn-deployment-stable.yaml",)


def test_a_large_diff_is_cut_at_a_line_and_says_how_to_see_the_rest() -> None:
    plan = RenderedPlan.of(Plan(env="staging", commit=None, changes=[], in_sync=[]), manifest_plan(5000), [SPEC])

    markdown = plan.to_markdown()

    assert len(markdown) < MARKDOWN_DIFF_CHARS + 2_000
    shown = markdown.count("+line ")
    assert f"\n{5000 - shown} more line(s) not shown: `mlopsctl plan --env staging` prints the whole diff\n" in markdown
    assert "+line 000000" in markdown
    assert f"+line {shown - 1:06d} of a rendered manifest\n```\n" in markdown
