// What every staff page and the public "now serving" screen share: the catalog's t(), an error
// answer in the reader's language, the JSON API with the session's CSRF token, and times shown in
// the site's time zone (the controller's `timezone` setting, from GET /api/public/site).
// An ES module: <script type="module" src="/static/<page>.js"> imports it. No build step.

let strings = {};
let csrf = "";
let zone = "Europe/Brussels"; // until the site says otherwise (the setting's default)
let site = null;

/** The message `id` of the loaded catalog with its `{fields}` filled; the id itself if unknown. */
export function t(id, vars = {}) {
  return (strings[id] || id).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}
export const has = (id) => Object.prototype.hasOwnProperty.call(strings, id);
export function setStrings(s) { strings = s || {}; }

/** Fetch a catalog as JSON (`/i18n/fr.json`, or a page's own subset) and make it the current one. */
export async function loadStrings(url) {
  try {
    const r = await fetch(url);
    if (r.ok) strings = await r.json();
  } catch { /* keep the previous catalog: ids show, nothing breaks */ }
  return strings;
}

/** An error answer ({error, reason, params, message}) in the reader's language: the catalog's
 * err.<error>.<reason> (or err.<error>) filled with its params (after `format`); the server's English
 * message, inside the generic text, only for an error the catalog does not know. */
export function errorText(data, format = (params) => params) {
  data = data || {};
  const params = format({ ...(data.params || {}) });
  for (const id of [data.reason && `err.${data.error}.${data.reason}`, data.error && `err.${data.error}`]) {
    if (id && has(id)) return t(id, params);
  }
  const said = data.message || data.error || "?";
  return has("floor.error.failed") ? t("floor.error.failed", { reason: said }) : t("desk.error", { message: said });
}

// ------------------------------------------------------------ the JSON API

export function setCsrf(token) { csrf = token || ""; }

/** `{ok, status, data}` of a request; a lost staff session goes to the login page, back here after. */
export async function request(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new Error("login");
  }
  const data = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, data };
}

/** The answer's JSON; throws an Error carrying `data` (for errorText) when the answer is an error. */
export async function api(method, path, body) {
  const { ok, status, data } = await request(method, path, body);
  if (!ok) throw Object.assign(new Error(data.message || String(status)), { data, status });
  return data;
}

// ------------------------------------------------------------ the site and its time zone

/** `{site, timezone, langs}` of the controller (public), read once; sets the zone times are shown in. */
export async function loadSite() {
  if (site) return site;
  try {
    const r = await fetch("/api/public/site", { cache: "no-store" });
    if (r.ok) site = await r.json();
  } catch { /* the default zone stays */ }
  if (site && site.timezone) zone = site.timezone;
  return site || {};
}
export const timeZone = () => zone;
const locale = (lang) => `${lang || document.documentElement.lang || "fr"}-BE`;

/** 14:05 in the site's zone. */
export function hhmm(ts, lang) {
  return new Date(ts * 1000).toLocaleTimeString(locale(lang), { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone });
}
/** "jeu. 19 nov." in the site's zone (`opts` adds or replaces fields). */
export function day(ts, lang, opts = {}) {
  return new Date(ts * 1000).toLocaleDateString(locale(lang), { weekday: "short", day: "numeric", month: "short", timeZone: zone, ...opts });
}
/** The local date (YYYY-MM-DD) and weekday (0 = Monday) of an instant in the site's zone. */
export function localDate(ts) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", weekday: "short" })
    .formatToParts(new Date(ts * 1000));
  const get = (type) => parts.find((p) => p.type === type).value;
  return { date: `${get("year")}-${get("month")}-${get("day")}`, weekday: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(get("weekday")) };
}
