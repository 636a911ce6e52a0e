// The presenced web page: sign-in, own presence, contacts with live
// presence, requests, adding contacts. It talks the JSON protocol through the
// SDK like any app; REST calls use the session cookie plus the CSRF header.
import { Presenced } from "/sdk/presenced.js";

const $ = (id) => document.getElementById(id);

function csrf() {
  const m = document.cookie.match(/(?:^|; )presenced_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function call(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return r.status === 204 ? null : r.json();
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return new Date(iso).toLocaleDateString();
}

let names = new Map(); // address → name from the address book

function render(p) {
  const reqs = $("requests");
  reqs.replaceChildren();
  for (const s of p.subscriptions.values()) {
    if (!s.pending_in) continue;
    const act = (fn) => () => fn(s.address).catch(showError);
    reqs.append(el("li", { dataset: { address: s.address } },
      el("span", { class: "name" }, s.address), el("span", { class: "muted" }, "wants to see your presence"),
      // approving also asks back, so both see each other (granted at once if they pre-approved us)
      el("button", { class: "approve", onclick: act(async (a) => { await p.approve(a); await p.subscribe(a); }) }, "Approve"),
      el("button", { class: "deny", onclick: act((a) => p.deny(a)) }, "Deny")));
  }
  if (!reqs.children.length) reqs.append(el("li", { class: "muted" }, "none"));

  const list = $("contacts");
  list.replaceChildren();
  const addresses = [...p.subscriptions.keys()].sort();
  for (const a of addresses) {
    const s = p.subscriptions.get(a);
    const pr = p.presence.get(a) || { availability: "unavailable" };
    const can = s.subscription === "to" || s.subscription === "both";
    const av = can ? pr.availability : (s.pending_out ? "pending" : "unknown");
    const detail = [];
    if (pr.status) detail.push(pr.status);
    if (pr.activity) detail.push(pr.activity.kind + (pr.activity.detail ? ": " + pr.activity.detail : ""));
    list.append(el("li", { dataset: { address: a, availability: av } },
      el("span", { class: "dot " + av }),
      el("span", { class: "name" }, names.get(a) || a),
      el("span", { class: "availability" }, av),
      el("span", { class: "status" }, detail.join(" — ")),
      el("span", { class: "lastseen" }, pr.last_seen && av === "unavailable" ? "last seen " + ago(pr.last_seen) : ""),
      s.pending_out ? el("span", { class: "muted" }, "request sent") : ""));
  }
  if (!addresses.length) list.append(el("li", { class: "muted" }, "no contacts yet"));
  $("invisible").checked = !!p.privacy.invisible;
}

function showError(e) {
  $("app-error").textContent = e.message;
}

async function start(account) {
  $("signin").hidden = true;
  $("me").textContent = account;
  try {
    const book = await call("GET", "/v1/contacts");
    names = new Map(book.contacts.filter((c) => c.address).map((c) => [c.address, c.name || c.address]));
  } catch (_) { /* the list still works with addresses */ }

  const p = new Presenced({ device: "web", presence: { availability: "available" } });
  window.presenced = p; // handy in the console
  p.addEventListener("change", () => render(p));
  p.addEventListener("state", (e) => {
    const { state, reason } = e.detail;
    if (state === "online") $("conn").textContent = "online as " + p.address;
    else if (state === "reconnecting") $("conn").textContent = "reconnecting…";
    else if (state === "closed") $("conn").textContent = "disconnected" + (reason ? ": " + reason : "") + " (reload the page)";
  });
  p.addEventListener("contact", (e) => {
    const c = e.detail.contact;
    if (e.detail.op === "put" && c.address) names.set(c.address, c.name || c.address);
    render(p);
  });
  await p.connect();

  $("presence-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const pres = { availability: $("availability").value, status: $("status").value };
    const kind = $("activity-kind").value.trim();
    if (kind) pres.activity = { kind, detail: $("activity-detail").value };
    p.setPresence(pres).then(() => { $("app-error").textContent = ""; }, showError);
  });
  $("invisible").addEventListener("change", (e) => p.setInvisible(e.target.checked).catch(showError));
  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const address = $("add-address").value.trim().toLowerCase();
    try {
      const name = $("add-name").value.trim();
      await call("POST", "/v1/contacts", { name: name || address, address });
      names.set(address, name || address);
      await p.subscribe(address);
      if ($("add-share").checked) await p.approve(address);
      $("add-address").value = "";
      $("add-name").value = "";
      $("app-error").textContent = "";
    } catch (err) {
      showError(err);
    }
  });
  $("logout").addEventListener("click", async () => {
    await p.close();
    await call("POST", "/web/logout");
    location.reload();
  });
  $("app").hidden = false; // forms appear once their handlers are attached
  $("logout").hidden = false;
}

async function main() {
  const r = await fetch("/web/session", { credentials: "same-origin" });
  if (r.ok) {
    const s = await r.json();
    await start(s.account);
    return;
  }
  const info = await (await fetch("/web/info")).json();
  const enter = (form, path, prefix) => $(form).addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await call("POST", path, { address: $(prefix + "-address").value, password: $(prefix + "-password").value });
      const s = await (await fetch("/web/session", { credentials: "same-origin" })).json();
      $(form).reset();
      await start(s.account);
    } catch (err) {
      $(prefix + "-error").textContent = err.message;
    }
  });
  enter("signin-form", "/web/login", "signin");
  if (info.signup) {
    $("signup-form").hidden = false;
    $("signup-address").placeholder = "you@" + info.domain;
    enter("signup-form", "/web/signup", "signup");
  }
  $("signin").hidden = false; // only now: a submit before the handlers would skip them
}

main();
