// What both demos do the same way: sign in with the SDK's code flow, open
// the app's session, keep the names of the contacts the user picked, and
// say what is going on in a status line.
import { Presenced, pickContacts, signIn, finishSignIn, signOut } from "/sdk/presenced.js";

export const $ = (id) => document.getElementById(id);

// say puts text in the element id (a live region), as an error or not.
export function say(id, text, error = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", error);
}

// App is one demo: its client ID, the scopes it asks for, the names of the
// contacts picked for it (kept in this browser, by handle).
export class App {
  constructor(clientId, scope, sessionOptions) {
    this.clientId = clientId;
    this.scope = scope;
    this.sessionOptions = sessionOptions;
    this.namesKey = "demo-names:" + clientId;
    this.names = new Map(JSON.parse(localStorage.getItem(this.namesKey) || "[]"));
    this.p = null;
    this.sub = null;
  }

  // name is how the page names a contact: the name shared with the app,
  // else the address (an app with the addresses permission), else a short
  // form of its handle.
  name(handle) {
    const bare = String(handle).split("/")[0];
    return this.names.get(bare) || (bare.includes("@") ? bare : "contact " + bare.slice(0, 8));
  }

  // start signs in (finishing a sign-in that came back here) and opens the
  // session; it resolves with the session, or null when the user must
  // sign in first (the sign-in button is then shown).
  async start() {
    // the app's redirect URIs are on presenced's public URL (the OAuth
    // issuer): a page opened under another name of the server (localhost
    // for 127.0.0.1) moves there first, or the sign-in would be refused
    const issuer = await fetch("/.well-known/openid-configuration").then((r) => r.json()).then((d) => d.issuer, () => "");
    if (issuer && new URL(issuer).origin !== location.origin && !new URLSearchParams(location.search).has("code")) {
      location.replace(new URL(location.pathname, issuer).href);
      return null;
    }
    $("signin-button").onclick = () => signIn({ clientId: this.clientId, scope: this.scope }).catch((e) => say("signin-status", e.message, true));
    $("signout").onclick = () => {
      signOut({ clientId: this.clientId });
      if (this.p) this.p.close();
      location.reload();
    };
    let token = null;
    try {
      token = await finishSignIn({ clientId: this.clientId });
    } catch (e) {
      say("signin-status", "Sign-in failed: " + e.message + " (" + e.code + ")", true);
    }
    if (!token) {
      $("signin").hidden = false;
      return null;
    }
    this.sub = token.sub;
    const p = new Presenced({ token: token.access_token, presence: { availability: "available" }, ...this.sessionOptions });
    this.p = p;
    p.addEventListener("state", (e) => {
      const s = e.detail.state;
      say("conn", s === "online" ? "Online." : s === "closed" ? "Disconnected: " + (e.detail.reason || "sign in again") + "." : s + "…", s === "closed");
      if (s === "closed" && e.detail.code === "unauthorized") signOut({ clientId: this.clientId });
    });
    // leaving the page ends the session at once (a page kept in the
    // back/forward cache would otherwise stay "online", silent, until its
    // missed heartbeats close it); coming back to such a page starts anew
    addEventListener("pagehide", () => p.close());
    addEventListener("pageshow", (e) => { if (e.persisted) location.reload(); });
    $("app").hidden = false;
    $("pick").onclick = () => this.pick();
    await p.connect();
    return p;
  }

  // pick opens presenced's contact picker and keeps the names shared.
  async pick() {
    try {
      const picked = await pickContacts({ clientId: this.clientId, multiple: true, subject: this.sub });
      for (const c of picked) this.names.set(c.handle, c.name || this.names.get(c.handle) || "");
      localStorage.setItem(this.namesKey, JSON.stringify([...this.names].filter(([, n]) => n)));
      say("pick-status", picked.length ? "Picked " + picked.map((c) => this.name(c.handle)).join(", ") + "." : "Nobody picked.");
      this.onpicked?.();
    } catch (e) {
      say("pick-status", "The picker: " + e.message, true);
    }
  }

  // contacts are the handles the app knows: those its session sees, and
  // those picked in this browser (who may be offline).
  contacts() {
    const all = new Set([...this.p.presence.keys(), ...this.names.keys()]);
    return [...all].sort((a, b) => this.name(a).localeCompare(this.name(b)));
  }

  online(handle) {
    const pr = this.p.presence.get(handle);
    return !!pr && pr.availability && pr.availability !== "unavailable";
  }
}

// availabilityText says a presence in words.
export function availabilityText(pr) {
  const a = pr?.availability || "unavailable";
  const words = { available: "online", away: "away", dnd: "busy", xa: "away for long", unavailable: "offline" };
  return (words[a] || a) + (pr?.status ? " — " + pr.status : "");
}
