"""Git as the desired state: commits, branches, promotions, pull requests and history."""
