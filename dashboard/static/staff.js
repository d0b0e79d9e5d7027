// Staff accounts (admin): the list, a new account, disable/enable, another role, a new password.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const ROLES = ["steward", "backoffice", "admin"];
  const MIN_PASSWORD = 10; // controller.staff.MIN_PASSWORD; the server says it again if it changes
  let lang = "fr";
  let strings = {};
  let me = { login: "", csrf: "" };
  let accounts = null;
  let lastError = null; // said again in the new language when the language changes
  let lastNotice = null; // [id, fields]

  function t(id, fields) {
    let text = strings[id] || id;
    for (const [k, v] of Object.entries(fields || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }
  function day(ts) {
    return new Date(ts * 1000).toLocaleDateString(lang + "-BE", { day: "numeric", month: "short", year: "numeric", timeZone: "Europe/Brussels" });
  }
  // As on the desk: the catalog's err.<error>.<reason> (or err.<error>) filled with the answer's params;
  // the server's English message, in the generic text, only for an error the catalog does not know.
  function errorText(e) {
    const data = e.data || {};
    for (const id of [data.reason && `err.${data.error}.${data.reason}`, data.error && `err.${data.error}`]) {
      if (id && strings[id]) return t(id, data.params || {});
    }
    return t("desk.error", { message: data.message || data.error || e.message || "?" });
  }
  function showError(e) { lastError = e || null; $("error").textContent = e ? errorText(e) : ""; if (e) showNotice(null); }
  function showNotice(notice) { lastNotice = notice; $("notice").textContent = notice ? t(notice[0], notice[1]) : ""; }
  function done(id, fields) { showError(null); showNotice([id, fields]); }

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (me.csrf) headers["X-CSRF-Token"] = me.csrf;
    const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) { location.href = "/login?next=/admin/staff"; throw new Error("login"); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.message || r.statusText), { data });
    return data;
  }

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
    role.onchange = () => act(path + "/role", { role: role.value }, ["staff.role_done", { login: a.login, role: t("staff.role." + role.value) }]);
    const toggle = el("button", { type: "button", className: "ghost " + (a.disabled ? "btn-enable" : "btn-disable"), textContent: t(a.disabled ? "staff.enable" : "staff.disable") });
    toggle.hidden = self;
    toggle.onclick = () => a.disabled
      ? act(path + "/enable", undefined, ["staff.enabled_done", { login: a.login }])
      : act(path + "/disable", undefined, ["staff.disabled_done", { login: a.login }]);
    const pw = el("input", { type: "password", className: "new-password", autocomplete: "new-password", placeholder: t("staff.password_hint", { min: MIN_PASSWORD }) });
    pw.setAttribute("aria-label", t("staff.reset") + " " + a.login);
    const reset = el("button", { type: "button", className: "ghost btn-reset", textContent: t("staff.reset") });
    reset.onclick = () => act(path + "/password", { password: pw.value }, ["staff.password_done", { login: a.login }]);
    const tr = el("tr", { className: a.disabled ? "disabled" : "" },
      el("td", { className: "login" }, a.login + (self ? " " + t("staff.you") : "")),
      el("td", {}, role),
      el("td", {}, a.lang.toUpperCase()),
      el("td", {}, a.created ? day(a.created) : ""),
      el("td", { className: "status", textContent: t(a.disabled ? "staff.disabled" : "staff.active") }),
      el("td", {}, toggle),
      el("td", {}, el("span", { className: "reset" }, pw, reset)));
    tr.dataset.login = a.login;
    return tr;
  }

  function render() {
    if (!accounts) return;
    const rows = accounts.map(row);
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
    const r = await fetch("/i18n/" + lang + ".json");
    strings = r.ok ? await r.json() : {};
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
      const r = await fetch("/api/me", { credentials: "same-origin" });
      if (r.status === 401) { location.href = "/login?next=/admin/staff"; return; }
      me = await r.json();
      if (me.lang) lang = me.lang;
      $("new-lang").value = lang;
    } catch (e) { /* the list's own request says what is wrong */ }
    await loadStrings();
    await refresh();
  })();
})();
