/* The tablet kiosk: an Espace agent in a web page.
 *
 * It speaks the wire protocol of espace/protocol.py over /ws/agent (hello with the station's
 * token, welcome, start_request -> grant/refuse, events with a unique id and a per-station
 * seq kept in a durable outbox in localStorage until event_ack, heartbeats with the input
 * idle time, command acks), enforces the grant on its own clock like agent/timer.py
 * (warnings, end, idle prompt, end for idleness) and reconnects with exponential backoff and
 * jitter. At the end of each session it erases what the visitor left in the browser
 * (everything but the station's own keys) and reloads.
 *
 * The station token comes once in the URL fragment (/kiosk/TAB-03#token=...), is stored
 * under espace.token and removed from the address bar. With no token the tablet enrols like a
 * PC: a random key of its own, a "being set up" screen with the code an admin approves on the
 * floor, then its own token in the welcome. A virtual clock for tests and the
 * demo comes the same way (#clock=<start>@<anchor>x<speed>, as espace.clock writes it).
 * Every visible string comes from /i18n/<lang>.json.
 */
(function () {
  "use strict";

  const K = {
    token: "espace.token", outbox: "espace.outbox", seq: "espace.seq", rules: "espace.rules",
    session: "espace.session", locked: "espace.locked", clock: "espace.clock",
    enrol: "espace.enrol_key", code: "espace.enrol_code",
  };
  const KEEP = new Set(Object.values(K)); // the station's keys: never visitor data
  const LANGS = ["fr", "nl", "en"];
  const LOCALES = { fr: "fr-BE", nl: "nl-BE", en: "en-BE" };
  const PROTOCOL_VERSION = 1;
  const HEARTBEAT_MS = 10000, TICK_MS = 250, START_TIMEOUT_MS = 5000, OFFER_MS = 30000;
  const ENDING_SECONDS = 300;
  const UNAUTHORISED = 4401, PENDING = 4403, STORE_DOWN = 4503;
  const CAUSE_REASON = { length: "time", closing: "closing", booking: "booking" };
  // espace.protocol.Rules' defaults: the controller omits fields equal to them
  const DEFAULT_RULES = {
    session_minutes: 60, warn_minutes: [10, 5, 1], idle_prompt_s: 600, idle_grace_s: 120,
    extension_minutes: 30, last_call_minutes: 15, print_quota_pages: 0,
    timezone: "Europe/Brussels", open_slots: [], slots_until: 0, bookings: [], min_session_minutes: 5,
    holds: [],
  };
  const withDefaults = (r) => (r ? Object.assign({}, DEFAULT_RULES, r) : null);
  // The PC's words where a tablet needs its own ("this PC" -> "this tablet").
  const OVERRIDES = {
    "lock.charter_2": "kiosk.charter_2", "lock.unavailable": "kiosk.unavailable",
    "lock.ticket_intro": "kiosk.ticket_intro", "lock.offer.booking_end": "kiosk.offer.booking_end",
    "refuse.reserved": "kiosk.refuse.reserved", "refuse.locked": "kiosk.refuse.locked",
    "refuse.busy": "kiosk.refuse.busy", "refuse.no_time": "kiosk.refuse.no_time",
    "help.confirm_body": "kiosk.help.confirm_body", "end.confirm_body": "kiosk.end.confirm_body",
    "cleaning.body": "kiosk.cleaning.body", "out_of_order.body": "kiosk.out_of_order.body",
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ storage

  const store = {
    get(key) {
      try { const v = localStorage.getItem(key); return v === null ? null : JSON.parse(v); } catch (e) { return null; }
    },
    put(key, value) {
      if (value === null || value === undefined) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify(value));
    },
  };

  function newId() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------ the clock

  const clock = {
    virtual: null, offset: 0,
    set(spec) {
      const m = /^([0-9.eE+-]+)@([0-9.eE+-]+)x([0-9.eE+-]+)$/.exec(spec || "");
      this.virtual = m ? { start: +m[1], anchor: +m[2], speed: +m[3] } : null;
    },
    now() {
      const real = Date.now() / 1000;
      const v = this.virtual;
      return v ? v.start + (real - v.anchor) * v.speed : real + this.offset;
    },
    sync(serverTime) { // follow the controller's clock: tablets' clocks drift
      if (!this.virtual && Math.abs(serverTime - this.now()) > 2) this.offset = serverTime - Date.now() / 1000;
    },
  };

  // ------------------------------------------------------------------ strings

  const catalogs = {};
  let lang = "fr";

  function fmt(value) {
    if (value && typeof value === "object") {
      const tz = (rules || DEFAULT_RULES).timezone || "Europe/Brussels";
      if ("time" in value) {
        return new Intl.DateTimeFormat(LOCALES[lang], { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: tz }).format(new Date(value.time * 1000));
      }
      if ("day" in value) {
        return new Intl.DateTimeFormat(LOCALES[lang], { weekday: "long", day: "numeric", month: "long", timeZone: tz }).format(new Date(value.day * 1000));
      }
    }
    return String(value);
  }

  function t(key, args) {
    const own = catalogs[lang] || {}, en = catalogs.en || {};
    const over = OVERRIDES[key];
    let text = (over && (own[over] || en[over])) || own[key] || en[key] || key;
    if (args) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in args ? fmt(args[name]) : m));
    return text;
  }

  // A part: "msg.id", ["msg.id", {args}], or {raw: "text"}.
  function render(part) {
    if (part === null || part === undefined) return "";
    if (typeof part === "string") return t(part);
    if (Array.isArray(part)) return t(part[0], part[1]);
    return part.raw || "";
  }

  async function loadCatalogs() {
    await Promise.all(LANGS.map(async (l) => {
      const r = await fetch(`/i18n/${l}.json`, { cache: "no-cache" });
      if (r.ok) catalogs[l] = await r.json();
    }));
  }

  // ------------------------------------------------------------------ state

  let rules = withDefaults(store.get(K.rules));
  let session = store.get(K.session);
  let locked = store.get(K.locked);
  const view = {
    screen: "boot", lockMode: "unavailable", offer: null, lockStatus: null,
    notice: null, help: "none", dialogs: [], large: false, starting: false,
  };
  let ws = null, welcomed = false, attempt = 0, storeDown = 0, lastClose = null, heartbeatTimer = null;
  const inflight = new Set();
  const pendingStarts = new Map();
  let lastInput = performance.now();
  let ending = false;

  const idleSeconds = () => (performance.now() - lastInput) / 1000;

  function saveSession() { store.put(K.session, session); }

  // ------------------------------------------------------------------ the outbox

  const outbox = () => store.get(K.outbox) || [];
  function saveOutbox(box) { store.put(K.outbox, box.length ? box : null); }

  function emit(fields) {
    const seq = (store.get(K.seq) || 0) + 1;
    store.put(K.seq, seq);
    const ev = Object.assign({ id: newId(), seq: seq, at: clock.now() }, fields);
    const box = outbox();
    box.push(ev);
    saveOutbox(box); // durable before it is sent
    flush();
    return ev;
  }

  function flush() {
    if (!welcomed) return;
    for (const ev of outbox()) {
      if (inflight.has(ev.id)) continue;
      inflight.add(ev.id);
      send(ev);
    }
  }

  function acked(id) {
    saveOutbox(outbox().filter((ev) => ev.id !== id));
    inflight.delete(id);
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  // ------------------------------------------------------------------ the connection

  function wsUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/agent";
  }

  function enrolKey() {
    let key = store.get(K.enrol);
    if (!key) {
      const bytes = crypto.getRandomValues(new Uint8Array(24));
      key = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      store.put(K.enrol, key);
    }
    return key;
  }

  function connect() {
    const token = store.get(K.token);
    const sock = new WebSocket(wsUrl());
    ws = sock;
    sock.onopen = () => {
      const hello = {
        type: "hello", station: station, protocol: PROTOCOL_VERSION,
        agent_version: "kiosk-1", capabilities: ["session", "help"], platform: "kiosk",
      };
      if (token) hello.token = token;
      else hello.enrol_key = enrolKey(); // no token: ask to join; an admin approves the code shown
      if (session) hello.session = { session_id: session.session_id, start: session.start, end: session.end, cause: session.cause };
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      handle(m);
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      welcomed = false;
      document.body.dataset.connected = "0";
      inflight.clear();
      clearInterval(heartbeatTimer);
      for (const resolve of pendingStarts.values()) resolve(null);
      pendingStarts.clear();
      lastClose = e.code;
      if (e.code === UNAUTHORISED && token && store.get(K.token) === token) {
        store.put(K.token, null); // refused or revoked: enrol again, like a PC
        store.put(K.code, null);
      }
      if (e.code === UNAUTHORISED && !session) notSetUp();
      renderSession();
      const exp = Math.min(attempt + (e.code === UNAUTHORISED || e.code === PENDING ? 4 : 0), 16);
      // the controller's store cannot commit: 1 s at least, then up to 30 s, growing over the welcomes
      // in between (as agent/core.py retry_delay), so 16 tablets do not knock again at once
      storeDown = e.code === STORE_DOWN ? storeDown + 1 : 0;
      const storeWait = 1 + Math.random() * (Math.min(30, 0.5 * 2 ** Math.min(storeDown + 1, 16)) - 1);
      // waiting for approval: ask again every 2-10 s, so the tablet opens seconds after the admin's tap
      const delay = e.code === PENDING ? 2 + Math.random() * 8
        : storeDown ? Math.max(1, storeWait)
        : Math.random() * Math.min(30, 0.5 * 2 ** exp); // full jitter
      attempt += 1;
      setTimeout(connect, delay * 1000);
    };
  }

  function heartbeat() {
    send({ type: "heartbeat", idle_s: Math.round(idleSeconds() * 10) / 10, sent: clock.now() });
  }

  function welcomed_(m) {
    if (m.token) { // enrolled: the tablet's own token, kept across visitors like the others
      store.put(K.token, m.token);
      store.put(K.enrol, null);
      store.put(K.code, null);
      if (!session && !locked) showLock("unavailable");
    }
    rules = withDefaults(m.rules);
    store.put(K.rules, m.rules);
    clock.sync(m.server_time);
    if (m.last_seq > (store.get(K.seq) || 0)) store.put(K.seq, m.last_seq);
    saveOutbox(outbox().filter((ev) => ev.seq > m.last_seq)); // committed before a cut
    welcomed = true;
    attempt = 0;
    lastClose = null;
    document.body.dataset.connected = "1";
    if (m.locked != null && !session) setLocked(m.locked);
    else if (m.locked == null && locked != null) setLocked(null);
    heartbeat();
    clearInterval(heartbeatTimer);
    heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
    flush();
    renderSession();
    if (!session && !locked) refreshOffer();
  }

  function handle(m) {
    switch (m.type) {
      case "welcome": welcomed_(m); return;
      case "pending": store.put(K.code, m.fingerprint || ""); notSetUp(); return;
      case "event_ack": case "event_reject": acked(m.id); return;
      case "error": console.warn("espace: controller error", m.reason); return;
      case "refuse": { const r = pendingStarts.get(m.request); if (r) r(m); return; }
      case "grant": {
        const r = m.request ? pendingStarts.get(m.request) : null;
        if (r) { r(m); return; }
        break;
      }
      default: break;
    }
    if (!m.cmd) return;
    const [ok, error, after] = command(m);
    send({ type: "command_ack", cmd: m.cmd, ok: ok, error: (error || "").slice(0, 200) });
    if (after) after();
  }

  function command(m) {
    const s = session;
    switch (m.type) {
      case "grant": // a steward opens a session on this tablet
        if (s || locked) return [false, "station busy or locked"];
        begin(m, false);
        return [true];
      case "extend":
        if (!s || s.session_id !== m.session_id) return [false, "no such session"];
        s.end = m.end;
        s.warned = s.warned.filter((w) => s.end - clock.now() <= w * 60);
        saveSession();
        emit({ type: "session_extended", session_id: s.session_id, end: m.end });
        renderSession();
        return [true];
      case "end_session":
        if (!s || s.session_id !== m.session_id) return [false, "no such session"];
        return [true, "", () => end(m.reason || "steward")];
      case "message":
        openDialog("message", "message.title", [{ raw: m.text }], [{ key: "common.ok", style: "primary" }]);
        return [true];
      case "help_update":
        if (s && s.help_id === m.help_id) {
          if (m.state === "done") { s.help_id = null; saveSession(); }
          setHelp(m.state === "taken" ? "coming" : "none");
        }
        return [true];
      case "lock":
        setLocked(m.reason || "out of order");
        return [true, "", s ? () => end("steward") : null];
      case "unlock":
        setLocked(null);
        return [true];
      case "rules":
        rules = withDefaults(m.rules);
        store.put(K.rules, m.rules);
        return [true];
      default:
        return [false, "unknown command " + m.type];
    }
  }

  // ------------------------------------------------------------------ starting and ending

  async function requestStart(dryRun, ticket) {
    if (welcomed) {
      const req = { type: "start_request", request: newId(), lang: lang, ticket: ticket || null, dry_run: dryRun };
      const answer = await new Promise((resolve) => {
        pendingStarts.set(req.request, resolve);
        send(req);
        setTimeout(() => resolve(null), START_TIMEOUT_MS);
      });
      pendingStarts.delete(req.request);
      if (answer) {
        if (answer.type === "grant" && !dryRun) begin(answer, false);
        return answer;
      }
    }
    const now = clock.now();
    const hold = (rules && rules.holds || []).find((h) => h.start <= now && now < h.end);
    if (hold) return { type: "refuse", reason: "reserved", until: hold.end }; // held for a called queue ticket
    const decided = window.EspaceGrant.localGrant(rules, now); // espace/grant.py local_grant, for when the controller is away
    if (!decided) return { type: "refuse", reason: "closed" };
    const grant = { type: "grant", session_id: newId(), start: now, end: decided.end, cause: decided.cause, origin: "walkup", label: decided.label };
    if (!dryRun) begin(grant, true);
    return grant;
  }

  function begin(grant, offline) {
    session = {
      session_id: grant.session_id, start: grant.start, end: grant.end, cause: grant.cause || "length",
      origin: grant.origin || "walkup", lang: lang, warned: [], idle_prompted: false, help_id: null,
    };
    saveSession();
    emit({
      type: "session_started", session_id: session.session_id, start: session.start, end: session.end,
      cause: session.cause, origin: session.origin, lang: lang, offline: offline,
    });
    lastInput = performance.now();
    view.starting = false;
    view.help = "none";
    show("session");
  }

  async function end(reason) {
    const s = session;
    if (!s || ending) return;
    ending = true;
    emit({ type: "session_ended", session_id: s.session_id, reason: reason });
    session = null;
    saveSession();
    view.dialogs = [];
    renderDialogs();
    showNotice("cleaning.title", ["cleaning.body"]);
    const removed = await wipeVisitorData();
    emit({ type: "station_reset", session_id: s.session_id, ok: true, files_removed: Math.min(removed, 100000), processes_ended: 0 });
    const shown = Date.now();
    while (outbox().length && Date.now() - shown < 3000) await sleep(100); // sent and acknowledged, if we can
    await sleep(Math.max(0, 1500 - (Date.now() - shown)));
    location.reload();
  }

  async function wipeVisitorData() {
    let removed = 0;
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (!KEEP.has(key)) { localStorage.removeItem(key); removed++; }
    }
    try { removed += sessionStorage.length; sessionStorage.clear(); } catch (e) { /* none */ }
    for (const c of document.cookie.split(";")) {
      const name = c.split("=")[0].trim();
      if (name) { document.cookie = name + "=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/"; removed++; }
    }
    try {
      if (window.indexedDB && indexedDB.databases) {
        for (const db of await indexedDB.databases()) { if (db.name) { indexedDB.deleteDatabase(db.name); removed++; } }
      }
      if (window.caches) {
        for (const name of await caches.keys()) { await caches.delete(name); removed++; }
      }
    } catch (e) { /* best effort */ }
    return removed;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ------------------------------------------------------------------ the session clock (agent/timer.py)

  function due(s, now, idle, r) {
    const remaining = s.end - now;
    if (remaining <= 0) return [{ end: CAUSE_REASON[s.cause] || "time" }];
    if (idle >= r.idle_prompt_s + r.idle_grace_s) return [{ end: "idle" }];
    const actions = [];
    const reached = (r.warn_minutes || []).filter((m) => remaining <= m * 60 && !s.warned.includes(m));
    if (reached.length) actions.push({ warn: Math.min(...reached), kind: s.cause === "closing" ? "last_call" : "time" });
    if (idle >= r.idle_prompt_s && !s.idle_prompted) actions.push({ idlePrompt: Math.floor(r.idle_prompt_s + r.idle_grace_s - idle) });
    else if (idle < r.idle_prompt_s && s.idle_prompted) actions.push({ idleClear: true });
    return actions;
  }

  function enforce() {
    const s = session;
    if (!s || ending) return;
    const r = rules || DEFAULT_RULES;
    const now = clock.now();
    for (const a of due(s, now, idleSeconds(), r)) {
      if (a.end) { end(a.end); return; }
      if (a.warn) {
        for (const m of r.warn_minutes) if (m >= a.warn && !s.warned.includes(m)) s.warned.push(m);
        saveSession();
        emit({ type: "session_warned", session_id: s.session_id, minutes_left: a.warn, kind: a.kind });
        openDialog("warn", "warn.title", [["warn.body", { minutes: a.warn }]], [{ key: "warn.ack", style: "primary" }], true);
      } else if (a.idlePrompt !== undefined) {
        s.idle_prompted = true;
        saveSession();
        emit({ type: "session_warned", session_id: s.session_id, minutes_left: Math.max(0, Math.floor((s.end - now) / 60)), kind: "idle" });
        openDialog("idle", "idle.title", [["idle.body", { seconds: a.idlePrompt }]], [{ key: "idle.still_here", style: "primary" }], true);
      } else if (a.idleClear) {
        s.idle_prompted = false;
        saveSession();
        closeDialog("idle");
      }
    }
  }

  // ------------------------------------------------------------------ screens

  function show(screen) {
    view.screen = screen;
    document.body.dataset.screen = screen;
    for (const name of ["lock", "notice", "session"]) $("screen-" + name).hidden = name !== screen;
    $("bar").hidden = false;
    renderAll();
    const focus = screen === "lock" ? (view.lockMode === "offer" ? $("start") : view.lockMode === "ticket" ? $("ticket-code") : null)
      : screen === "session" ? $("help") : null;
    if (focus && !view.dialogs.length) focus.focus();
  }

  function showNotice(title, body, extra) {
    view.notice = { title: title, body: body || [], extra: extra || [] };
    show("notice");
  }

  function notSetUp() {
    if (session) return;
    const code = store.get(K.code);
    if (code) showNotice("setup.title", ["setup.body"], [["setup.code", { code: code }]]); // waiting for approval
    else showNotice("kiosk.not_set_up.title", ["kiosk.not_set_up.body"]);
  }

  function showLock(mode, offer) {
    view.lockMode = mode;
    view.offer = offer || null;
    view.lockStatus = null;
    show("lock");
  }

  function setLocked(reason) {
    locked = reason;
    store.put(K.locked, reason);
    if (reason != null) showNotice("out_of_order.title", ["out_of_order.body"], reason ? [{ raw: reason }] : []);
    else if (!session) { showLock("unavailable"); refreshOffer(); }
  }

  async function refreshOffer() {
    if (session || locked || view.starting || ending) return;
    const a = await requestStart(true, null);
    if (session || locked || view.starting || ending) return;
    if (a.type === "grant") {
      const offer = { end: a.end, cause: a.cause || "length", label: a.label || "" };
      if (view.screen !== "lock" || JSON.stringify(offer) !== JSON.stringify(view.offer) || view.lockMode !== "offer") showLock("offer", offer);
      return;
    }
    if (a.reason === "closed") {
      const extra = [];
      if (a.until) {
        const sameDay = fmt({ day: a.until }) === fmt({ day: clock.now() });
        extra.push(sameDay ? ["closed.reopens_today", { time: { time: a.until } }] : ["closed.reopens_on", { day: { day: a.until }, time: { time: a.until } }]);
      }
      showNotice("closed.title", extra);
    } else if (a.reason === "locked") {
      // the controller still has the lock it just lifted (it clears it on our ack): ask again
      showLock("unavailable");
      setTimeout(refreshOffer, 2000);
    } else if (a.reason === "reserved") {
      showLock("ticket");
    } else {
      showLock("unavailable");
    }
  }

  async function start(ticket) {
    if (view.starting || session) return;
    view.starting = true;
    view.lockStatus = "lock.starting";
    $("start").disabled = true;
    renderLock();
    const a = await requestStart(false, ticket);
    view.starting = false;
    $("start").disabled = false;
    if (a.type !== "grant") {
      view.lockStatus = "refuse." + (a.reason || "busy");
      renderLock();
      if (view.lockMode === "ticket") { $("ticket-code").select(); $("ticket-code").focus(); }
    }
  }

  function setHelp(state) {
    view.help = state;
    renderSession();
    if (state !== "none") $("announce").textContent = t("help.state." + state);
  }

  function askHelp() {
    openDialog("help", "help.confirm_title", ["help.confirm_body"], [
      { key: "help.confirm_yes", style: "primary", run: requestHelp },
      { key: "common.back" },
    ]);
  }

  function requestHelp() {
    const s = session;
    if (!s || s.help_id) return;
    s.help_id = newId();
    saveSession();
    emit({ type: "help_requested", help_id: s.help_id, session_id: s.session_id });
    setHelp("sent");
  }

  function cancelHelp() {
    const s = session;
    if (!s || !s.help_id) return;
    const helpId = s.help_id;
    s.help_id = null;
    saveSession();
    emit({ type: "help_cancelled", help_id: helpId });
    setHelp("none");
    $("help").focus();
  }

  function askEnd() {
    openDialog("end", "end.confirm_title", ["end.confirm_body"], [
      { key: "end.confirm_no", style: "primary" },
      { key: "end.confirm_yes", style: "danger", run: () => end("visitor") },
    ]);
  }

  // ------------------------------------------------------------------ dialogs

  function openDialog(kind, title, body, choices, alert) {
    view.dialogs = view.dialogs.filter((d) => d.kind !== kind);
    view.dialogs.push({ kind: kind, title: title, body: body, choices: choices, alert: !!alert });
    renderDialogs(kind);
    if (alert) $("announce").textContent = render(title) + ". " + body.map(render).join(" ");
  }

  function closeDialog(kind) {
    const had = view.dialogs.length;
    view.dialogs = view.dialogs.filter((d) => d.kind !== kind);
    if (had !== view.dialogs.length) renderDialogs();
  }

  function renderDialogs(focusKind) {
    const active = document.activeElement;
    const keep = active && active.dataset ? [active.dataset.kind, active.dataset.key] : null;
    const box = $("dialogs");
    box.textContent = "";
    for (const d of view.dialogs) {
      const el = document.createElement("div");
      el.className = "dialog dialog-" + d.kind;
      el.setAttribute("role", d.alert ? "alertdialog" : "dialog");
      el.setAttribute("aria-modal", "true");
      el.id = "dialog-" + d.kind;
      const h = document.createElement("h2");
      h.id = "dialog-" + d.kind + "-title";
      h.textContent = render(d.title);
      const p = document.createElement("p");
      p.id = "dialog-" + d.kind + "-body";
      p.textContent = d.body.map(render).join("\n");
      el.setAttribute("aria-labelledby", h.id);
      el.setAttribute("aria-describedby", p.id);
      const row = document.createElement("div");
      row.className = "choices";
      for (const c of d.choices) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn " + (c.style || "");
        b.dataset.kind = d.kind;
        b.dataset.key = c.key;
        b.textContent = t(c.key);
        b.addEventListener("click", () => {
          closeDialog(d.kind);
          if (d.kind === "idle") lastInput = performance.now();
          if (c.run) c.run();
          if (!view.dialogs.length && view.screen === "session") $("help").focus();
        });
        row.appendChild(b);
      }
      el.append(h, p, row);
      box.appendChild(el);
    }
    if (keep && keep[0]) {
      const again = box.querySelector(`button[data-kind="${keep[0]}"][data-key="${keep[1]}"]`);
      if (again && !focusKind) { again.focus(); return; }
    }
    if (focusKind) {
      const first = box.querySelector(`#dialog-${focusKind} button`);
      if (first) first.focus();
    }
  }

  // ------------------------------------------------------------------ rendering

  function renderStatic() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
    $("langs").setAttribute("aria-labelledby", "lang-label");
    for (const b of document.querySelectorAll("button[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
    $("large").textContent = t(view.large ? "a11y.large_text_off" : "a11y.large_text_on");
    $("large").setAttribute("aria-pressed", String(view.large));
    document.title = t("app.name");
  }

  function offerPart(o) {
    const endAt = { time: o.end };
    const label = (o.label || "").trim();
    if (o.cause === "closing") return ["lock.offer.closing_end", { end: endAt }];
    if (o.cause === "booking") return label ? ["lock.offer.booking_label", { end: endAt, at: endAt, label: label }] : ["lock.offer.booking_end", { end: endAt }];
    return ["lock.offer.length", { end: endAt }];
  }

  function renderLock() {
    const mode = view.lockMode;
    $("start").hidden = mode !== "offer";
    $("unavailable").hidden = mode !== "unavailable";
    $("ticket").hidden = mode !== "ticket";
    $("offer").textContent = view.offer ? render(offerPart(view.offer)) : "";
    $("start").setAttribute("aria-label", t("lock.start_button") + ". " + $("offer").textContent);
    $("lock-status").textContent = render(view.lockStatus);
  }

  function renderNotice() {
    const n = view.notice;
    if (!n) return;
    $("notice-title").textContent = render(n.title);
    $("notice-body").textContent = n.body.map(render).join("\n");
    $("notice-extra").textContent = n.extra.map(render).join("\n");
  }

  function renderSession() {
    const s = session;
    $("offline").hidden = !s || welcomed;
    if (!s) return;
    const left = Math.max(0, s.end - clock.now());
    $("time-left").textContent = left >= 60 ? t("session.time_left", { minutes: Math.ceil(left / 60) }) : t("session.time_left_seconds", { seconds: Math.ceil(left) });
    $("time-left").classList.toggle("ending", left <= ENDING_SECONDS);
    $("until").textContent = t("session.until", { end: { time: s.end } });
    $("help").hidden = view.help !== "none";
    $("help-cancel").hidden = view.help === "none";
    $("help-status").textContent = view.help === "none" ? "" : t("help.state." + view.help);
  }

  function renderAll() {
    renderStatic();
    renderLock();
    renderNotice();
    renderSession();
    renderDialogs();
  }

  function tick() {
    enforce();
    if (view.screen === "session") renderSession();
    const idle = view.dialogs.find((d) => d.kind === "idle");
    if (idle && session) {
      const r = rules || DEFAULT_RULES;
      const left = Math.max(0, Math.ceil(r.idle_prompt_s + r.idle_grace_s - idleSeconds()));
      const body = $("dialog-idle-body");
      idle.body = [["idle.body", { seconds: left }]];
      if (body) body.textContent = render(idle.body[0]);
    }
  }

  // ------------------------------------------------------------------ wiring

  const station = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");

  function readFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("token")) store.put(K.token, params.get("token"));
    if (params.has("clock")) store.put(K.clock, params.get("clock") || null);
    if (location.hash) history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  }

  function wire() {
    for (const b of document.querySelectorAll("button[data-lang]")) {
      b.addEventListener("click", () => { lang = b.dataset.lang; renderAll(); });
    }
    $("large").addEventListener("click", () => {
      view.large = !view.large;
      document.documentElement.classList.toggle("large", view.large);
      renderStatic();
    });
    $("start").addEventListener("click", () => start(null));
    $("ticket").addEventListener("submit", (e) => {
      e.preventDefault();
      const code = $("ticket-code").value.trim().toUpperCase().slice(0, 12);
      if (code) start(code); else $("ticket-code").focus();
    });
    $("help").addEventListener("click", askHelp);
    $("help-cancel").addEventListener("click", cancelHelp);
    $("end").addEventListener("click", askEnd);
    for (const type of ["pointerdown", "pointermove", "touchstart", "keydown", "wheel"]) {
      document.addEventListener(type, () => { lastInput = performance.now(); }, { capture: true, passive: true });
    }
    window.addEventListener("storage", () => { /* one kiosk page per tablet; nothing to merge */ });
  }

  async function boot() {
    readFragment();
    clock.set(store.get(K.clock));
    wire();
    try { await loadCatalogs(); } catch (e) { /* strings fall back to their ids */ }
    document.body.dataset.connected = "0";
    if (session) { // the page came back during a session it cannot vouch for (agent: station_restart)
      lang = session.lang || "fr";
      show("session");
      connect();
      end("station_restart");
      return;
    }
    if (locked) setLocked(locked);
    else if (!store.get(K.token)) notSetUp();
    else { showLock("unavailable"); refreshOffer(); }
    connect();
    setInterval(tick, TICK_MS);
    setInterval(() => { if (view.screen === "lock" && !view.starting) refreshOffer(); }, OFFER_MS);
  }

  boot();
})();
