"""The revocation look-ups behind token verification: one query per key at a time, refreshed ahead.

A busy server used to stall every REVOCATION_CACHE_SECONDS, when every request that found
the cached answer expired ran its own store queries. These tests drive the cache with a
clock they control and a look-up that counts how often it runs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from bridgehead.auth.keys import InvalidToken
from bridgehead.auth.resource import REFRESH_AFTER_SECONDS, REVOCATION_CACHE_SECONDS, TokenVerifier
from bridgehead.auth.service import AuthService


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lookup:
    """A store look-up stand-in that answers ``revoked``, counts its runs and can be held open."""

    def __init__(self) -> None:
        self.revoked = False
        self.runs = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def __call__(self) -> bool:
        self.runs += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return self.revoked


def verifier(clock: Clock) -> TokenVerifier:
    # The cache never touches the service; verification end to end is in test_oauth_errors.py.
    made = TokenVerifier(cast(AuthService, None))
    made._clock = clock
    return made


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_misses_share_one_query() -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    lookup.release.clear()
    waiting = [asyncio.create_task(cache._cached("jti:a", lookup)) for _ in range(16)]
    await settle()
    lookup.release.set()
    assert await asyncio.gather(*waiting) == [False] * 16
    assert lookup.runs == 1


async def test_fresh_answers_need_no_query() -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    assert await cache._cached("jti:a", lookup) is False
    clock.now += REFRESH_AFTER_SECONDS / 2
    for _ in range(10):
        assert await cache._cached("jti:a", lookup) is False
    assert lookup.runs == 1


async def test_an_ageing_answer_is_refreshed_once_in_the_background() -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    await cache._cached("jti:a", lookup)
    lookup.revoked = True
    lookup.release.clear()
    clock.now += REFRESH_AFTER_SECONDS + 0.1
    # Still within the revocation bound: answered at once from the cache, one refresh started.
    answers = [await cache._cached("jti:a", lookup) for _ in range(10)]
    assert answers == [False] * 10
    await settle()
    assert lookup.runs == 2
    lookup.release.set()
    await settle()
    assert await cache._cached("jti:a", lookup) is True
    assert lookup.runs == 2


async def test_an_answer_past_the_bound_is_never_used() -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    await cache._cached("jti:a", lookup)
    lookup.revoked = True
    lookup.release.clear()
    clock.now += REVOCATION_CACHE_SECONDS
    waiting = [asyncio.create_task(cache._cached("jti:a", lookup)) for _ in range(8)]
    await settle()
    assert not any(task.done() for task in waiting)  # they wait for the query, not the old answer
    lookup.release.set()
    assert await asyncio.gather(*waiting) == [True] * 8
    assert lookup.runs == 2


async def test_a_cancelled_request_does_not_cancel_the_shared_query() -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    lookup.release.clear()
    first = asyncio.create_task(cache._cached("jti:a", lookup))
    second = asyncio.create_task(cache._cached("jti:a", lookup))
    await settle()
    first.cancel()
    await settle()
    lookup.release.set()
    assert await second is False
    assert first.cancelled()
    assert lookup.runs == 1


async def test_a_failed_query_reaches_its_waiters_and_is_retried() -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    lookup.fail = RuntimeError("store unavailable")
    with pytest.raises(RuntimeError, match="store unavailable"):
        await cache._cached("jti:a", lookup)
    lookup.fail = None
    assert await cache._cached("jti:a", lookup) is False
    assert lookup.runs == 2


async def test_a_failed_background_refresh_keeps_the_answer_until_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, lookup = Clock(), Lookup()
    cache = verifier(clock)
    await cache._cached("jti:a", lookup)
    lookup.fail = RuntimeError("store unavailable")
    clock.now += REFRESH_AFTER_SECONDS + 0.1
    assert await cache._cached("jti:a", lookup) is False
    await settle()
    assert "revocation check failed: store unavailable" in caplog.text
    clock.now += REVOCATION_CACHE_SECONDS
    with pytest.raises(RuntimeError):
        await cache._cached("jti:a", lookup)


class Store:
    """The four look-ups ``verify`` makes, as a stand-in service whose answers a test sets and counts."""

    def __init__(self) -> None:
        self.revoked_jti: set[str] = set()
        self.runs = 0
        self.grants = self
        self.clients = self
        self.users = self

    def issuer(self, conn: object) -> str:
        return "https://bridgehead.example"

    async def access_token_revoked(self, jti: str) -> bool:
        self.runs += 1
        return jti in self.revoked_jti

    async def family_revoked(self, fid: str) -> bool:
        self.runs += 1
        return False

    async def get(self, key: str) -> object:
        self.runs += 1
        return type("Record", (), {"revoked": False, "disabled": False, "tokens_valid_after": 0})()


CLAIMS = {
    "iss": "https://bridgehead.example", "exp": 4_000_000_000, "iat": 1, "jti": "j1", "fid": "f1",
    "sub": "u1", "client_id": "c1", "scope": "tools:read", "aud": "https://bridgehead.example/mcp",
}  # fmt: skip


def store_verifier(clock: Clock, store: Store) -> TokenVerifier:
    made = TokenVerifier(cast(AuthService, store))
    made._clock = clock
    made._verified["tok"] = dict(CLAIMS)  # the signature check is cached as after a first request
    return made


async def test_a_token_that_passed_skips_the_cache_while_its_answers_are_fresh() -> None:
    """The per-token memo saves the four cache consultations (CPU, not queries: fresh answers need
    none either way), and only while the oldest answer it stands for is younger than the refresh age."""
    clock, store = Clock(), Store()
    cache = store_verifier(clock, store)
    consulted: list[str] = []
    consult = cache._cached

    async def counting(key: str, compute: Any) -> bool:
        consulted.append(key)
        return await consult(key, compute)

    cache._cached = counting  # type: ignore[method-assign]
    assert (await cache.verify("tok", cast(Any, None)))["jti"] == "j1"
    assert len(consulted) == 4 and store.runs == 4  # jti, grant family, client, user
    clock.now += REFRESH_AFTER_SECONDS - 0.1
    await cache.verify("tok", cast(Any, None))
    assert len(consulted) == 4
    clock.now += 0.2
    await cache.verify("tok", cast(Any, None))
    assert len(consulted) == 8  # the answers are now due for a refresh: the cache decides again
    await settle()
    assert store.runs == 8


async def test_a_revocation_is_honoured_within_the_bound_despite_the_memo() -> None:
    clock, store = Clock(), Store()
    cache = store_verifier(clock, store)
    await cache.verify("tok", cast(Any, None))
    store.revoked_jti.add("j1")
    # Past the refresh age the token's requests use the per-key answers again, which refresh...
    clock.now += REFRESH_AFTER_SECONDS + 0.1
    await cache.verify("tok", cast(Any, None))
    await settle()
    # ...so the revocation the refresh saw refuses the next request, well within the bound.
    with pytest.raises(InvalidToken, match="revoked"):
        await cache.verify("tok", cast(Any, None))
    clock.now += REVOCATION_CACHE_SECONDS
    with pytest.raises(InvalidToken, match="revoked"):
        await cache.verify("tok", cast(Any, None))


async def test_a_recent_identity_stands_only_for_what_verify_would_accept() -> None:
    """``recent`` (the fast path's check, which awaits nothing) gives the identity only while ``verify``
    would answer from the memo: same issuer, unexpired, answers younger than the refresh age."""
    issuer = CLAIMS["iss"]
    clock, store = Clock(), Store()
    cache = store_verifier(clock, store)
    assert cache.recent("tok", issuer) is None  # not verified yet
    await cache.verify("tok", cast(Any, None))
    identity = cache.recent("tok", issuer)
    assert identity is not None
    caller, user = identity
    assert caller.user_id == "u1" and caller.scopes == {"tools:read"} and user.access_token.token == "tok"
    assert cache.recent("tok", "https://other.example") is None
    assert cache.recent("another token", issuer) is None
    clock.now += REFRESH_AFTER_SECONDS
    assert cache.recent("tok", issuer) is None  # due for a refresh: verify decides again

    expiring = store_verifier(Clock(), Store())
    expiring._verified["tok"]["exp"] = time.time() + 0.2
    await expiring.verify("tok", cast(Any, None))
    assert expiring.recent("tok", issuer) is not None
    await asyncio.sleep(0.25)
    assert expiring.recent("tok", issuer) is None
