"""The default policy for the synthetic registry, shipped as `policies/default.yaml`."""

from __future__ import annotations

from importlib.resources import files

from policies.load import load_policy
from policies.model import Policy

__all__ = ["DEFAULT_POLICY_FILE", "default_policy", "default_policy_text"]

DEFAULT_POLICY_FILE = "default.yaml"


def default_policy_text() -> str:
    """The default policy document, as shipped (for `policy apply` or a steward to copy)."""
    return files("policies").joinpath(DEFAULT_POLICY_FILE).read_text(encoding="utf-8")


def default_policy() -> Policy:
    """The default policy, loaded and validated (a bad shipped document is a bug: it raises)."""
    return load_policy(default_policy_text(), f"policies/{DEFAULT_POLICY_FILE}")
