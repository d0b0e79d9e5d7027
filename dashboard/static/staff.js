// Staff accounts (admin): the list, a new account, disable/enable, another role, a new password.
// A role change and a disabling ask "are you sure?" in the row first: one stray tap on a phone
// must not lock a colleague out.
import { t, errorText as sayError, api, setCsrf, loadStrings as fetchStrings, loadSite, day as localDay } from "./common.js";

(function () {
  const $ = (id) => document.getElementById(id);
  const ROLES = ["steward", "backoffice", "admin"];
  const MIN_PASSWORD = 10; // controller.staff.MIN_PASSWORD; the server says it again if it changes
  let lang = "fr";
  let me = { login: "", csrf: "" };
  let confirming = null; // { login, what: "role" | "disable", role }
  let accounts = null;
  let lastError = null; // said again in the new language when the language changes
  let lastNotice = null; // [id, fields]

  const day = (ts) => localDay(ts, lang, { weekday: undefined, year: "numeric" });
  const errorText = (e) => sayError(e.data || { message: e.message });
  function showError(e) { lastError = e || null; $("error").textContent = e ? errorText(e) : ""; if (e) showNotice(null); }
  function showNotice(notice) { lastNotice = notice; $("notice").textContent = notice ? t(notice[0], notice[1]) : ""; }
  function done(id, fields) { showError(null); showNotice([id, fields]); }

  function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props || {});
    node.append(...children);
    return node;
  }
  function roleSelect(value) {
    const select = el("select", { className: "roles" });
    for (const role of ROLES) select.append(el("option", { value: role, textContent: t("staff.role." + role), selected: role === value }));
    return select;
  }

  async function act(path, body, notice) {
    try { await api("POST", path, body); done(...notice); } catch (e) { if (e.message !== "login") showError(e); }
    await refresh();
  }

  function row(a) {
    const self = a.login === me.login;
    const path = "/api/staff/" + encodeURIComponent(a.login);
    const role = roleSelect(a.role);
    role.setAttribute("aria-label", t("staff.role") + " " + a.login);
    role.disabled = self; // an admin does not demote themself (the server refuses it too)
    role.onchange = () => { confirming = { login: a.login, what: "role", role: role.value }; render(); };
    const toggle = el("button", { type: "button", className: "ghost " + (a.disabled ? "btn-enable" : "btn-disable"), textContent: t(a.disabled ? "staff.enable" : "staff.disable") });
    toggle.hidden = self;
    toggle.onclick = () => {
      if (a.disabled) act(path + "/enable", undefined, ["staff.enabled_done", { login: a.login }]);
      else { confirming = { login: a.login, what: "disable" }; render(); }
    };
    const pw = el("input", { type: "password", className: "new-password", autocomplete: "new-password", placeholder: t("staff.password_hint", { min: MIN_PASSWORD }) });
    pw.setAttribute("aria-label", t("staff.reset") + " " + a.login);
    const reset = el("button", { type: "button", className: "ghost btn-reset", textContent: t("staff.reset") });
    reset.onclick = () => act(path + "/password", { password: pw.value }, ["staff.password_done", { login: a.login }]);
    if (confirming && confirming.login === a.login && confirming.what === "role") role.value = confirming.role;
    const cell = (label, props, ...children) => { const td = el("td", props, ...children); td.dataset.label = t(label); return td; };
    const tr = el("tr", { className: a.disabled ? "disabled" : "" },
      cell("staff.login", { className: "login" }, a.login + (self ? " " + t("staff.you") : "")),
      cell("staff.role", {}, role),
      cell("staff.lang", {}, a.lang.toUpperCase()),
      cell("staff.created", {}, a.created ? day(a.created) : ""),
      cell("staff.status", { className: "status", textContent: t(a.disabled ? "staff.disabled" : "staff.active") }),
      el("td", {}, toggle),
      el("td", {}, el("span", { className: "reset" }, pw, reset)));
    tr.dataset.login = a.login;
    if (!confirming || confirming.login !== a.login) return [tr];
    // the question, in a row of its own under the account: yes does it, no puts things back
    const c = confirming;
    const question = c.what === "role"
      ? t("staff.confirm_role", { login: a.login, role: t("staff.role." + c.role) })
      : t("staff.confirm_disable", { login: a.login });
    const yes = el("button", { type: "button", className: "danger btn-yes", textContent: t(c.what === "role" ? "staff.confirm_role_yes" : "staff.confirm_disable_yes") });
    yes.onclick = () => {
      confirming = null;
      if (c.what === "role") act(path + "/role", { role: c.role }, ["staff.role_done", { login: a.login, role: t("staff.role." + c.role) }]);
      else act(path + "/disable", undefined, ["staff.disabled_done", { login: a.login }]);
    };
    const no = el("button", { type: "button", className: "ghost btn-no", textContent: t("staff.confirm_no") });
    no.onclick = () => { confirming = null; render(); };
    const ask = el("tr", { className: "confirm" }, el("td", { colSpan: 7 }, el("span", { className: "question", textContent: question }), yes, no));
    ask.dataset.confirm = a.login;
    return [tr, ask];
  }

  function render() {
    if (!accounts) return;
    const rows = accounts.flatMap(row);
    $("accounts").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: 7, className: "muted", textContent: t("staff.none") }))]));
  }

  function renderStatic() {
    document.documentElement.lang = lang;
    document.title = t("staff.title");
    $("lang").value = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    const chosen = $("new-role").value || "steward";
    $("new-role").replaceWith(Object.assign(roleSelect(chosen), { id: "new-role", name: "role" }));
    $("password-hint").textContent = t("staff.password_hint", { min: MIN_PASSWORD });
    $("who").textContent = me.login;
    showError(lastError);
    showNotice(lastNotice);
    render();
  }

  async function loadStrings() {
    await fetchStrings("/i18n/" + lang + ".json");
    renderStatic();
  }

  async function refresh() {
    try { accounts = (await api("GET", "/api/staff")).staff; render(); } catch (e) { if (e.message !== "login") showError(e); }
  }

  $("lang").onchange = async () => {
    lang = $("lang").value;
    try { await api("POST", "/api/me/lang", { lang }); } catch (e) { /* shown in this language all the same */ }
    loadStrings();
  };
  $("add-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { login: String(f.get("login") || "").trim().toLowerCase(), password: String(f.get("password") || ""), role: f.get("role"), lang: f.get("lang") };
    try {
      await api("POST", "/api/staff", body);
      ev.target.reset();
      done("staff.added", { login: body.login });
    } catch (e) { if (e.message !== "login") showError(e); }
    await refresh();
  };

  (async function start() {
    try {
      me = await api("GET", "/api/me");
      setCsrf(me.csrf);
      if (me.lang) lang = me.lang;
      $("new-lang").value = lang;
    } catch (e) { if (e.message === "login") return; /* the list's own request says what is wrong */ }
    await loadSite();
    await loadStrings();
    await refresh();
  })();
})();
