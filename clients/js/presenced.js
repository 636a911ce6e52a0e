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
// Without a WebSocket (blocked) it falls back to long-polling (/v1/poll).
// Rooms (docs/rooms.md): p.join(room, nick), p.sendToRoom, p.rooms …;
// offline messages (docs/offline.md) arrive as "offline" events and are
// acknowledged; p.history(query) pages one's history; enableNotifications
// subscribes the device to Web Push (docs/push.md). Types: presenced.d.ts.
//
// Calls (docs/calls.md): with the option calls: true the session is rung.
//
//   p.addEventListener("incoming", (e) => e.detail.answer()); // e.detail: a Call
//   const call = await p.call("bob@example.org");
//   call.addEventListener("answered", () => call.signal({ sdp: "…" }));

export const PROTOCOL = "presenced.v1";

// the WebSocket readyState values (also those of PollSocket below)
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// PollSocket carries the frames over HTTP long-polling (POST /v1/poll,
// docs/protocol.md) behind the part of the WebSocket interface the client
// uses (readyState, send, close, onopen, onmessage, onclose), so that the
// client's session logic is the same on both. It needs a bearer token
// (/v1/poll takes no cookie) and the server's origin (/v1/poll sends no
// CORS headers). At most one poll is held; a frame to send cuts it short.
// A failed request, or a session the server no longer has, closes it: the
// client then resumes (hello with resume) on a new one, as after a drop.
export class PollSocket {
  constructor(url, token, wait = 25) {
    this.url = url;
    this.token = token;
    this.wait = wait;
    this.readyState = 0;
    this.session = null;
    this.seq = 0; // last event seq received: the polls' ack
    this._queue = [];
    this._held = null; // the AbortController of the held poll
    setTimeout(() => {
      if (this.readyState !== 0) return;
      this.readyState = OPEN;
      if (this.onopen) this.onopen({});
      this._run();
    }, 0);
  }

  send(data) {
    if (this.readyState !== OPEN) return;
    const f = JSON.parse(data);
    if (f.type === "ack") return; // every poll acknowledges what it received
    if (f.type === "hello") {
      delete f.token; // it goes in the Authorization header
      if (f.resume) this.seq = f.resume.seq;
    }
    this._queue.push(f);
    if (this._held) this._held.abort(); // unacknowledged events are sent again
  }

  close() {
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSED;
    if (this._held) this._held.abort();
    setTimeout(() => this.onclose && this.onclose({ code: 1000 }), 0);
  }

