"""The Kubernetes adapter's errors: one line each, naming the API server and the fix."""

from __future__ import annotations

from foundation.errors import ApplianceError


class KubeUnavailable(ApplianceError, ConnectionError):
    """The API cannot be used: no admin kubeconfig yet, a bad one, or no answer from the server."""


class KubeRequestError(ApplianceError, RuntimeError):
    """The API server answered a request with an error (the message carries its Status message)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status code."""
