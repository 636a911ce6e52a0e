// presenced.js — the browser SDK of presenced (an ES module, no dependencies).
//
// It speaks the JSON protocol (docs/protocol.md) over WebSocket, keeps the
// client's view (own presence, contacts' presence, subscriptions, privacy),
// acknowledges events, sends heartbeats and resumes after a dropped
// connection. Tokens go in the hello frame, never in the URL; the built-in
// web page instead relies on its HttpOnly session cookie.
//
//   import { Presenced } from "/sdk/presenced.js";
//   const p = new Presenced({ device: "web", presence: { availability: "available" } });
//   p.addEventListener("presence", (e) => console.log(e.detail));
//   p.addEventListener("state", (e) => console.log(e.detail.state)); // online, reconnecting, closed …
//   await p.connect();
//   await p.setPresence({ availability: "away", status: "lunch" });
//
// Calls (docs/calls.md): with the option calls: true the session is rung.
//
//   p.addEventListener("incoming", (e) => e.detail.answer()); // e.detail: a Call
//   const call = await p.call("bob@example.org");
//   call.addEventListener("answered", () => call.signal({ sdp: "…" }));

export const PROTOCOL = "presenced.v1";


export class PresencedError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// Connection states (the "state" event carries {state, reason, code}):
//   connecting    connect() is opening a new session
//   online        a session is live on the one current socket
//   reconnecting  the socket dropped; resuming (or, if the session ended,
//                 opening a new one) with backoff
//   closed        for good: close() was called, the server said goodbye
//                 without asking to reconnect, or the credentials are no
//                 longer accepted; call connect() to start again
//
// There is at most one current socket (this._ws). Every handler of a socket
// first checks that it is still the current one: a socket that was replaced
// or gave up (a failed resume) is superseded, and nothing it reports (its
// close, a goaway) touches the client any more. There is at most one
// scheduled reconnect (this._retryTimer).
export class Presenced extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = { url: globalThis.location ? location.origin : "", device: "web", autoReconnect: true, helloTimeout: 20000, ...options };
    this.state = "closed";
    this.session = null; // resource of our session
    this.address = null; // full address
    this.self = null; // own aggregated presence
    this.presence = new Map(); // bare address → presence
    this.subscriptions = new Map(); // bare address → subscription view
    this.privacy = { invisible: false, blocks: [], hidden: [] };
    this.personal = new Map(); // bare address (yours too) → Map topic → {item, data, published}
    this.lastSeq = 0;
    this._acked = 0;
    this._nextId = 0;
    this._pending = new Map();
    this._ws = null;
    this._retryTimer = null;
    this._backoff = 500;
    this.calls = new Map(); // call ID → Call, while it lasts
    this._early = []; // call events that came before the reply naming their call
  }

  // connect opens a new session and resolves with the welcome frame.
  async connect() {
    this._cancelRetry();
    this._forget();
    this._setState("connecting");
    try {
      return await this._open(null);
    } catch (e) {
      if (this.state === "connecting") this._setState("closed", e);
      throw e;
    }
  }

  _setState(state, err) {
    const reason = err ? err.message || String(err) : "";
    if (state === this.state && !err) return;
    this.state = state;
    this._emit("state", { state, reason, code: err && err.code });
  }

  // _forget drops the session: the next hello starts a new one.
  _forget() {
    this.session = null;
    this.lastSeq = 0;
    this._acked = 0;
    // the session's calls ended with it
    for (const c of [...this.calls.values()]) c._end("gone", "", false);
    this._early = [];
  }

  // _supersede makes the current socket, if any, no longer current and
  // closes it; its handlers ignore whatever it reports from now on.
  _supersede() {
    const ws = this._ws;
    this._ws = null;
    this._stopTimers();
    for (const [, p] of this._pending) p.reject(new PresencedError("closed", "connection closed"));
    this._pending.clear();
    if (ws && ws.readyState < WebSocket.CLOSING) ws.close();
  }

  // _open opens a socket, makes it the current one and says hello; it
  // resolves with the welcome or rejects with the error that came instead.
  _open(resume) {
    this._supersede();
    const url = this.options.url.replace(/^http/, "ws") + "/v1/ws";
    const ws = new WebSocket(url, PROTOCOL);
    this._ws = ws;
    this._goaway = null;
    return new Promise((resolve, reject) => {
      let welcomed = false;
      // a server that accepts the connection but never answers (or a
      // half-open connection) must not hold up the reconnection for ever
      const helloTimer = setTimeout(() => {
        if (welcomed || ws !== this._ws) return;
        this._supersede();
        reject(new PresencedError("timeout", "no answer from the server"));
      }, this.options.helloTimeout);
      ws.onopen = () => {
        if (ws !== this._ws) return;
        const hello = { type: "hello", id: "hello", device: this.options.device };
        if (this.options.token) hello.token = this.options.token;
        if (this.options.accepts) hello.accepts = this.options.accepts;
        if (this.options.calls) hello.accepts = [...new Set([...(this.options.accepts || ["message", "signal"]), "call"])];
        if (this.options.topics) hello.topics = this.options.topics;
        if (this.options.presence) hello.presence = this.options.presence;
        if (resume) hello.resume = resume;
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = (ev) => {
        if (ws !== this._ws) return;
        let f;
        try {
          f = JSON.parse(ev.data);
        } catch (_) {
          return;
        }
        this._received = Date.now();
        if (welcomed) {
          this._frame(f);
          return;
        }
        if (f.type !== "welcome") {
          // this socket is done: the caller decides what comes next
          this._supersede();
          reject(new PresencedError(f.code || "protocol", f.message || "no welcome"));
          return;
        }
        welcomed = true;
        clearTimeout(helloTimer);
        if (!resume) this._forget(); // a new session counts from 1
        this.session = f.session;
        this.address = f.address;
        this._backoff = 500;
        this._startTimers(f.heartbeat || 30);
        this._setState("online");
        this._emit("welcome", f);
        resolve(f);
      };
      ws.onclose = () => {
        clearTimeout(helloTimer);
        // rejecting a settled promise does nothing; this one may still be
        // waiting for a welcome, also when the socket was superseded
        reject(new PresencedError("closed", "connection closed before welcome"));
        if (ws !== this._ws) return;
        if (welcomed) this._lost();
        else this._supersede(); // the caller of _open decides
      };
    });
  }

  // _lost handles the loss of the current, welcomed socket: reconnect, or
  // stop if the server said goodbye for good.
  _lost() {
    this._supersede();
    this._emit("close", {});
    const g = this._goaway;
    if (g && !g.reconnect) this._setState("closed", new PresencedError("goaway", g.reason || "closed by the server"));
    else if (this.options.autoReconnect) this._reconnect();
    else this._setState("closed", new PresencedError("closed", "connection closed"));
  }

  _cancelRetry() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  // _reconnect schedules the one retry: resume the session, or open a new
  // one if it has ended; again with backoff until one works.
  _reconnect() {
    this._setState("reconnecting");
    this._cancelRetry();
    const delay = this._backoff;
    this._backoff = Math.min(this._backoff * 2, 15000);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._retry();
    }, delay);
  }

  async _retry() {
    if (this.state !== "reconnecting") return;
    try {
      if (this.session) {
        try {
          await this._open({ session: this.session, seq: this.lastSeq });
          return;
        } catch (e) {
          if (e.code !== "session_expired" || this.state !== "reconnecting") throw e;
          this._forget();
        }
      }
      await this._open(null);
    } catch (e) {
      if (this.state !== "reconnecting") return; // closed or connected anew meanwhile
      if (e.code === "unauthorized") this._setState("closed", e);
      else this._reconnect();
    }
  }

  _startTimers(heartbeat) {
    this._stopTimers();
    this._received = Date.now();
    this._heartbeat = setInterval(() => {
      // pings are answered: silence for two heartbeats means the server or
      // the network is gone without a word (a laptop waking up …)
      if (Date.now() - this._received > 2 * heartbeat * 1000) this._lost();
      else this._send({ type: "ping" });
    }, (heartbeat * 1000) / 2);
    this._acker = setInterval(() => this._ack(), 2000);
  }

  _stopTimers() {
    clearInterval(this._heartbeat);
    clearInterval(this._acker);
  }

  _ack() {
    if (this.lastSeq > this._acked) {
      this._acked = this.lastSeq;
      this._send({ type: "ack", seq: this.lastSeq });
    }
  }

  _send(frame) {
    if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(JSON.stringify(frame));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _frame(f) {
    if (f.seq) {
      if (f.seq <= this.lastSeq) return; // replayed after a resume
      this.lastSeq = f.seq;
      if (this.lastSeq - this._acked >= 16) this._ack();
    } else if (f.id && this._pending.has(f.id)) {
      const p = this._pending.get(f.id);
      this._pending.delete(f.id);
      if (f.type === "error") p.reject(new PresencedError(f.code, f.message));
      else p.resolve(f);
      return;
    }
    switch (f.type) {
      case "snapshot":
        this.self = f.self;
        this.presence = new Map((f.presence || []).map((p) => [p.address, p]));
        this.subscriptions = new Map((f.subscriptions || []).map((s) => [s.address, s]));
        this.privacy = f.privacy;
        this.personal = new Map();
        for (const it of f.personal || []) this._personal(it);
        break;
      case "personal":
        this._personal(f);
        break;
      case "presence":
        // one's own presence: by address, or, in an app's session, by
        // the handle the snapshot named one's self with
        if ((this.address && f.address === this.address.split("/")[0]) || (this.self && f.address === this.self.address)) this.self = f;
        else this.presence.set(f.address, f);
        break;
      case "subscription":
        if (f.subscription === "none" && !f.pending_in && !f.pending_out && !f.preapproved) this.subscriptions.delete(f.address);
        else this.subscriptions.set(f.address, f);
        if (f.subscription !== "to" && f.subscription !== "both") {
          this.presence.delete(f.address);
          this.personal.delete(f.address);
        }
        break;
      case "privacy":
        this.privacy = f;
        break;
      case "goaway":
        this._goaway = f; // acted on when this socket closes
        break;
      case "call":
        this._callEvent(f);
        break;
      case "signal":
        if (f.call) this._callEvent(f);
        break;
    }
    this._emit(f.type, f);
    this._emit("change", f);
  }

  _personal(f) {
    let topics = this.personal.get(f.from);
    if (!topics) this.personal.set(f.from, (topics = new Map()));
    // retracted, or an empty item: the user stopped publishing that
    if (f.retracted || !f.data || !Object.keys(f.data).length) topics.delete(f.topic);
    else topics.set(f.topic, { item: f.item, data: f.data, published: f.published });
  }

  // request sends a frame and resolves with its reply (rejects on error).
  request(type, fields = {}) {
    const id = "r" + ++this._nextId;
    return new Promise((resolve, reject) => {
      // only on a welcomed socket (a bye also while closing)
      if (!this._ws || this._ws.readyState !== WebSocket.OPEN || (this.state !== "online" && type !== "bye")) {
        reject(new PresencedError("closed", "not connected"));
        return;
      }
      this._pending.set(id, { resolve, reject });
      this._ws.send(JSON.stringify({ ...fields, type, id }));
    });
  }

  setPresence(p) { return this.request("presence", p); }
  subscribe(address) { return this.request("subscribe", { address }); }
  approve(address) { return this.request("approve", { address }); }
  deny(address) { return this.request("deny", { address }); }
  unsubscribe(address) { return this.request("unsubscribe", { address }); }
  remove(address) { return this.request("remove", { address }); }
  block(address) { return this.request("block", { address }); }
  unblock(address) { return this.request("unblock", { address }); }
  hide(address) { return this.request("hide", { address }); }
  unhide(address) { return this.request("unhide", { address }); }
  setInvisible(invisible) { return this.request("invisible", { invisible }); }
  message(to, body) { return this.request("message", { to, body }); }
  signal(to, data) { return this.request("signal", { to, data }); }
  publish(topic, data) { return this.request("publish", { topic, data }); }
  retract(topic) { return this.request("retract", { topic }); }

  // call rings `to` (an address, or a handle in an app's session) and
  // resolves with the Call once the server rang at least one session; it
  // rejects with a PresencedError: unavailable (offline, unknown or not
  // reachable: alike), not_accepted (online, but takes no calls), busy,
  // rate_limited, limit, forbidden. data, optional JSON, goes with the ring.
  async call(to, data) {
    const fields = { to };
    if (data !== undefined) fields.data = data;
    const r = await this.request("call", fields);
    const c = new Call(this, r.call, to, "outgoing", data);
    c.rung = r.delivered || 0;
    this.calls.set(c.id, c);
    const early = this._early.filter((f) => f.call === c.id);
    this._early = this._early.filter((f) => f.call !== c.id);
    for (const f of early) this._callEvent(f);
    return c;
  }

  _callEvent(f) {
    if (f.type === "call" && f.event === "incoming") {
      const c = new Call(this, f.call, f.from, "incoming", f.data);
      this.calls.set(c.id, c);
      this.request("ringing", { call: c.id }).catch(() => {}); // per-session acknowledgement to the caller
      this._emit("incoming", c);
      return;
    }
    const c = this.calls.get(f.call);
    if (!c) {
      // the reply to our call frame may not be in yet: keep a few
      if (this._early.length < 64) this._early.push(f);
      return;
    }
    if (f.type === "signal") {
      c._emit("signal", { data: f.data, from: f.from });
      return;
    }
    switch (f.event) {
      case "ringing":
        c.ringing.push(f.from);
        c._emit("ringing", { from: f.from });
        break;
      case "answered":
        c.state = "answered";
        c.peer = f.from;
        c._emit("answered", { from: f.from, data: f.data });
        break;
      case "ended":
        c._end(f.reason, f.from, false);
        break;
    }
  }

  // close ends the session for good (contacts see it leave at once).
  async close() {
    this._cancelRetry();
    const live = this.state === "online";
    this._setState("closed");
    if (live) {
      // the state is already closed, so a drop meanwhile reconnects nothing
      try {
        await this.request("bye");
      } catch (_) {
        /* already gone */
      }
    }
    this._supersede();
  }
}

