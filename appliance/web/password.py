"""Checking the admin password against `web.admin_password_hash`, a crypt(3) hash.

The hash is verified by the system's libcrypt (libxcrypt on Debian and
Raspberry Pi OS) through ctypes, with the reentrant `crypt_rn`: it knows
every format cluster.yaml accepts (yescrypt `$y$`, the Debian default of
`mkpasswd`; `$6$`/`$5$` from `openssl passwd`; bcrypt `$2b$`), is the
library `login` and `sshd` trust, and is maintained with the OS. Python's
`crypt` module is deprecated and gone in 3.13; passlib is unmaintained and
knows no yescrypt.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hmac

from foundation.errors import EnvironmentProblem

CRYPT_DATA_SIZE = 32768
"""sizeof(struct crypt_data) in libxcrypt (the scratch space crypt_rn works in)."""
MAX_PASSWORD = 1024
"""Longer input is refused before hashing (a slow hash must not become a denial of service)."""


@functools.cache
def _crypt_rn() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    name = ctypes.util.find_library("crypt")
    if name is None:
        raise EnvironmentProblem("libcrypt not found: the page cannot check its password — "
                                 "install it: apt install libcrypt1")
    function = ctypes.CDLL(name).crypt_rn
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    function.restype = ctypes.c_char_p
    return function


def crypt(password: str, setting: str) -> str | None:
    """crypt(3) of `password` with the salt and parameters of `setting`; None if libcrypt refuses."""
    data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    result = _crypt_rn()(password.encode(), setting.encode("ascii"), data, CRYPT_DATA_SIZE)
    if result is None or result.startswith(b"*"):  # libxcrypt's failure tokens start with "*"
        return None
    return str(result.decode("ascii"))


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Whether `password` matches `stored_hash` (False when no hash is configured)."""
    if not stored_hash or not password or len(password) > MAX_PASSWORD or "\0" in password:
        return False
    try:
        computed = crypt(password, stored_hash)
    except UnicodeEncodeError:
        return False
    return computed is not None and hmac.compare_digest(computed, stored_hash)