  async _run() {
    while (this.readyState === OPEN) {
      const frames = this._queue.splice(0, 32);
      if (!this.session && !frames.length) {
        await new Promise((r) => setTimeout(r, 10)); // nothing to say before hello
        continue;
      }
      const body = { ack: this.seq, frames, wait: frames.length ? 0 : this.wait };
      if (this.session) body.session = this.session;
      const ctl = new AbortController();
      if (!frames.length) this._held = ctl;
      let res;
      try {
        const r = await fetch(this.url + "/v1/poll", {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + this.token },
          body: JSON.stringify(body),
          signal: ctl.signal,
          credentials: "omit",
        });
        res = await r.json();
        if (!r.ok) {
          // a problem document: the request itself was refused (401 …)
          this._deliver({ type: "error", id: frames.length && frames[0].type === "hello" ? frames[0].id : "", code: res.code || "unauthorized", message: res.detail || res.title || "poll refused" });
          this.close();
          return;
        }
      } catch (e) {
        if (this._held === ctl) this._held = null;
        if (ctl.signal.aborted && this.readyState === OPEN) continue; // cut short to send
        this.close();
        return;
      }
      if (this._held === ctl) this._held = null;
      if (this.readyState !== OPEN) return;
      let ended = false;
      for (const f of res.frames || []) {
        if (f.type !== "welcome" && f.seq > this.seq) this.seq = f.seq;
        // an error about the poll itself (no id): the session is gone
        if (f.type === "error" && !f.id && this.session) ended = true;
        if (f.type === "goaway") ended = true;
        this._deliver(f);
        if (this.readyState !== OPEN) return;
      }
      if (res.session) this.session = res.session;
      if (ended) {
        this.close();
        return;
      }
    }
  }

  _deliver(f) {
    if (this.onmessage) this.onmessage({ data: JSON.stringify(f) });
  }
}


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
    this.options = { url: globalThis.location ? location.origin : "", device: "web", autoReconnect: true, helloTimeout: 20000, transport: "auto", pollWait: 25, ...options };
    // "websocket" or "longpoll": what the current (or next) connection uses;
    // "auto" starts with a WebSocket and falls back to long-polling (with a
    // token) when one cannot be opened
    this.transport = this.options.transport === "longpoll" ? "longpoll" : "websocket";
    this.rooms = new Map(); // room → {room, self, occupants: Map nick → occupant, count, mode, subject, subject_by, messages}
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
    this._offlineSeen = new Set(); // offline_ids received (a repeat is dropped)
    this._offlineToAck = [];
  }

  // connect opens a new session and resolves with the welcome frame.
  async connect() {
    this._cancelRetry();
    if (this.options.transport !== "longpoll") this.transport = "websocket";
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
    this.rooms = new Map(); // a new session is in no room
    this._offlineSeen = new Set();
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
    if (ws && ws.readyState < CLOSING) ws.close();
  }

  // _open opens a socket, makes it the current one and says hello; it
  // resolves with the welcome or rejects with the error that came instead.
  _open(resume) {
    this._supersede();
    let ws;
    if (this.transport === "longpoll") ws = new PollSocket(this.options.url, this.options.token, this.options.pollWait);
    else {
      try {
        ws = new WebSocket(this.options.url.replace(/^http/, "ws") + "/v1/ws", PROTOCOL);
      } catch (e) {
        if (!this._canPoll()) throw e;
        this.transport = "longpoll";
        this._emit("transport", { transport: "longpoll" });
        return this._open(resume);
      }
    }
    this._ws = ws;
    let opened = false;
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
        opened = true;
        if (this.transport === "websocket") this._wsWorked = true;
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
        if (ws === this._ws && !opened && this.transport === "websocket" && this._canPoll()) {
          // the WebSocket could not be opened (blocked by a proxy …): the
          // same session over long-polling
          this._ws = null;
          this.transport = "longpoll";
          this._emit("transport", { transport: "longpoll" });
          this._open(resume).then(resolve, reject);
          return;
        }
        reject(new PresencedError("closed", "connection closed before welcome"));
        if (ws !== this._ws) return;
        if (welcomed) this._lost();
        else this._supersede(); // the caller of _open decides
      };
    });
  }

  _canPoll() {
    return this.options.transport === "auto" && !!this.options.token && typeof fetch === "function";
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
    // a WebSocket that worked before failed to open because the server or
    // the network was away, not because it is blocked: try it first again
    if (this.options.transport === "auto" && this._wsWorked) this.transport = "websocket";
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
    if (this._ws && this._ws.readyState === OPEN) this._ws.send(JSON.stringify(frame));
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
      case "offline":
        if (this._offlineSeen.has(f.offline_id)) return; // delivered again: already had it
        this._offlineSeen.add(f.offline_id);
        if (this.options.ackOffline !== false) this._offlineToAck.push(f.offline_id);
        queueMicrotask(() => this._flushOfflineAcks());
        break;
      case "room_snapshot":
      case "room_diff":
      case "room_message":
      case "room_subject":
      case "room_left":
        this._room(f);
        break;
      case "signal":
        if (f.call) this._callEvent(f);
        break;
    }
    this._emit(f.type, f);
    this._emit("change", f);
  }

  _flushOfflineAcks() {
    while (this._offlineToAck.length) {
      const ids = this._offlineToAck.splice(0, 256);
      this.ackOffline(ids).catch(() => {
        // not acknowledged: the server offers them again next time
        for (const id of ids) this._offlineSeen.delete(id);
      });
    }
  }

  // ackOffline deletes stored messages by offline_id (the client has
  // them); done by itself for every offline event unless ackOffline: false.
  ackOffline(ids) {
    return this.request("offline_ack", { offline_ids: ids });
  }

  // history resolves with a page of one's own 1-1 message history, oldest
  // first: {messages, complete} (docs/offline.md). query: with, start, end,
  // after, before, last, max.
  async history(query = {}) {
    const r = await this.request("history", query);
    return { messages: r.messages || [], complete: !!r.complete };
  }

  // _room keeps this.rooms current: the room's occupants by nick, its
  // subject and the messages received (the snapshot's history, then live).
  _room(f) {
    if (f.type === "room_snapshot") {
      const occupants = new Map((f.occupants || []).map((o) => [o.nick, o]));
      if (f.self) occupants.set(f.self.nick, f.self);
      this.rooms.set(f.room, {
        room: f.room, self: f.self, occupants, count: f.count, mode: f.mode,
        subject: f.subject || "", subject_by: f.subject_by || "", messages: [...(f.history || [])],
      });
      return;
    }
    const r = this.rooms.get(f.room);
    if (!r) return;
    switch (f.type) {
      case "room_diff":
        for (const o of f.left || []) r.occupants.delete(o.nick);
        for (const o of [...(f.joined || []), ...(f.changed || [])]) {
          r.occupants.set(o.nick, o);
          if (r.self && o.nick === r.self.nick) r.self = o;
        }
        if (f.count !== undefined) r.count = f.count;
        break;
      case "room_message":
        r.messages.push(f);
        if (r.messages.length > (this.options.roomMessages || 100)) r.messages.shift();
        break;
      case "room_subject":
        r.subject = f.subject || "";
        r.subject_by = f.nick || "";
        break;
      case "room_left":
        if (!r.self || f.nick === r.self.nick) this.rooms.delete(f.room); // we left, were kicked or banned
        else r.occupants.delete(f.nick);
        break;
    }
  }

  // Rooms (docs/rooms.md). join resolves once joined; the room_snapshot
  // event follows. options: presence, metadata, history (messages wanted).
  join(room, nick, options = {}) { return this.request("join", { ...options, room, nick }); }
  async leave(room) {
    const r = await this.request("leave", { room });
    this.rooms.delete(room);
    return r;
  }
  sendToRoom(room, body) { return this.request("room_message", { room, body }); }
  // sendPrivate sends the occupant nick a private message through the room
  // (a room_private event for it).
  sendPrivate(room, nick, body) { return this.request("room_private", { room, nick, body }); }
  setSubject(room, subject) { return this.request("subject", { room, subject }); }
  kick(room, nick, reason) { return this.request("kick", reason ? { room, nick, reason } : { room, nick }); }
  // ban by an occupant's nick, or by {address} (an address or handle)
  ban(room, who, reason) {
    const f = typeof who === "string" ? { room, nick: who } : { room, ...who };
    if (reason) f.reason = reason;
    return this.request("ban", f);
  }
  setAffiliation(room, who, affiliation, reason) {
    const f = typeof who === "string" ? { room, nick: who, affiliation } : { room, ...who, affiliation };
    if (reason) f.reason = reason;
    return this.request("affiliation", f);
  }
  setRoomMode(room, mode) { return this.request("room_config", { room, mode }); }
  invite(room, to, reason) { return this.request("invite", reason ? { room, to, reason } : { room, to }); }

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
      if (!this._ws || this._ws.readyState !== OPEN || (this.state !== "online" && type !== "bye")) {
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

  // enableNotifications: enableNotifications below, with this client's
  // server and token.
  enableNotifications(options = {}) {
    return enableNotifications({ server: this.options.url, token: this.options.token, ...options });
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


// Sign-in of an app (docs/apps.md): the OAuth 2.1 authorization code flow
// with PKCE (S256) against presenced, for a public app in the browser.
// signIn() leaves the page for presenced's consent page; on the way back
// (the redirect URI, a page of the app), finishSignIn() trades the code for
// tokens. What is kept between the two (the PKCE verifier and the state) is
// in sessionStorage, per tab; so is the token finishSignIn() returns, until
// it expires, so that a reload keeps the user signed in.

const signInKey = (clientId) => "presenced:signin:" + clientId;
const tokenKey = (clientId) => "presenced:token:" + clientId;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// signIn starts the sign-in: it makes a PKCE verifier and a state, keeps
// them, and sends the page to presenced's /oauth/authorize. Options:
// clientId (required), redirectUri (one of the app's registered ones; this
// page's URL without query or fragment by default), scope (a string or a
// list; "openid" is always asked), server (presenced's URL, this page's
// origin by default).
export async function signIn(options = {}) {
  if (!options.clientId) throw new PresencedError("invalid", "signIn needs the app's clientId");
  const server = new URL(options.server || location.origin);
  const redirectUri = options.redirectUri || location.origin + location.pathname;
  const scopes = new Set(["openid", ...(Array.isArray(options.scope) ? options.scope : String(options.scope || "").split(/\s+/))]);
  scopes.delete("");
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(signInKey(options.clientId), JSON.stringify({ verifier, state, redirectUri, server: server.origin }));
  const u = new URL("/oauth/authorize", server);
  u.search = new URLSearchParams({ response_type: "code", client_id: options.clientId, redirect_uri: redirectUri,
    scope: [...scopes].join(" "), state, code_challenge: challenge, code_challenge_method: "S256" });
  location.assign(u.href);
}

// finishSignIn completes a sign-in on the page presenced sent the user back
// to: with a code and the state signIn() kept in this page's URL, it trades
// the code for tokens at /oauth/token, removes the code from the address
// bar and resolves with {access_token, id_token, scope, expires_at, sub};
// without one, it resolves with the token kept from before if it is still
// valid, else null. It rejects with a PresencedError: the authorization
// server's error (access_denied when the user said no …), state (a state
// that is not the one this tab sent: a forged or stale redirect), or the
// token endpoint's error. Options: clientId (required).
export async function finishSignIn(options = {}) {
  if (!options.clientId) throw new PresencedError("invalid", "finishSignIn needs the app's clientId");
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) {
    const kept = JSON.parse(sessionStorage.getItem(tokenKey(options.clientId)) || "null");
    return kept && kept.expires_at > Date.now() + 10000 ? kept : null;
  }
  const pending = JSON.parse(sessionStorage.getItem(signInKey(options.clientId)) || "null");
  sessionStorage.removeItem(signInKey(options.clientId));
  history.replaceState(null, "", location.pathname); // the code is used once: not in the history, not reloaded
  if (!pending || q.get("state") !== pending.state) {
    throw new PresencedError("state", "this sign-in was not started on this page (its state does not match)");
  }
  if (q.has("error")) throw new PresencedError(q.get("error"), q.get("error_description") || q.get("error"));
  const r = await fetch(pending.server + "/oauth/token", { method: "POST", body: new URLSearchParams({
    grant_type: "authorization_code", code: q.get("code"), redirect_uri: pending.redirectUri,
    client_id: options.clientId, code_verifier: pending.verifier }) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok || !body.access_token) {
    throw new PresencedError(body.error || "http_" + r.status, body.error_description || "the token endpoint refused the code");
  }
  const token = { access_token: body.access_token, id_token: body.id_token, scope: body.scope,
    expires_at: Date.now() + (body.expires_in || 0) * 1000, sub: idTokenSubject(body.id_token) };
  sessionStorage.setItem(tokenKey(options.clientId), JSON.stringify(token));
  return token;
}

// signOut forgets the token finishSignIn() kept (it does not revoke it).
export function signOut(options = {}) {
  sessionStorage.removeItem(tokenKey(options.clientId));
}

// idTokenSubject is the ID token's sub, read without checking the
// signature: the token came straight from the token endpoint over the
// page's own connection, and sub only names the user to the picker.
function idTokenSubject(idToken) {
  try {
    return JSON.parse(atob(idToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    return undefined;
  }
}

// base64url to the bytes applicationServerKey takes
function base64urlBytes(b64) {
  const s = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

// enableNotifications has this device woken by Web Push (docs/push.md)
// when a message or a call waits and no session took it: it registers the
// app's service worker (options.serviceWorker, its URL: required; the app
// shows the notifications in its push handler), asks for permission,
// subscribes with the server's key (GET /v1/push/key) and hands the
// subscription to the server (POST /v1/push/subscriptions). It resolves
// with the server's answer ({id, …}); it rejects with a PresencedError:
// unsupported (no service workers or Push API), denied (the user or the
// browser refused notifications), or the server's code (forbidden: an
// app's token; the push routes are the user's own). Options: server (this
// page's origin by default), token (else the page's session cookie),
// serviceWorker, scope (the worker's), device (a name for the list of
// notified devices; the browser and OS by default).
export async function enableNotifications(options = {}) {
  if (!options.serviceWorker) throw new PresencedError("invalid", "serviceWorker (the URL of the app's service worker) is required");
  if (!globalThis.navigator || !("serviceWorker" in navigator) || !globalThis.PushManager) {
    throw new PresencedError("unsupported", "this browser has no service workers or Push API");
  }
  const server = (options.server || location.origin).replace(/\/$/, "");
  const headers = { "Content-Type": "application/json" };
  if (options.token) headers.Authorization = "Bearer " + options.token;
  const api = async (method, path, body) => {
    const r = await fetch(server + path, { method, headers, body: body && JSON.stringify(body), credentials: options.token ? "omit" : "same-origin" });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new PresencedError(j.code || "http_" + r.status, j.detail || j.title || r.statusText);
    return j;
  };
  const reg = await navigator.serviceWorker.register(options.serviceWorker, options.scope ? { scope: options.scope } : undefined);
  if ((await Notification.requestPermission()) !== "granted") throw new PresencedError("denied", "notifications are not allowed for this page");
  const { key } = await api("GET", "/v1/push/key");
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64urlBytes(key) });
  return api("POST", "/v1/push/subscriptions", { ...sub.toJSON(), device: options.device || deviceName() });
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return (browser + (os ? " on " + os : "")).slice(0, 64);
}
