"""The admin page in headless Chromium against the jwt-mode hub: an admin adds a source with a
Chinese name in a Chinese group (testing its URL first) and it plays on the wall; a GBK CSV
with Chinese headers is previewed with its errors in Chinese, then imported; users and device
tokens are managed; a viewer is refused."""

from __future__ import annotations

import pytest

from tests.web.conftest import FARM_PORT, wait_until
from tests.web.harness import api
from tests.web.pages import playing

pytestmark = pytest.mark.timeout(120)

GBK_CSV = ("编号,名称,分组,地址\r\n"
           "hd-a1,海淀 一号,北京/海淀区,rtsp://127.0.0.1:9/a1\r\n"
           "hd-a2,海淀 二号,北京/海淀区,rtsp://127.0.0.1:9/a2\r\n"
           "坏 编号,错误,北京/海淀区,rtsp://127.0.0.1:9/x\r\n").encode("gbk")


def _open_admin(web_env, page, token: str) -> None:
    page.goto(web_env.jwt_url + "/admin")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")


def test_admin_adds_a_chinese_source_that_plays_and_imports_a_gbk_csv(web_env, new_page):
    web_env.start_jwt_hub()
    page = new_page(1600, 1000)
    admin = web_env.token("admin")
    _open_admin(web_env, page, admin)

    form = "#source-form"
    page.fill(f"{form} [name=id]", "cy-gate-2")
    page.fill(f"{form} [name=name]", "朝阳区 东门二号")
    page.fill(f"{form} [name=group]", "北京/朝阳区")
    page.fill(f"{form} [name=url]", f"rtsp://127.0.0.1:{FARM_PORT}/cam001")
    page.click("#probe-url")
    wait_until(lambda: page.get_attribute("#probe-result", "data-state") == "online", 15,
               message="the URL test")
    assert "h264" in page.text_content("#probe-result")
    # a bad group first: the message is in Chinese, from the error's code
    page.fill(f"{form} [name=group]", "北京//朝阳区")
    page.click(f"{form} button[type=submit]")
    wait_until(lambda: page.text_content("#source-error"), 5, message="validation error")
    assert page.text_content("#source-error") == "分组：格式不正确"
    page.fill(f"{form} [name=group]", "北京/朝阳区")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector('#source-rows tr[data-source-id="cy-gate-2"]')
    stored = api(page, "GET", "/api/v1/sources/cy-gate-2", token=admin)["json"]
    assert (stored["name"], stored["group"]) == ("朝阳区 东门二号", "北京/朝阳区")

    # it plays on the wall, under its Chinese group in the tree
    page.goto(web_env.jwt_url + "/?layout=1&sources=cy-gate-2")
    page.wait_for_selector("body[data-ready='1']")
    playing(page, 1, only={"cy-gate-2"})
    assert page.is_visible('.row.group[data-group="北京/朝阳区"]')
    assert page.text_content('.row.item[data-source-id="cy-gate-2"] .name') == "朝阳区 东门二号"

    # bulk import: preview shows every error in Chinese before anything is written
    page.goto(web_env.jwt_url + "/admin")
    page.wait_for_selector("body[data-ready='1']")
    page.click('.tabs button[data-tab="import"]')
    page.set_input_files("#import-form [name=file]", files=[
        {"name": "cameras.csv", "mimeType": "text/csv", "buffer": GBK_CSV}])
    page.click("#import-form button[type=submit]")
    wait_until(lambda: page.get_attribute("#import-summary", "data-valid") == "2", 10,
               message="the preview")
    assert "1 行有错误" in page.text_content("#import-summary")
    assert "编号：格式不正确" in page.text_content("#import-rows")
    assert api(page, "GET", "/api/v1/sources/hd-a1", token=admin)["status"] == 404
    page.click("#import-apply")
    wait_until(lambda: "已导入 2 行" in page.text_content("#import-summary"), 10,
               message="the import")
    assert api(page, "GET", "/api/v1/sources/hd-a1", token=admin)["json"]["name"] == "海淀 一号"
    # the jwt hub is shared by the other modules' tests: leave its sources as they were
    for sid in ("cy-gate-2", "hd-a1", "hd-a2"):
        assert api(page, "DELETE", f"/api/v1/sources/{sid}", token=admin)["status"] == 204


def test_admin_manages_users_and_device_tokens_and_a_viewer_is_refused(web_env, new_page):
    web_env.start_jwt_hub()
    page = new_page(1600, 1000)
    _open_admin(web_env, page, web_env.token("admin"))
    page.click('.tabs button[data-tab="users"]')
    f = "#user-form"
    page.fill(f"{f} [name=username]", "wang.fang")
    page.fill(f"{f} [name=display_name]", "王芳")
    page.select_option(f"{f} [name=role]", "viewer")
    page.fill(f"{f} [name=password]", "a long password 1")
    page.click(f"{f} button[type=submit]")  # a viewer without a group scope
    wait_until(lambda: page.text_content("#user-error"), 5, message="groups error")
    assert page.text_content("#user-error") == \
        "值守员、指挥员和分析员至少需要一个分组（* 表示全部）"
    page.fill(f"{f} [name=groups]", "北京/朝阳区")
    page.fill(f"{f} [name=password]", "short")
    page.click(f"{f} button[type=submit]")
    wait_until(lambda: page.text_content("#user-error") == "密码至少 8 个字符", 5,
               message="password error")
    page.fill(f"{f} [name=password]", "a long password 1")
    page.click(f"{f} button[type=submit]")
    page.wait_for_selector('#user-rows tr[data-username="wang.fang"]')
    page.click('#user-rows tr[data-username="wang.fang"] button.toggle')
    wait_until(lambda: "已停用" in page.text_content('#user-rows tr[data-username="wang.fang"]'), 5,
               message="disabled")

    page.click('.tabs button[data-tab="devices"]')
    page.fill("#device-form [name=source]", "cam001")
    page.click("#device-form button[type=submit]")
    page.wait_for_selector("#device-token:not([hidden])")
    token = page.input_value("#device-token-text")
    assert token.count(".") == 2
    from mediaserver.http.principal import decode_token
    from tests.web.conftest import SECRET

    claims = decode_token(SECRET, token)
    assert (claims.role, claims.source) == ("device", "cam001")
    row = f'#token-rows tr[data-token-id="{claims.token_id}"]'
    page.wait_for_selector(row)
    page.once("dialog", lambda d: d.accept())
    page.click(f"{row} button.revoke")
    page.wait_for_selector(row, state="detached")
    assert api(page, "GET", "/api/v1/alerts?source=cam001", token=token)["status"] == 401

    viewer = new_page()
    _open_admin(web_env, viewer, web_env.token("viewer", ("*",)))
    assert viewer.is_visible("#admin-denied")
