// The welcome desk: issue queue tickets, see who is next and who is called, list and create bookings.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("espace.lang") || "fr";
  let strings = {};
  let csrf = "";
  let lastQueue = null;
  let lastBookings = null;

  function t(id, fields) {
    let text = strings[id] || id;
    for (const [k, v] of Object.entries(fields || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }
  function hhmm(ts) {
    return new Date(ts * 1000).toLocaleTimeString(lang + "-BE", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Brussels" });
  }
  function day(ts) {
    return new Date(ts * 1000).toLocaleDateString(lang + "-BE", { weekday: "short", day: "numeric", month: "short", timeZone: "Europe/Brussels" });
  }
  // An error in the page's language: the catalog's err.<error>.<reason> (or err.<error>) filled with the
  // answer's params (instants, start and end, as local day and time); the server's English message,
  // in the generic text, only for an error the catalog does not know.
  const INSTANTS = new Set(["start", "end"]);
  function errorText(e) {
    const data = e.data || {};
    const params = {};
    for (const [k, v] of Object.entries(data.params || {})) params[k] = INSTANTS.has(k) && typeof v === "number" ? day(v) + " " + hhmm(v) : v;
    for (const id of [data.reason && `err.${data.error}.${data.reason}`, data.error && `err.${data.error}`]) {
      if (id && strings[id]) return t(id, params);
    }
    return t("desk.error", { message: data.message || data.error || e.message || "?" });
  }
  let lastError = null; // said again in the new language when the language changes
  function showError(e) { lastError = e || null; $("error").textContent = e ? errorText(e) : ""; }

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) { location.href = "/login?next=/desk"; throw new Error("login"); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.message || r.statusText), { data });
    return data;
  }

  function item(main, sub, action) {
    const li = document.createElement("li");
    const left = document.createElement("span");
    left.append(main);
    if (sub) { const s = document.createElement("span"); s.className = "muted"; s.textContent = " " + sub; left.append(s); }
    li.append(left);
    if (action) li.append(action);
    return li;
  }
  function codeSpan(code) { const s = document.createElement("span"); s.className = "code"; s.textContent = code; return s; }
  function button(text, onclick) { const b = document.createElement("button"); b.type = "button"; b.className = "secondary"; b.textContent = text; b.onclick = onclick; return b; }

  async function cancelTicket(code) {
    try { await api("POST", "/api/queue/tickets/" + encodeURIComponent(code) + "/cancel"); showError(""); await refresh(); }
    catch (e) { showError(e); }
  }

  function renderQueue() {
    const q = lastQueue;
    if (!q) return;
    const called = q.called.map((c) => item(codeSpan(c.code), t("desk.held_until", { station: c.station, time: hhmm(c.hold_until) }), button(t("desk.cancel"), () => cancelTicket(c.code))));
    $("called").replaceChildren(...(called.length ? called : [item(t("desk.none"))]));
    const waiting = q.waiting.map((w) => item(codeSpan(w.code), (w.accessible ? t("desk.accessible") + " · " : "") + hhmm(w.issued), button(t("desk.cancel"), () => cancelTicket(w.code))));
    $("waiting").replaceChildren(...(waiting.length ? waiting : [item(t("desk.none"))]));
  }

  function renderBookings() {
    const b = lastBookings;
    if (!b) return;
    const rows = b.occurrences.map((o) => {
      const what = o.stations.length ? o.stations.join(", ") : o.count + " " + t(o.kind === "tablet" ? "desk.booking.kind_tablet" : "desk.booking.kind_pc");
      const del = button(t("desk.booking.delete"), async () => {
        try { await api("DELETE", "/api/bookings/" + encodeURIComponent(o.booking_id)); showError(""); await refresh(); }
        catch (e) { showError(e); }
      });
      return item(o.label || o.booking_id, day(o.start) + " " + hhmm(o.start) + "–" + hhmm(o.end) + " · " + what, del);
    });
    $("bookings").replaceChildren(...(rows.length ? rows : [item(t("desk.booking.none"))]));
  }

  function renderStatic() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    const texts = {
      title: "desk.title", back: "desk.back", issue: "desk.issue", "issue-accessible": "desk.issue_accessible", "h-called": "desk.called",
      "h-waiting": "desk.waiting", "h-bookings": "desk.bookings", "l-label": "desk.booking.label", "l-start": "desk.booking.start",
      "l-end": "desk.booking.end", "l-stations": "desk.booking.stations", "l-count": "desk.booking.count",
      "l-recurrence": "desk.booking.recurrence", create: "desk.booking.create", "o-pc": "desk.booking.kind_pc", "o-tablet": "desk.booking.kind_tablet",
    };
    for (const [id, msg] of Object.entries(texts)) $(id).textContent = t(msg);
    document.title = t("desk.title");
    showError(lastError);
    renderQueue();
    renderBookings();
  }

  async function loadStrings() {
    const r = await fetch("/now-serving/i18n/" + lang + ".json");
    strings = r.ok ? await r.json() : {};
    renderStatic();
  }

  async function refresh() {
    try {
      [lastQueue, lastBookings] = await Promise.all([api("GET", "/api/queue"), api("GET", "/api/bookings")]);
      renderQueue();
      renderBookings();
    } catch (e) { if (e.message !== "login") showError(e); }
  }

  async function issue(accessible) {
    try {
      const ticket = await api("POST", "/api/queue/tickets", { accessible });
      $("issued").textContent = ticket.station ? t("desk.issued_station", { code: ticket.code, station: ticket.station }) : t("desk.issued", { code: ticket.code });
      showError("");
      await refresh();
    } catch (e) { showError(e); }
  }

  $("issue").onclick = () => issue(false);
  $("issue-accessible").onclick = () => issue(true);
  $("lang").onchange = async () => {
    lang = $("lang").value;
    localStorage.setItem("espace.lang", lang);
    if (csrf) { try { await api("POST", "/api/me/lang", { lang }); } catch (e) { /* shown in this language all the same */ } }
    loadStrings();
  };
  $("booking-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { label: f.get("label"), start: f.get("start"), end: f.get("end") };
    const stations = String(f.get("stations") || "").split(/[\s,;]+/).filter(Boolean).map((s) => s.toUpperCase());
    const count = parseInt(f.get("count"), 10) || 0;
    if (stations.length) body.stations = stations; else { body.count = count; body.kind = f.get("kind"); }
    if (f.get("recurrence")) body.recurrence = f.get("recurrence");
    try { await api("POST", "/api/bookings", body); ev.target.reset(); showError(""); await refresh(); }
    catch (e) { showError(e); }
  };

  (async function start() {
    // the staff member's language, as on the floor (the login page's guess from the browser must not win)
    try { const me = await (await fetch("/api/me", { credentials: "same-origin" })).json(); csrf = me.csrf || ""; if (me.lang) lang = me.lang; } catch (e) { /* no staff login: no token needed */ }
    await loadStrings();
    await refresh();
    setInterval(refresh, 5000);
  })();
})();
