"""Opaque credentials (authorization codes, refresh tokens, client secrets): made random, stored hashed.

They carry 256 bits of entropy, so a single SHA-256 is the right storage
hash: nothing to brute-force, and lookups stay indexable. Passwords, which
are low-entropy, use argon2 instead (``passwords.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str = "") -> str:
    """A fresh URL-safe secret with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    """The storage form of a secret."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches(value: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with its stored hash."""
    return hmac.compare_digest(hash_secret(value), stored_hash)
