"""The login's parts: crypt(3) verification through libcrypt and the throttle, stepped by `now`."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.web.password import verify_password
from appliance.web.ratelimit import LoginThrottle


def openssl_hash(kind: str, password: str) -> str:
    return subprocess.run(["openssl", "passwd", kind, "-stdin"], input=password, capture_output=True,
                          text=True, check=True).stdout.strip()


def libcrypt_hash(prefix: bytes, password: str) -> str:
    """A hash made by libxcrypt itself (crypt_gensalt_rn + crypt_rn), e.g. yescrypt as mkpasswd does."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt_gensalt_rn.restype = ctypes.c_char_p
    salt = ctypes.create_string_buffer(256)
    setting = lib.crypt_gensalt_rn(prefix, 0, None, 0, salt, 256)
    assert setting, "libcrypt made no salt"
    data = ctypes.create_string_buffer(32768)
    lib.crypt_rn.restype = ctypes.c_char_p
    return str(lib.crypt_rn(password.encode(), setting, data, 32768).decode())


@pytest.mark.parametrize("make", [
    lambda pw: openssl_hash("-6", pw), lambda pw: openssl_hash("-5", pw),
    lambda pw: libcrypt_hash(b"$y$", pw), lambda pw: libcrypt_hash(b"$2b$", pw),
], ids=["sha512crypt", "sha256crypt", "yescrypt", "bcrypt"])
def test_every_accepted_hash_format_verifies(make: object) -> None:
    stored = make("s3cret pass")  # type: ignore[operator]
    assert verify_password("s3cret pass", stored)
    assert not verify_password("s3cret pas", stored)
    assert not verify_password("", stored)


def test_no_hash_or_broken_hash_lets_nobody_in() -> None:
    assert not verify_password("anything", None)
    assert not verify_password("anything", "$6$broken")
    assert not verify_password("x" * 2000, openssl_hash("-6", "x" * 2000))  # too long: refused before hashing


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=64))
def test_any_password_text_is_answered_true_or_false(password: str) -> None:
    assert verify_password(password, "$5$abcdefgh$" + "a" * 43) in (True, False)


def test_throttle_per_client_with_a_stepped_clock() -> None:
    throttle = LoginThrottle(limit=3, window=60.0)
    for second in range(3):
        assert throttle.retry_after("a", float(second)) == 0
        throttle.failed("a", float(second))
    assert throttle.retry_after("a", 10.0) == pytest.approx(50.0)  # until the first failure leaves
    assert throttle.retry_after("b", 10.0) == 0
    assert throttle.retry_after("a", 60.0) == 0
    throttle.failed("a", 61.0)
    throttle.succeeded("a")
    assert throttle.retry_after("a", 61.0) == 0


def test_throttle_caps_everyone_together_and_bounds_memory() -> None:
    throttle = LoginThrottle(limit=5, window=60.0, global_limit=10, max_clients=4)
    for index in range(10):
        throttle.failed(f"198.51.100.{index}", 1.0)
    assert throttle.retry_after("203.0.113.1", 2.0) == pytest.approx(59.0)
    assert throttle.retry_after("203.0.113.1", 61.0) == 0
    assert len(throttle._failures) == 4
