// Sign-in (jwt mode: user name and password, or a pasted token), the demo banner (none mode), the language toggle and the user chip;
// shared by the wall and the review page.
import { $, el } from "./util.js";
import { applyI18n, getLang, setLang, t, tCode } from "./i18n.js";
import { keepSessionAlive } from "./session-refresh.js";

/**
 * Resolve once the page may talk to the API: in `none` mode at once (with the demo banner),
 * in `jwt` mode when a stored token works or the user signed in with one.
 */
export async function signIn(api) {
  applyI18n(document);
  bindLanguageToggle();
  let info;
  for (let attempt = 0; ; attempt++) {
    try {
      info = await api.info();
      break;
    } catch (err) {
      showFatal(t("hub_unreachable"));
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 1000 * 2 ** attempt)));
    }
  }
  hideFatal();
  $("#version") && ($("#version").textContent = info.version ? "v" + info.version : "");
  if (api.authMode === "none") {
    $("#demo-banner").hidden = false;
  } else {
    let message = sessionStorage.getItem("fh.login_message") || "";
    sessionStorage.removeItem("fh.login_message");
    if (api.token) {
      try {
        await api.get("/api/v1/groups");
        showUser(api);
        keepSessionAlive(api);
        return info;
      } catch (err) {
        message = err.status === 401 ? t("token_rejected", { reason: err.message }) : err.message;
        if (err.status === 401) api.setToken("");
      }
    }
    await loginScreen(api, message);
    keepSessionAlive(api);
  }
  showUser(api);
  return info;
}

/** The sign-in screen, the same on every page (built once, in the page's language). */
function loginBox() {
  let box = $("#login");
  if (box) return box;
  const field = (id, key, attrs) => [el("label", { for: id, "data-i18n": key }), el("input", { id, name: id, ...attrs })];
  box = el("div", { id: "login", class: "login", hidden: true },
    el("form", { id: "login-form" },
      el("h2", {}, el("span", { class: "logo", text: "fusionhub" }), " ", el("span", { "data-i18n": "sign_in" })),
      ...field("username", "username", { autocomplete: "username", spellcheck: "false", autocapitalize: "off" }),
      ...field("password", "password", { type: "password", autocomplete: "current-password" }),
      el("p", { class: "or", "data-i18n": "or_token" }),
      el("label", { for: "token", "data-i18n": "token_label" }),
      el("textarea", { id: "token", rows: "3", spellcheck: "false", autocomplete: "off", "data-i18n-placeholder": "token_hint" }),
      el("p", { id: "login-error", class: "error", role: "alert" }),
      el("button", { type: "submit", class: "primary", "data-i18n": "enter" })));
  document.body.append(box);
  applyI18n(box);
  return box;
}

function loginScreen(api, message) {
  const box = loginBox();
  box.hidden = false;
  $("#login-error").textContent = message || "";
  $("#username").focus();
  return new Promise((resolve) => {
    $("#login-form").onsubmit = async (ev) => {
      ev.preventDefault();
      const username = $("#username").value.trim();
      const password = $("#password").value;
      const token = $("#token").value.trim();
      try {
        if (username && password) {
          const session = await api.post("/api/v1/auth/login", { username, password });
          api.setToken(session.token);
        } else if (token) {
          api.setToken(token);
          await api.get("/api/v1/groups");
        } else {
          return;
        }
      } catch (err) {
        api.setToken("");
        $("#login-error").textContent = loginError(err);
        return;
      }
      $("#password").value = "";
      $("#token").value = "";
      box.hidden = true;
      resolve();
    };
  });
}

/** The sign-in error in the user's language: from the error code where we know it. */
function loginError(err) {
  const fallback = err.status === 401 ? t("token_rejected", { reason: err.message }) : err.message;
  return err.code === "unauthorized" ? fallback : tCode(err.code, fallback);
}

/** After a 401 mid-session (token expired): back to the sign-in screen. */
export function sessionExpired(api, message) {
  api.setToken("");
  sessionStorage.setItem("fh.login_message", t("token_rejected", { reason: message || "" }));
  location.reload();
}

function showUser(api) {
  const admin = $("#nav-admin");
  if (admin) admin.hidden = !api.can("admin");
  const chip = $("#user");
  if (!chip) return;
  chip.textContent = "";
  if (api.authMode === "none") {
    chip.append(el("span", { class: "role", text: t("role_demo") }));
    return;
  }
  chip.append(el("span", { class: "who", text: api.subject }),
              el("span", { class: "role", text: t("role_" + api.role) }),
              el("button", { class: "link", type: "button", text: t("sign_out"),
                             onclick: () => { api.setToken(""); location.reload(); } }));
}

function bindLanguageToggle() {
  const button = $("#lang");
  if (!button) return;
  button.textContent = getLang() === "zh-CN" ? "EN" : "中文";
  button.onclick = () => { setLang(getLang() === "zh-CN" ? "en" : "zh-CN"); location.reload(); };
}

function showFatal(text) {
  let bar = $("#fatal");
  if (!bar) { bar = el("div", { id: "fatal", class: "fatal" }); document.body.prepend(bar); }
  bar.textContent = text;
  bar.hidden = false;
}
function hideFatal() { const bar = $("#fatal"); if (bar) bar.hidden = true; }
