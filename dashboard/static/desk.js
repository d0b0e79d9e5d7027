// The welcome desk: issue queue tickets, see who is next and who is called, list, create and cancel bookings.
import { t, errorText as sayError, api, setCsrf, loadStrings as fetchStrings, loadSite, hhmm as hm, day as dd } from "./common.js";

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("espace.lang") || "fr";
let lastQueue = null;
let lastBookings = null;
let lastNotice = null; // [id, fields]: said again in the new language
let confirming = null; // the booking whose cancellation waits for "yes"
const hhmm = (ts) => hm(ts, lang);
const day = (ts) => dd(ts, lang);
const when = (start, end) => `${day(start)} ${hhmm(start)}–${hhmm(end)}`;
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
// weekday names from the browser's own locale data (2024-01-01 was a Monday)
const dayName = (i, style = "long") => new Intl.DateTimeFormat(`${lang}-BE`, { weekday: style, timeZone: "UTC" }).format(Date.UTC(2024, 0, 1 + i));

// An error in the page's language; instants among its params (start, end) as local day and time.
const INSTANTS = new Set(["start", "end"]);
function errorText(e) {
  if (e.said) return t(e.said);  // the page's own check, before any request
  return sayError(e.data || { message: e.message }, (params) => {
    for (const k of Object.keys(params)) if (INSTANTS.has(k) && typeof params[k] === "number") params[k] = `${day(params[k])} ${hhmm(params[k])}`;
    return params;
  });
}
let lastError = null; // said again in the new language when the language changes
function showError(e) { lastError = e || null; $("error").textContent = e ? errorText(e) : ""; }
function notice(n) { lastNotice = n; $("booking-notice").textContent = n ? t(n[0], n[1]) : ""; }

function item(main, sub, ...actions) {
  const li = document.createElement("li");
  const left = document.createElement("span");
  left.append(main);
  if (sub) { const s = document.createElement("span"); s.className = "muted"; s.append(" ", sub); left.append(s); }
  li.append(left);
  if (actions.length) { const box = document.createElement("span"); box.className = "actions"; box.append(...actions); li.append(box); }
  return li;
}
function codeSpan(code) { const s = document.createElement("span"); s.className = "code"; s.textContent = code; return s; }
function button(text, onclick, cls = "secondary") { const b = document.createElement("button"); b.type = "button"; b.className = cls; b.textContent = text; b.onclick = onclick; return b; }

async function cancelTicket(code) {
  try { await api("POST", "/api/queue/tickets/" + encodeURIComponent(code) + "/cancel"); showError(""); await refresh(); }
  catch (e) { showError(e); }
}

function renderQueue() {
  const q = lastQueue;
  if (!q) return;
  const called = q.called.map((c) => item(codeSpan(c.code), t("desk.held_until", { station: c.station, time: hhmm(c.hold_until) }), button(t("desk.cancel"), () => cancelTicket(c.code))));
  $("called").replaceChildren(...(called.length ? called : [item(t("desk.none"))]));
  const several = (q.kinds || []).length > 1;
  $("ticket-kind").hidden = !several;
  const need = (w) => (several && w.kind ? t("desk.kind." + w.kind) + " · " : "") + (w.accessible ? t("desk.accessible") + " · " : "");
  const waiting = q.waiting.map((w) => item(codeSpan(w.code), need(w) + hhmm(w.issued), button(t("desk.cancel"), () => cancelTicket(w.code))));
  $("waiting").replaceChildren(...(waiting.length ? waiting : [item(t("desk.none"))]));
}

// ------------------------------------------------------------ bookings

