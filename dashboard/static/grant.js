/* The grant rule for the kiosk page: a port of espace/grant.py (grant_end, local_grant).
 *
 * A session granted now ends at the earliest of its full length, closing and the next booking;
 * at a tie booking wins over closing, closing over length; under the minimum (the rules'
 * min_session_minutes, 5 by default) there is no session. espace/grant_vectors.json holds the
 * cases; tests/espace/test_grant.py runs every one of them here (node) and in Python.
 * Loaded by the kiosk page before kiosk.js (window.EspaceGrant), and by node (module.exports).
 */
(function (root) {
  "use strict";

  const MIN_SESSION_MINUTES = 5;
  const DEFAULT_SESSION_MINUTES = 60;

  // -> {end, cause, label} or null. closing: null when not known; nextBooking: [start, label] or null
  function grantEnd(now, lengthEnd, closing, nextBooking, minMinutes) {
    if (minMinutes === undefined || minMinutes === null) minMinutes = MIN_SESSION_MINUTES;
    let end = lengthEnd, cause = "length", label = "";
    if (closing !== null && closing !== undefined && closing <= end) { end = closing; cause = "closing"; }
    if (nextBooking && nextBooking[0] <= end) { end = nextBooking[0]; cause = "booking"; label = nextBooking[1]; }
    if (end <= now || end - now < minMinutes * 60) return null;
    return { end: end, cause: cause, label: label };
  }

  // the grant a station gives itself from its cached espace.protocol.Rules (null: no session)
  function localGrant(rules, now) {
    if (!rules) return { end: now + DEFAULT_SESSION_MINUTES * 60, cause: "length", label: "" };
    const slot = (rules.open_slots || []).find((sl) => sl.start <= now && now < sl.end);
    if (!slot && now < (rules.slots_until || 0)) return null;
    const bookings = rules.bookings || [];
    if (bookings.some((b) => b.start <= now && now < b.end)) return null;
    const ahead = bookings.filter((b) => b.start > now).sort((a, b) => a.start - b.start);
    const next = ahead.length ? [ahead[0].start, ahead[0].label || ""] : null;
    const minutes = rules.session_minutes === undefined ? DEFAULT_SESSION_MINUTES : rules.session_minutes;
    const min = rules.min_session_minutes === undefined ? MIN_SESSION_MINUTES : rules.min_session_minutes;
    return grantEnd(now, now + minutes * 60, slot ? slot.end : null, next, min);
  }

  const api = { grantEnd: grantEnd, localGrant: localGrant, MIN_SESSION_MINUTES: MIN_SESSION_MINUTES,
                DEFAULT_SESSION_MINUTES: DEFAULT_SESSION_MINUTES };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.EspaceGrant = api;
})(typeof self !== "undefined" ? self : this);
