// Shared helpers of the page's views: building elements, REST calls with
// the session cookie and CSRF header, human words for states and errors.

export const $ = (id) => document.getElementById(id);

// el builds an element: attributes (on… are listeners, dataset an object,
// true/false switch boolean attributes) and children (strings or nodes).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== "") e.append(c);
  return e;
}

function csrf() {
  const m = document.cookie.match(/(?:^|; )presenced_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

// ApiError is a REST failure with the problem document's words.
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// call makes a REST call with the session cookie; body is JSON unless a
// string (sent as is, with type). It resolves with the parsed answer (null
// for none), or rejects with an ApiError.
export async function call(method, path, body, { type, headers = {} } = {}) {
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: { "Content-Type": type || "application/json", "X-CSRF-Token": csrf(), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (_) {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.", "network");
  }
  if (!r.ok) {
    let detail = r.statusText;
    try {
      const p = await r.json();
      detail = p.detail || p.title || detail;
    } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, detail, r.status === 412 ? "conflict" : "");
  }
  const ct = r.headers.get("Content-Type") || "";
  if (r.status === 204) return null;
  return ct.includes("json") ? r.json() : r.text();
}

const AVAILABILITY = {
  available: "available",
  away: "away",
  dnd: "do not disturb",
  xa: "away for a while",
  unavailable: "offline",
};

// availabilityWords names an availability for people.
export function availabilityWords(a) {
  return AVAILABILITY[a] || a;
}

// relationWords says, in words, what a subscription view means to the user.
export function relationWords(s) {
  if (!s) return "";
  const see = s.subscription === "to" || s.subscription === "both";
  const seen = s.subscription === "from" || s.subscription === "both";
  if (s.pending_out && !see) return "waiting for approval";
  if (see && !seen) return "does not see you";
  if (!see && seen) return "sees you; you do not see them";
  if (!see) return "not sharing presence";
  return "";
}

// errorWords turns an SDK or REST error into a sentence for people.
export function errorWords(e) {
  switch (e && e.code) {
    case "unavailable":
      return "They cannot be reached: they are offline or do not share their presence with you.";
    case "not_accepted":
      return "None of their devices takes messages right now.";
    case "rate_limited":
      return "Too many requests: wait a moment and try again.";
    case "limit":
      return "A limit was reached: " + e.message;
    case "closed":
      return "Not connected to the server right now. Try again once the banner says you are connected.";
    case "unauthorized":
      return "You are signed out. Reload the page to sign in again.";
    case "conflict":
      return "This was changed on another device in the meantime. It has been reloaded: make your change again.";
  }
  const m = (e && e.message) || String(e);
  return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? "" : ".");
}

// SCOPES says what each scope lets an app do, as the consent page says it
// (openid, which every app has, is left out).
export const SCOPES = {
  "presence:publish": "set your presence", "presence:read": "see your shared contacts' presence",
  message: "send messages", signal: "call (signals)", "contacts:pick": "ask you to pick contacts",
  "events:publish": "publish your mood, activity, tune", "events:read": "see your shared contacts' mood, activity, tune",
  rooms: "join rooms", addresses: "see real addresses", profile: "see your profile", offline_access: "stay signed in",
};

let noticeTimer = 0;

// notice shows a short message (error or confirmation) in the page's live
// region, where screen readers announce it too.
export function notice(text, kind = "error") {
  const n = $("notice");
  n.textContent = text;
  n.className = "notice " + kind;
  n.hidden = !text;
  clearTimeout(noticeTimer);
  if (text && kind !== "error") noticeTimer = setTimeout(() => { n.hidden = true; }, 6000);
}

// attempt runs an action and reports its failure in words; it resolves
// with the action's value, or undefined if it failed.
export async function attempt(f, done) {
  try {
    const v = await f();
    if (done) notice(done, "ok");
    else notice("");
    return v;
  } catch (e) {
    notice(errorWords(e));
    return undefined;
  }
}

export function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return new Date(iso).toLocaleDateString();
}

export function time(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function bare(address) {
  return (address || "").split("/")[0];
}

// personalWords describes a user's personal events (mood, activity, tune).
export function personalWords(topics) {
  const out = [];
  if (!topics) return out;
  const mood = topics.get("mood");
  if (mood) out.push({ topic: "mood", text: "feels " + mood.data.mood.replace(/_/g, " ") + (mood.data.text ? " (" + mood.data.text + ")" : "") });
  const act = topics.get("activity");
  if (act) {
    const d = act.data;
    out.push({ topic: "activity", text: (d.category || "").replace(/_/g, " ") + (d.specific ? ": " + d.specific.replace(/_/g, " ") : "") + (d.text ? " (" + d.text + ")" : "") });
  }
  const tune = topics.get("tune");
  if (tune) out.push({ topic: "tune", text: "♪ " + [tune.data.artist, tune.data.title].filter(Boolean).join(" — ") });
  return out;
}

// bus carries the page's own events between views ("names": the address
// book changed; "unread": unread counts changed).
export const bus = new EventTarget();

// rerender replaces list's items with build()'s, keeping which item's
// details were open and which control had the focus (by the item's
// data-key and the control's data-action), so live updates do not throw a
// keyboard user out of a list.
export function rerender(list, build) {
  const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.closest("[data-key]")?.dataset.key));
  const a = document.activeElement;
  const focus = list.contains(a) ? { key: a.closest("[data-key]")?.dataset.key, action: a.dataset.action || a.tagName } : null;
  list.replaceChildren(...build());
  for (const d of list.querySelectorAll("details")) if (open.has(d.closest("[data-key]")?.dataset.key)) d.open = true;
  if (focus) {
    const item = [...list.querySelectorAll("[data-key]")].find((x) => x.dataset.key === focus.key);
    const target = item && ([...item.querySelectorAll("[data-action]")].find((x) => x.dataset.action === focus.action) || item.querySelector("summary, button, a"));
    if (target) target.focus();
  }
}