// Call is one call, placed with Presenced.call or received as the
// "incoming" event. Its state is ringing, answered or ended (reason says
// why: declined, busy, cancelled, hangup, timeout, answered_elsewhere,
// gone). Events: ringing ({from}: a session of the callee acknowledged
// the ring; outgoing calls), answered ({from, data}), signal ({data,
// from}: the other party's signal), ended ({reason, from, local}: local
// is true when this side ended it).
export class Call extends EventTarget {
  constructor(p, id, peer, direction, data) {
    super();
    this._p = p;
    this.id = id;
    this.peer = peer; // the caller's session, or whom we called (then the session that answered)
    this.direction = direction; // "outgoing" or "incoming"
    this.data = data; // what the caller sent with the ring
    this.state = "ringing";
    this.reason = "";
    this.ringing = []; // outgoing: the callee's sessions that acknowledged the ring
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _end(reason, from, local) {
    if (this.state === "ended") return;
    this.state = "ended";
    this.reason = reason;
    this._p.calls.delete(this.id);
    this._emit("ended", { reason, from, local });
  }

  _req(type, fields) {
    return this._p.request(type, { ...fields, call: this.id });
  }

  // answer takes an incoming call (data optional).
  async answer(data) {
    await this._req("answer", data === undefined ? {} : { data });
    if (this.state === "ringing") this.state = "answered";
  }

  // reject refuses an incoming call: declined, or busy.
  async reject(busy = false) {
    const reason = busy ? "busy" : "declined";
    await this._req("reject", { reason });
    this._end(reason, "", true);
  }

  // cancel gives up an outgoing call before it is answered.
  async cancel() {
    await this._req("cancel");
    this._end("cancelled", "", true);
  }

  // hangup leaves the call, whatever its state.
  async hangup() {
    if (this.state === "ended") return;
    const reason = this.state === "answered" ? "hangup" : this.direction === "outgoing" ? "cancelled" : "declined";
    try {
      await this._req("hangup");
    } finally {
      this._end(reason, "", true);
    }
  }

  // signal sends JSON (a WebRTC offer, answer or ICE candidate) to the
  // other party of the answered call.
  signal(data) {
    return this._req("signal", { data });
  }
}

// pickContacts opens presenced's contact picker (docs/apps.md, "Pick
// contacts") in a popup, for an app whose user granted it contacts:pick,
// and resolves with the contacts the user picked: [{handle, name?}], the
// handles the app's sessions know them by (names only if the user shared
// them); [] if the user cancelled. It rejects if the popup cannot open or
// is closed without an answer. Call it from a user's click: browsers block
// popups opened otherwise.
//
//   const picked = await pickContacts({ server: "https://presence.example", clientId, multiple: true });
//
// Options: server (presenced's URL; this page's origin by default),
// clientId (the app's), multiple (several contacts, else one), subject
// (optional: the ID token's sub, so that the picker refuses another user
// signed in to presenced), features (window.open's, for the popup's size).
// The page calling it must be on the origin of one of the app's registered
// redirect URIs: the picker answers that origin only.
export function pickContacts(options = {}) {
  const server = new URL(options.server || location.origin);
  const url = new URL("/oauth/pick", server);
  url.searchParams.set("client_id", options.clientId || "");
  url.searchParams.set("origin", location.origin);
  if (options.multiple) url.searchParams.set("multiple", "1");
  if (options.subject) url.searchParams.set("sub", options.subject);
  return new Promise((resolve, reject) => {
    // the picker's answer comes with window.opener: no "noopener" here
    const popup = window.open(url.href, "presenced-picker", options.features || "popup,width=480,height=640");
    if (!popup) {
      reject(new PresencedError("blocked", "the contact picker's window could not open (a popup blocker?)"));
      return;
    }
    let timer = null;
    let settled = false;
    const done = () => {
      settled = true;
      window.removeEventListener("message", onMessage);
      clearInterval(timer);
    };
    const onMessage = (e) => {
      // only presenced's picker window, from presenced's origin
      if (e.origin !== server.origin || e.source !== popup) return;
      const m = e.data;
      if (!m || m.type !== "presenced:picked" || !Array.isArray(m.contacts)) return;
      done();
      resolve(m.contacts.map((c) => (c.name ? { handle: c.handle, name: c.name } : { handle: c.handle })));
    };
    window.addEventListener("message", onMessage);
    timer = setInterval(() => {
      if (!popup.closed) return;
      clearInterval(timer);
      // the picker closes itself right after posting its answer: give the
      // message a moment to arrive before taking the close as no answer
      setTimeout(() => {
        if (settled) return;
        done();
        reject(new PresencedError("closed", "the contact picker was closed without an answer"));
      }, 500);
    }, 300);
  });
}
