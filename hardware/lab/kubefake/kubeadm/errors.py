"""kubeadm's errors: a message and the exit code kubeadm gives it (util/error.go)."""

from __future__ import annotations

EXIT_GENERAL = 1
"""Any failure."""
EXIT_PREFLIGHT = 2
"""Preflight checks failed (kubeadm's PreFlightExitCode)."""
EXIT_VALIDATION = 3
"""Configuration or flags did not validate (ValidationExitCode)."""


class KubeadmError(Exception):
    """A failure kubeadm prints on stderr and exits with."""

    def __init__(self, message: str, exit_code: int = EXIT_GENERAL, phase: str = "") -> None:
        self.message = message
        self.exit_code = exit_code
        self.phase = phase
        super().__init__(message)

    def render(self) -> str:
        """What kubeadm prints: the (phase-wrapped) error and the stack-trace hint."""
        text = f"error execution phase {self.phase}: {self.message}" if self.phase else self.message
        return f"{text}\nTo see the stack trace of this error execute with --v=5 or higher\n"
