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
//   await p.connect();
//   await p.setPresence({ availability: "away", status: "lunch" });

export const PROTOCOL = "presenced.v1";

export class PresencedError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Presenced extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = { url: globalThis.location ? location.origin : "", device: "web", autoReconnect: true, ...options };
    this.session = null; // resource of our session
    this.address = null; // full address
    this.self = null; // own aggregated presence
    this.presence = new Map(); // bare address → presence
    this.subscriptions = new Map(); // bare address → subscription view
    this.privacy = { invisible: false, blocks: [], hidden: [] };
    this.lastSeq = 0;
    this._acked = 0;
    this._nextId = 0;
    this._pending = new Map();
    this._closing = false;
    this._backoff = 500;
  }

  // connect opens the session and resolves with the welcome frame.
  connect() {
    this._closing = false;
    return this._open(null);
  }

  _open(resume) {
    const url = this.options.url.replace(/^http/, "ws") + "/v1/ws";
    const ws = new WebSocket(url, PROTOCOL);
    this._ws = ws;
    return new Promise((resolve, reject) => {
      let welcomed = false;
      ws.onopen = () => {
        const hello = { type: "hello", id: "hello", device: this.options.device };
        if (this.options.token) hello.token = this.options.token;
        if (this.options.accepts) hello.accepts = this.options.accepts;
        if (this.options.presence) hello.presence = this.options.presence;
        if (resume) hello.resume = resume;
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = (ev) => {
        const f = JSON.parse(ev.data);
        if (!welcomed) {
          welcomed = true;
          if (f.type !== "welcome") {
            reject(new PresencedError(f.code || "protocol", f.message || "no welcome"));
            ws.close();
            return;
          }
          this.session = f.session;
          this.address = f.address;
          this._backoff = 500;
          this._startTimers(f.heartbeat || 30);
          this._emit("welcome", f);
          resolve(f);
          return;
        }
        this._frame(f);
      };
      ws.onclose = () => {
        this._stopTimers();
        for (const [, p] of this._pending) p.reject(new PresencedError("closed", "connection closed"));
        this._pending.clear();
        if (!welcomed) {
          reject(new PresencedError("closed", "connection closed before welcome"));
        }
        this._emit("close", {});
        if (welcomed && !this._closing && this.options.autoReconnect) this._reconnect();
      };
    });
  }

  _reconnect() {
    const delay = this._backoff;
    this._backoff = Math.min(this._backoff * 2, 15000);
    setTimeout(async () => {
      if (this._closing) return;
      try {
        await this._open({ session: this.session, seq: this.lastSeq });
      } catch (e) {
        if (e.code === "session_expired") {
          this.lastSeq = 0;
          this.connect().catch(() => this._reconnect());
        } else {
          this._reconnect();
        }
      }
    }, delay);
  }

  _startTimers(heartbeat) {
    this._stopTimers();
    this._heartbeat = setInterval(() => this._send({ type: "ping" }), (heartbeat * 1000) / 2);
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
        break;
      case "presence":
        if (this.address && f.address === this.address.split("/")[0]) this.self = f;
        else this.presence.set(f.address, f);
        break;
      case "subscription":
        if (f.subscription === "none" && !f.pending_in && !f.pending_out && !f.preapproved) this.subscriptions.delete(f.address);
        else this.subscriptions.set(f.address, f);
        if (f.subscription !== "to" && f.subscription !== "both") this.presence.delete(f.address);
        break;
      case "privacy":
        this.privacy = f;
        break;
      case "goaway":
        if (!f.reconnect) this._closing = true;
        break;
    }
    this._emit(f.type, f);
    this._emit("change", f);
  }

  // request sends a frame and resolves with its reply (rejects on error).
  request(type, fields = {}) {
    const id = "r" + ++this._nextId;
    return new Promise((resolve, reject) => {
      if (!this._ws || this._ws.readyState !== WebSocket.OPEN) {
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

  // close ends the session for good (contacts see it leave at once).
  async close() {
    this._closing = true;
    try {
      await this.request("bye");
    } catch (_) {
      /* already gone */
    }
    if (this._ws) this._ws.close();
  }
}