/** A recurrence rule as the desk says it: "chaque jeudi", "le 1er mardi du mois". */
function ruleText(rule) {
  if (!rule) return "";
  const parts = rule.toLowerCase().split(":");
  if (parts[0] === "daily") return t("desk.rule.daily");
  if (parts[0] === "weekly") return t("desk.rule.weekly", { days: parts[1].split(",").map((d) => dayName(DAYS.indexOf(d))).join(", ") });
  if (parts[0] === "monthly") return t("desk.rule.monthly", { nth: t(`desk.nth.${parts[1]}`), day: dayName(DAYS.indexOf(parts[2])) });
  return rule;
}
function what(b) {
  return b.stations.length ? b.stations.join(", ") : b.count + " " + t(b.kind === "tablet" ? "desk.booking.kind_tablet" : "desk.booking.kind_pc");
}
async function cancelBooking(b) {
  try {
    await api("DELETE", "/api/bookings/" + encodeURIComponent(b.id || b.booking_id));
    confirming = null;
    showError("");
    notice(["desk.booking.cancelled", { label: b.label || b.id || b.booking_id }]);
    await refresh();
  } catch (e) { showError(e); }
}
/** Cancel, then "yes, cancel" / "keep": a booking is never dropped by one stray tap. */
function cancelButtons(b) {
  const id = b.id || b.booking_id;
  if (confirming !== id) return [button(t("desk.booking.delete"), () => { confirming = id; renderBookings(); document.querySelector(`[data-booking="${CSS.escape(id)}"] .danger`).focus(); })];
  const ask = document.createElement("span");
  ask.className = "muted";
  ask.textContent = t("desk.booking.cancel_confirm");
  return [ask, button(t("desk.booking.cancel_yes"), () => cancelBooking(b), "danger"), button(t("desk.booking.keep"), () => { confirming = null; renderBookings(); })];
}

function renderBookings() {
  const b = lastBookings;
  if (!b) return;
  const today = b.occurrences.map((o) => {
    const li = item(o.label || o.booking_id, when(o.start, o.end) + " · " + what(o), ...cancelButtons(o));
    li.dataset.booking = o.booking_id;
    return li;
  });
  $("bookings").replaceChildren(...(today.length ? today : [item(t("desk.booking.none"))]));
  // the next weeks: each booking once, a recurring one with its rule and its next sitting
  const upcoming = (b.upcoming || []).map((u) => {
    const sub = document.createDocumentFragment();
    if (u.recurrence) {
      const rule = document.createElement("span");
      rule.className = "rule";
      rule.textContent = ruleText(u.recurrence);
      sub.append(rule, " · ", t("desk.booking.next", { when: when(u.next_start, u.next_end) }));
      if (u.until) sub.append(" · ", t("desk.booking.until", { date: day(u.until) }));
    } else sub.append(when(u.start, u.end));
    sub.append(" · " + what(u));
    const li = item(u.label || u.id, sub, ...cancelButtons(u));
    li.dataset.booking = u.id;
    return li;
  });
  $("upcoming").replaceChildren(...(upcoming.length ? upcoming : [item(t("desk.booking.none_upcoming"))]));
}

function renderRepeat() {
  const kind = $("repeat").value;
  $("repeat-weekly").hidden = kind !== "weekly";
  $("repeat-monthly").hidden = kind !== "monthly";
  $("repeat-until").hidden = !kind;
}
function fillPickers() {
  const checked = new Set([...document.querySelectorAll("#repeat-weekly input:checked")].map((i) => i.value));
  const boxes = DAYS.map((d, i) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { type: "checkbox", name: "days", value: d, checked: checked.has(d) });
    label.append(input, dayName(i));
    return label;
  });
  $("repeat-weekly").replaceChildren($("l-days"), ...boxes);
  const nth = $("nth").value || "1", nthDay = $("nth-day").value || "tue";
  $("nth").replaceChildren(...["1", "2", "3", "4", "-1"].map((n) => Object.assign(document.createElement("option"), { value: n, textContent: t(`desk.nth.${n}`), selected: n === nth })));
  $("nth-day").replaceChildren(...DAYS.map((d, i) => Object.assign(document.createElement("option"), { value: d, textContent: dayName(i), selected: d === nthDay })));
}
/** The rule the API takes ("weekly:mon,thu", "monthly:1:tue"), from the pickers; null for once. */
function recurrence(f) {
  const kind = f.get("repeat");
  if (kind === "weekly") {
    const days = f.getAll("days");
    if (!days.length) throw Object.assign(new Error("no day"), { said: "desk.repeat.need_day" });
    return "weekly:" + days.join(",");
  }
  if (kind === "monthly") return `monthly:${f.get("nth")}:${f.get("nth_day")}`;
  return null;
}

