"""scrypt password hashes: format, verification, salts, policy, malformed input."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from mediaserver.security.passwords import (
    PasswordError,
    PasswordHasher,
    ScryptParams,
    hash_password,
    verify_password,
)

FAST = ScryptParams(log2_n=10)  # keeps the tests quick; the format is the same


def test_hash_carries_its_parameters_and_verifies():
    stored = hash_password("correct horse battery", FAST)
    prefix, log2_n, r, p, salt, key = stored.split("$")
    assert (prefix, log2_n, r, p) == ("scrypt", "10", "8", "1")
    assert "correct horse" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)


def test_matches_the_standard_scrypt_derivation():
    import base64

    stored = hash_password("密码 with ünïcode", FAST)
    _, _, _, _, salt, key = stored.split("$")
    salt_b = base64.b64decode(salt + "=" * (-len(salt) % 4))
    expected = hashlib.scrypt("密码 with ünïcode".encode(), salt=salt_b, n=1024, r=8, p=1,
                              dklen=32)
    assert base64.b64decode(key + "=" * (-len(key) % 4)) == expected


def test_salts_differ_and_default_cost_is_the_interactive_one():
    assert hash_password("same password", FAST) != hash_password("same password", FAST)
    assert ScryptParams().log2_n == 15 and ScryptParams().r == 8


@pytest.mark.parametrize("stored", ["", "plain", "bcrypt$1$2$3$4$5", "scrypt$99$8$1$AA$AA",
                                    "scrypt$10$8$1$!!!$AA", "scrypt$x$8$1$AA$AA"])
def test_malformed_or_foreign_hashes_never_match(stored):
    assert not verify_password("anything at all", stored)


def test_policy_refuses_short_and_huge_passwords_without_echoing_them():
    with pytest.raises(PasswordError) as info:
        hash_password("short", FAST)
    assert "short" not in str(info.value).replace("at least", "")
    with pytest.raises(PasswordError):
        hash_password("x" * 2000, FAST)


async def test_hasher_runs_off_the_loop_and_unknown_users_cost_a_hash():
    hasher = PasswordHasher(FAST, concurrency=1)
    stored = await hasher.hash("a long password")
    results = await asyncio.gather(hasher.verify("a long password", stored),
                                   hasher.verify("wrong password!", stored),
                                   hasher.verify("a long password", None))
    assert results == [True, False, False]
