"""Sign-in in jwt mode and what a token's groups allow, in headless Chromium against a real
hub in jwt mode; and the tree staying virtualised with thousands of sources."""

from __future__ import annotations

import time

import pytest

from mediaserver.http.principal import TokenError, decode_token
from tests.web.conftest import CAMERAS, SECRET, SESSION_TTL, wait_until
from tests.web.harness import api
from tests.web.pages import playing

pytestmark = pytest.mark.timeout(120)


def sign_in(page, token: str) -> None:
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")


def test_jwt_mode_asks_for_a_token_and_shows_only_the_tokens_groups(web_env, new_page):
    web_env.start_jwt_hub()
    page = new_page()
    page.goto(web_env.jwt_url + "/")
    page.wait_for_selector("#login:not([hidden])")
    assert not page.is_visible("#demo-banner")
    assert page.locator(".row.item").count() == 0  # nothing loads before signing in

    # a forged token is refused with the server's reason
    sign_in(page, web_env.token("viewer", ("city/chaoyang",))[:-4] + "AAAA")
    wait_until(lambda: page.text_content("#login-error"), 5, message="login error")
    assert "signature" in page.text_content("#login-error")

    # a viewer of city/chaoyang sees that group only
    viewer = web_env.token("viewer", ("city/chaoyang",), subject="desk-7")
    sign_in(page, viewer)
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_hidden("#login")
    ids = sorted(r.get_attribute("data-source-id") for r in page.locator(".row.item").all())
    assert ids == ["cam001", "cam002"]
    assert page.locator('.row.group[data-group="city/haidian"]').count() == 0
    assert "desk-7" in page.text_content("#user")
    assert page.is_hidden("#nav-review")  # viewers do not review
    # it plays what it may see; a deep link to another group's source is refused
    page.goto(web_env.jwt_url + "/?layout=4&sources=cam001,cam003")
    page.wait_for_selector("body[data-ready='1']")
    playing(page, 1, only={"cam001"})
    tile = '.tile[data-source-id="cam003"]'
    wait_until(lambda: page.get_attribute(tile, "data-phase") == "error", 10,
               message="out-of-scope tile refused")
    assert page.locator(f'{tile} video').evaluate("v => v.videoWidth") == 0
    assert api(page, "GET", "/api/v1/sources/cam003", token=viewer)["status"] == 404
    # the wall of this user is stored under its subject
    assert page.evaluate("() => !!localStorage.getItem('fh.wall.desk-7')")

    # signing out forgets the token
    page.click("#user button")
    page.wait_for_selector("#login:not([hidden])")
    assert page.evaluate("() => localStorage.getItem('fh.token')") is None


def test_password_sign_in_refreshes_past_the_token_lifetime(web_env, new_page):
    web_env.start_jwt_hub()
    page = new_page()
    page.goto(web_env.jwt_url + "/?layout=1&sources=cam001")
    page.wait_for_selector("#login:not([hidden])")
    created = api(page, "POST", "/api/v1/users", {
        "username": "li.na", "password": "值班-password-1", "role": "operator",
        "groups": ["city/chaoyang"], "display_name": "李娜"}, token=web_env.token())
    assert created["status"] == 201, created

    page.fill("#username", "li.na")
    page.fill("#password", "wrong password")
    page.click("#login-form button[type=submit]")
    wait_until(lambda: page.text_content("#login-error"), 10, message="login error")
    assert page.text_content("#login-error") == "用户名或密码错误"

    page.fill("#password", "值班-password-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    first = page.evaluate("() => localStorage.getItem('fh.token')")
    claims = decode_token(SECRET, first)
    assert (claims.subject, claims.role) == ("li.na", "operator")
    assert "li.na" in page.text_content("#user")
    playing(page, 1, only={"cam001"})
    page.evaluate("() => { window.__sameDocument = true; }")

    # refreshed before it expires; the wall keeps playing without a reload
    first_exp = time.time() + SESSION_TTL
    wait_until(lambda: page.evaluate("() => localStorage.getItem('fh.token')") != first,
               SESSION_TTL, message="token refresh")
    wait_until(lambda: time.time() > first_exp + 1, SESSION_TTL, message="first token's end")
    with pytest.raises(TokenError):
        decode_token(SECRET, first, leeway=0)
    current = page.evaluate("() => localStorage.getItem('fh.token')")
    assert api(page, "GET", "/api/v1/groups", token=current)["status"] == 200
    assert page.evaluate("() => window.__sameDocument") is True
    assert page.is_hidden("#login") and page.is_hidden("#session-banner")
    playing(page, 1, only={"cam001"})


def test_a_session_that_cannot_be_renewed_warns_before_it_ends(web_env, new_page):
    web_env.start_jwt_hub()
    page = new_page()
    from mediaserver.http.principal import encode_token

    token = encode_token(SECRET, "viewer", ("*",), ttl=20, subject="integration")
    page.goto(web_env.jwt_url + "/")
    page.wait_for_selector("#login:not([hidden])")
    sign_in(page, token)
    page.wait_for_selector("body[data-ready='1']")
    # a pasted token is no user session: the refresh shortly before its end is refused, and
    # the banner counts down instead of the wall vanishing without warning
    page.wait_for_selector("#session-banner:not([hidden])", timeout=30_000)
    assert "会话将在 0 分" in page.text_content("#session-banner")
    assert "此令牌不能续期" in page.text_content("#session-banner")
    assert page.is_hidden("#login")


def test_tree_stays_virtualised_with_thousands_of_sources(web_env, new_page):
    web_env.start_jwt_hub()
    page = new_page(1600, 900)
    admin = web_env.token("admin")
    page.goto(web_env.jwt_url + "/")
    page.wait_for_selector("#login:not([hidden])")
    count = 3000
    rows = [{"id": f"bulk-{i:05d}", "name": f"批量 {i}", "group": f"zz/district-{i // 500}"}
            for i in range(count)]
    imported = api(page, "POST", "/api/v1/sources/import?mode=upsert", rows, token=admin)
    assert imported["status"] == 200 and imported["json"]["imported"] == count, imported
    sign_in(page, admin)
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("() => window.fusionhub.store.sources.size") == count + len(CAMERAS)
    # only the rows in view exist in the DOM
    in_dom = page.locator(".row.item").count()
    assert 0 < in_dom < 120, in_dom
    assert page.text_content('.row.group[data-group="zz"] .count') == f"0 / {count}"
    # scrolling to the end shows the last source
    page.evaluate("() => { const t = document.querySelector('#tree'); "
                  "t.scrollTop = t.scrollHeight; }")
    page.wait_for_selector('.row.item[data-source-id="bulk-02999"]')
    # search narrows to the matches at once
    started = time.monotonic()
    page.fill("#search", "bulk-0299")
    wait_until(lambda: page.locator(".row.item:visible").count() == 10, 3, message="search")
    print(f"search over {count} sources shown after {time.monotonic() - started:.2f} s; "
          f"tree render {page.evaluate('() => window.fusionhub.tree.lastRenderMs'):.1f} ms")
