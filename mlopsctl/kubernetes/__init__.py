"""The kubernetes target: an environment rendered as manifests for Argo CD or Flux (issue 17).

mlopsctl does not schedule anything in a cluster. It renders what a GitOps controller syncs into
``deploy/<env>/`` (a kustomization), so a promotion's pull request shows the manifest diff.
Faces reach it through :mod:`mlopsctl.kubernetes.api`.
"""
