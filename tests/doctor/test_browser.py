"""The loopback listener that catches the authorization response."""

from __future__ import annotations

import httpx

from bridgehead.doctor import RedirectCatcher


async def test_catches_the_redirect_and_ignores_other_paths() -> None:
    async with RedirectCatcher() as catcher:
        assert catcher.redirect_uri.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as http:
            other = await http.get(catcher.redirect_uri.replace("/callback", "/favicon.ico"))
            assert other.status_code == 404
            page = await http.get(catcher.redirect_uri, params={"code": "abc", "state": "xyz"})
            assert page.status_code == 200 and "close this window" in page.text
        assert await catcher.wait() == {"code": "abc", "state": "xyz"}
