"""HTTPS at the HTTP boundary: the ``Strict-Transport-Security`` header and the optional
plain-HTTP listener that redirects every request to the HTTPS port."""

from __future__ import annotations

from aiohttp import web


def hsts_header(max_age: int):
    """An ``on_response_prepare`` hook adding ``Strict-Transport-Security`` to every answer
    sent over TLS (pages, API, static files and errors alike)."""
    value = f"max-age={max_age}"

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if request.secure and "Strict-Transport-Security" not in response.headers:
            response.headers["Strict-Transport-Security"] = value

    return on_prepare


def redirect_app(https_port: int, public_url: str | None = None) -> web.Application:
    """An application answering every request with ``308`` to the same path over HTTPS."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        if public_url:
            base = public_url.rstrip("/")
        else:
            host = request.url.host or "localhost"
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            base = f"https://{host}" + ("" if https_port == 443 else f":{https_port}")
        raise web.HTTPPermanentRedirect(base + request.path_qs)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app
