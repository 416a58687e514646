"""Device tokens from the admin API on a whole hub: issued for one source, listed without the
token, revoked — then refused over HTTP and for RTSP/RTMP-style bare tokens, while other
tokens keep working."""

from __future__ import annotations

import aiohttp

from mediaserver.http.principal import decode_token
from tests.e2e.conftest import SECRET

SOURCES = [{"id": "bodycam-7", "group": "fire/brigade1", "kind": "bodycam", "publish": True}]


async def test_issue_list_revoke_a_device_token(make_hub):
    hub = await make_hub(sources=SOURCES)
    base = f"http://127.0.0.1:{hub.http_port}"
    admin = {"Authorization": f"Bearer {hub.access.issue('admin', ('*',), ttl=60)}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/tokens", headers=admin,
                             json={"source": "bodycam-7", "ttl": 3600}) as r:
            assert r.status == 201
            issued = await r.json()
        claims = decode_token(SECRET, issued["token"])
        assert (claims.role, claims.source, claims.token_id) == \
            ("device", "bodycam-7", issued["token_id"])
        async with http.get(f"{base}/api/v1/tokens", headers=admin) as r:
            [listed] = (await r.json())["items"]
        assert listed["jti"] == issued["token_id"] and listed["source"] == "bodycam-7"
        assert issued["token"] not in str(listed)

        device = {"Authorization": f"Bearer {issued['token']}"}
        own = f"{base}/api/v1/alerts?source=bodycam-7"  # a device may list its own alerts
        async with http.get(own, headers=device) as r:
            assert r.status == 200
        assert await hub.access.authorize_token(issued["token"], "bodycam-7", "publish")

        async with http.delete(f"{base}/api/v1/tokens/{issued['token_id']}",
                               headers=admin) as r:
            assert r.status == 204
        async with http.get(own, headers=device) as r:
            assert r.status == 401
            assert (await r.json())["error"]["message"] == "token revoked"
        assert not await hub.access.authorize_token(issued["token"], "bodycam-7", "publish")
        async with http.get(f"{base}/api/v1/tokens", headers=admin) as r:
            assert (await r.json())["items"] == []
        # another device token of the same source still works
        other = hub.access.issue("device", (), ttl=60, subject="bodycam-7", source="bodycam-7")
        async with http.get(own, headers={"Authorization": f"Bearer {other}"}) as r:
            assert r.status == 200
        async with http.delete(f"{base}/api/v1/tokens/not%20a%20jti", headers=admin) as r:
            assert r.status == 404
