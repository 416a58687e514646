"""A whole hub over HTTPS (`http.tls: auto`) with HSTS and the HTTP → HTTPS redirect, checked
by a client that trusts only the hub's own site CA."""

from __future__ import annotations

import ssl

import aiohttp
import pytest


async def test_hub_serves_https_with_hsts_and_redirects_plain_http(make_hub):
    hub = await make_hub(http={"tls": {"mode": "auto", "redirect_port": 0}})
    ca = hub.settings.data_dir / "tls" / "ca.crt"
    context = ssl.create_default_context(cafile=str(ca))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async with http.get(f"https://127.0.0.1:{hub.http_port}/api/v1/info") as resp:
            assert resp.status == 200
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        async with http.get(f"https://127.0.0.1:{hub.http_port}/") as resp:
            assert resp.status == 200 and "Strict-Transport-Security" in resp.headers
        url = f"http://127.0.0.1:{hub.redirect_port}/field/?source=x"
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 308
            assert resp.headers["Location"] == \
                f"https://127.0.0.1:{hub.http_port}/field/?source=x"
    async with aiohttp.ClientSession() as plain:  # the default trust store refuses it
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await plain.get(f"https://127.0.0.1:{hub.http_port}/api/v1/info")