function renderStatic() {
  document.documentElement.lang = lang;
  $("lang").value = lang;
  const texts = {
    title: "desk.title", back: "desk.back", issue: "desk.issue", "issue-accessible": "desk.issue_accessible", "h-called": "desk.called",
    "h-waiting": "desk.waiting", "h-bookings": "desk.bookings", "h-upcoming": "desk.upcoming", "l-label": "desk.booking.label", "l-start": "desk.booking.start",
    "l-end": "desk.booking.end", "l-stations": "desk.booking.stations", "l-count": "desk.booking.count",
    "l-repeat": "desk.repeat", "o-once": "desk.repeat.none", "o-weekly": "desk.repeat.weekly", "o-monthly": "desk.repeat.monthly",
    "l-days": "desk.repeat.days", "l-nth": "desk.repeat.nth", "l-nth-day": "desk.repeat.nth_day", "l-until": "desk.repeat.until",
    create: "desk.booking.create", "o-pc": "desk.booking.kind_pc", "o-tablet": "desk.booking.kind_tablet",
    "l-ticket-kind": "desk.ticket_kind", "o-ticket-pc": "desk.ticket_kind.pc", "o-ticket-tablet": "desk.ticket_kind.tablet",
  };
  for (const [id, msg] of Object.entries(texts)) $(id).textContent = t(msg);
  document.title = t("desk.title");
  fillPickers();
  showError(lastError);
  notice(lastNotice);
  renderQueue();
  renderBookings();
}

async function loadStrings() {
  await fetchStrings("/now-serving/i18n/" + lang + ".json");
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
    const body = { accessible };
    // the desk says which kind of station the visitor needs: a ticket never goes to a tablet just because the PCs are full
    if (!$("ticket-kind").hidden) body.kind = document.querySelector('input[name="ticket-kind"]:checked').value;
    const ticket = await api("POST", "/api/queue/tickets", body);
    $("issued").textContent = ticket.station ? t("desk.issued_station", { code: ticket.code, station: ticket.station }) : t("desk.issued", { code: ticket.code });
    showError("");
    await refresh();
  } catch (e) { showError(e); }
}

$("issue").onclick = () => issue(false);
$("issue-accessible").onclick = () => issue(true);
$("repeat").onchange = renderRepeat;
$("lang").onchange = async () => {
  lang = $("lang").value;
  localStorage.setItem("espace.lang", lang);
  try { await api("POST", "/api/me/lang", { lang }); } catch (e) { /* shown in this language all the same */ }
  loadStrings();
};
$("booking-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { label: f.get("label"), start: f.get("start"), end: f.get("end") };
  const stations = String(f.get("stations") || "").split(/[\s,;]+/).filter(Boolean).map((s) => s.toUpperCase());
  const count = parseInt(f.get("count"), 10) || 0;
  if (stations.length) body.stations = stations; else { body.count = count; body.kind = f.get("kind"); }
  try {
    const rule = recurrence(f);
    if (rule) body.recurrence = rule;
    if (rule && f.get("until")) body.until = f.get("until") + "T23:59";
    const saved = await api("POST", "/api/bookings", body);
    ev.target.reset();
    renderRepeat();
    showError("");
    // said plainly: what was booked, when, how often (the form clearing alone said nothing)
    const whenText = when(saved.start, saved.end) + (saved.recurrence ? " · " + ruleText(saved.recurrence) : "");
    notice(["desk.booking.saved", { label: saved.label || saved.id, when: whenText, what: what(saved) }]);
    await refresh();
  } catch (e) { showError(e); }
};

(async function start() {
  // the staff member's language, as on the floor (the login page's guess from the browser must not win)
  try { const me = await api("GET", "/api/me"); setCsrf(me.csrf); if (me.lang) lang = me.lang; } catch (e) { if (e.message === "login") return; }
  await loadSite();
  await loadStrings();
  renderRepeat();
  await refresh();
  setInterval(refresh, 5000);
})();
