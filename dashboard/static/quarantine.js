// Events in quarantine (admin): a station's events with an implausible instant, not counted until accepted.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let lang = "fr";
  let strings = {};
  let me = { login: "", csrf: "" };
  let events = null;
  let lastError = null;
  let lastNotice = null; // [id, fields]

  function t(id, fields) {
    let text = strings[id] || id;
    for (const [k, v] of Object.entries(fields || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }
  function when(ts) {
    return new Date(ts * 1000).toLocaleString(lang + "-BE", { dateStyle: "medium", timeStyle: "short", timeZone: "Europe/Brussels" });
  }
  function errorText(e) {
    const data = e.data || {};
    const id = data.error && `err.${data.error}`;
    if (id && strings[id]) return t(id, data.params || {});
    return t("desk.error", { message: data.message || data.error || e.message || "?" });
  }
  function showError(e) { lastError = e || null; $("error").textContent = e ? errorText(e) : ""; if (e) showNotice(null); }
  function showNotice(notice) { lastNotice = notice; $("notice").textContent = notice ? t(notice[0], notice[1]) : ""; }

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (me.csrf) headers["X-CSRF-Token"] = me.csrf;
    const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) { location.href = "/login?next=/admin/quarantine"; throw new Error("login"); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.message || r.statusText), { data });
    return data;
  }

  function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props || {});
    node.append(...children);
    return node;
  }

  async function decide(ev, action) {
    try {
      const r = await api("POST", "/api/quarantine/" + encodeURIComponent(ev.id) + "/" + action);
      showError(null);
      showNotice(["quarantine." + action + "_done", { count: r.events.length, station: ev.station }]);
    } catch (e) { if (e.message !== "login") showError(e); }
    await refresh();
  }

  function row(ev) {
    const waiting = ev.status === "waiting";
    const accept = el("button", { type: "button", className: "primary btn-accept", textContent: t("quarantine.accept"), hidden: !waiting });
    accept.setAttribute("aria-label", t("quarantine.accept") + " " + ev.station + " " + ev.seq);
    accept.onclick = () => decide(ev, "accept");
    const discard = el("button", { type: "button", className: "ghost btn-discard", textContent: t("quarantine.discard"), hidden: !waiting });
    discard.setAttribute("aria-label", t("quarantine.discard") + " " + ev.station + " " + ev.seq);
    discard.onclick = () => decide(ev, "discard");
    const tr = el("tr", {},
      el("td", { className: "station" }, ev.station),
      el("td", {}, String(ev.seq)),
      el("td", {}, strings["quarantine.kind." + ev.type] ? t("quarantine.kind." + ev.type) : ev.type),
      el("td", {}, when(ev.at)),
      el("td", { className: "reason" }, ev.reason),
      el("td", { className: "status" }, t("quarantine.status." + ev.status)),
      el("td", {}, accept),
      el("td", {}, discard));
    tr.dataset.id = ev.id;
    return tr;
  }

  function render() {
    if (!events) return;
    const rows = events.map(row);
    $("events").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: 8, className: "muted", textContent: t("quarantine.none") }))]));
  }

  function renderStatic() {
    document.documentElement.lang = lang;
    document.title = t("quarantine.title");
    $("lang").value = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
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
    try { events = (await api("GET", "/api/quarantine?status=" + encodeURIComponent($("status").value))).events; render(); } catch (e) { if (e.message !== "login") showError(e); }
  }

  $("status").onchange = refresh;
  $("lang").onchange = async () => {
    lang = $("lang").value;
    try { await api("POST", "/api/me/lang", { lang }); } catch (e) { /* shown in this language all the same */ }
    loadStrings();
  };

  (async function start() {
    try {
      const r = await fetch("/api/me", { credentials: "same-origin" });
      if (r.status === 401) { location.href = "/login?next=/admin/quarantine"; return; }
      me = await r.json();
      if (me.lang) lang = me.lang;
    } catch (e) { /* the list's own request says what is wrong */ }
    await loadStrings();
    await refresh();
  })();
})();
