"""Passwords (argon2id) and random secrets (stored as their SHA-256 only)."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type

# argon2-cffi's RFC 9106 "low memory" profile, argon2id.
_HASHER = PasswordHasher(time_cost=3, memory_cost=65_536, parallelism=4, type=Type.ID)
MIN_PASSWORD_LENGTH = 12


@functools.cache
def _dummy_hash() -> str:
    """A valid hash to verify against when the account does not exist, so that the answer
    takes the same time either way (no account enumeration by timing)."""
    return _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def password_problem(password: str, email: str) -> str | None:
    """A French reason the password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
    if len(password) > 1024:
        return "Le mot de passe est trop long (1 024 caractères au plus)."
    if password.lower() == email.lower() or password.lower() in email.lower():
        return "Le mot de passe ne doit pas reprendre l'adresse électronique."
    return None


def new_secret(prefix: str = "") -> str:
    """256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
