"""Errors kubelab raises on purpose: each carries a one-line message naming the fix."""

from __future__ import annotations


class KubelabError(Exception):
    """A problem the user can fix; its message is one line that says how."""


class UsageError(KubelabError):
    """Bad input: an option value, a kubeconfig, a manifest."""


class EnvironmentProblem(KubelabError):
    """The host or cluster cannot do what was asked (no Docker, not root, unreachable API)."""


class WaitTimeout(KubelabError):
    """A wait ran out of time; the message says what, for how long, and what was seen last."""


class NotSupported(KubelabError):
    """The provider cannot do this (e.g. run a command on a node); callers fall back."""


class NodeCommandFailed(KubelabError):
    """A command run on a node (``Provider.run_on_node``) failed or timed out, on any provider."""
