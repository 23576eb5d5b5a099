"""The lab's repository signing key: made once with gpg in batch mode, cached, reused."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EnvironmentProblem

USER_ID = "Appliance lab package signing (simulated pkgs.k8s.io) <pkgs@k8s.example.net>"
"""The key's user id."""


@dataclass(frozen=True)
class LabKey:
    """A gpg home holding the lab's signing key."""

    home: Path
    """GNUPGHOME."""

    def _gpg(self, *arguments: str, data: bytes | None = None) -> bytes:
        if shutil.which("gpg") is None:
            raise EnvironmentProblem("gpg not found: it signs the lab's apt repositories; fix: apt-get install gpg")
        result = subprocess.run(["gpg", "--batch", "--yes", "--quiet", "--no-tty", *arguments], input=data,
                                capture_output=True, env={**os.environ, "GNUPGHOME": str(self.home)}, check=False)
        if result.returncode != 0:
            raise EnvironmentProblem(f"gpg {arguments[0]} failed: {result.stderr.decode(errors='replace').strip()}; "
                                     f"fix: remove {self.home} to make a new key")
        return result.stdout

    def ensure(self) -> LabKey:
        """Make the key if the home has none."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        if not self._gpg("--list-secret-keys", "--with-colons").strip():
            self._gpg("--passphrase", "", "--quick-generate-key", USER_ID, "rsa3072", "sign", "never")
        return self

    def sign(self, source: Path, target: Path, *, clear: bool) -> None:
        """Clear-sign (InRelease) or detach-sign armored (Release.gpg)."""
        mode = ["--clearsign"] if clear else ["--armor", "--detach-sign"]
        self._gpg("--digest-algo", "SHA512", *mode, "--output", str(target), str(source))

    def stop_agent(self) -> None:
        """End the gpg-agent that signing started, so no daemon outlives the build."""
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, check=False,
                       env={**os.environ, "GNUPGHOME": str(self.home)})

    def public_armored(self) -> bytes:
        """The public key, armored (what Release.key holds)."""
        return self._gpg("--armor", "--export")
