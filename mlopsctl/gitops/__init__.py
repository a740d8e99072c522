"""Git as the desired state: commits, branches, promotions, pull requests and history.

Where things live::

    api          promote / rollback / archive / retire in one call each (what the CLI, TUI and CI call)
    operations   each action as a Change computed from one commit: policy, file edit, trailers
    retire       a model or version out of every environment and archived, in one commit
    policy       the rules (gates passed, not archived, canary weight, required environments)
    transitions  how a deployment changes (replace, canary, shadow, rollback), a pure table
    envfile      surgical YAML edits that keep comments and layout
    snapshot     files at a commit, and what ran where in the past (git history)
    publish      commit on a branch or directly, push with retries, open the pull request
    forge        GitHub and GitLab REST APIs, compare URLs and manual commands
    history      the audit log from commit trailers, merged with the edits below
    edit_history what a commit without trailers (a git revert, a hand edit) did to environments/
    edit_cache   finding those commits once: the walk kept in .git/mlopsctl/ by its tip
    entries      the audit log's entries
    rollout_entries  rollout commits (Rollout-Step, Rollout-Decision trailers) in the audit log
    live_runs    when a version ran live as a shadow or canary, from the environment files' history
    pr_evidence  the live evidence section of a promotion's pull request (figures, PromQL, or why none)
    git          the git command-line port
"""
