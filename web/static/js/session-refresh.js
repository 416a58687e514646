// Keeps a signed-in session alive: refreshes the token shortly before it expires (20 % of its
// lifetime, at most 5 min ahead; the wall, its tiles and the event socket stay as they are),
// and when that is refused (a pasted token, a disabled account) shows a banner counting down
// to the end instead of the wall vanishing without warning.
import { $, el } from "./util.js";
import { t, tCode } from "./i18n.js";

/** Seconds before `exp` at which to refresh a token that lived `lifetime` seconds. */
export function refreshLead(lifetime) {
  return Math.max(5, Math.min(300, lifetime * 0.2));
}

export function keepSessionAlive(api) {
  let timer = 0;
  let ticker = 0;
  const now = () => Date.now() / 1000;

  const schedule = () => {
    clearTimeout(timer);
    const { exp, iat } = api.claims;
    if (!exp) return;
    const lifetime = Math.max(1, exp - (iat || now()));
    const at = exp - refreshLead(lifetime);
    timer = setTimeout(refresh, Math.max(0, (at - now()) * 1000));
  };

  const refresh = async () => {
    try {
      const session = await api.post("/api/v1/auth/refresh");
      api.setToken(session.token);
      hideBanner();
      schedule();
    } catch (err) {
      if (err.status === 0) { timer = setTimeout(refresh, 5000); return; } // offline: retry
      warnUntilEnd(err);
    }
  };

  const warnUntilEnd = (err) => {
    const { exp } = api.claims;
    if (!exp) return;
    const reason = err && err.code ? tCode(err.code) : "";
    const show = () => {
      const left = Math.round(exp - now());
      showBanner(t("session_ending", { min: Math.floor(Math.max(0, left) / 60),
                                      sec: String(Math.max(0, left) % 60).padStart(2, "0") }),
                 reason);
      if (left > 0) ticker = setTimeout(show, 1000);
    };
    clearTimeout(ticker);
    show();
  };

  const showBanner = (text, reason) => {
    const bar = $("#session-banner");
    if (!bar) return;
    bar.textContent = reason ? `${text} (${reason})` : text;
    bar.append(el("button", { type: "button", class: "link", text: t("sign_in_again"),
                              onclick: () => { api.setToken(""); location.reload(); } }));
    bar.hidden = false;
  };
  const hideBanner = () => { clearTimeout(ticker); const bar = $("#session-banner"); if (bar) bar.hidden = true; };

  if (api.authMode !== "none") schedule();
}
