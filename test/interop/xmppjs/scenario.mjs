// Interop scenario for @xmpp/client (npm) against any XMPP server, over TCP
// with STARTTLS (`node scenario.mjs tcp`) or XMPP over WebSocket, RFC 7395
// (`node scenario.mjs websocket`).
//
// Two registered accounts that are strangers sign in, subscribe to each
// other (RFC 6121 § 3), and exchange presence and messages. Every check is
// what the RFCs require of a server, so it passes against Prosody too.
//
// Environment: XMPP_HOST, XMPP_PORT, XMPP_WS (ws:// URL), XMPP_DOMAIN, ALICE,
// BOB, ALICE_PASSWORD, BOB_PASSWORD; NODE_EXTRA_CA_CERTS names the
// certificate to trust. Exit status 0 when every step passed.
import { createHash } from "node:crypto";
import { client, xml } from "@xmpp/client";
import { WebSocket } from "ws";

// Node before 22 has no WebSocket of its own; @xmpp/websocket uses the global one.
globalThis.WebSocket ??= WebSocket;

const env = process.env;
const TIMEOUT = 10000;
const transport = process.argv[2] || "tcp";
const service =
  transport === "websocket" ? env.XMPP_WS : `xmpp://${env.XMPP_HOST}:${env.XMPP_PORT}`;

function check(cond, what) {
  if (!cond) throw new Error(what);
  console.log("ok -", what);
}

// connect signs in and queues every stanza the account receives.
async function connect(local, password) {
  const x = client({ service, domain: env.XMPP_DOMAIN, resource: "interop", username: local, password });
  x.queue = [];
  x.waiters = [];
  x.on("error", (err) => console.log(local, "error:", err.message));
  x.on("stanza", (st) => {
    if (st.is("iq")) return; // answered by the library (roster pushes …)
    x.queue.push(st);
    x.waiters.splice(0).forEach((w) => w());
  });
  // expect resolves with the first queued stanza that matches, dropping the others before it
  x.expect = async (what, match) => {
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      while (x.queue.length) {
        const st = x.queue.shift();
        if (match(st)) return st;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${local}: no ${what} within ${TIMEOUT} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        x.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  };
  x.address = await x.start();
  return x;
}

const bare = (a) => a.split("/")[0];

// Entity capabilities (XEP-0115) by hand: @xmpp/client has no plugin for
// them. The features ask for tune notifications (XEP-0163 +notify).
const FEATURES = ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
  "http://jabber.org/protocol/tune", "http://jabber.org/protocol/tune+notify"];
const IDENTITY = { category: "client", type: "pc", name: "interop" };
const VER = createHash("sha1")
  .update(`${IDENTITY.category}/${IDENTITY.type}//${IDENTITY.name}<` + [...FEATURES].sort().map((f) => f + "<").join(""))
  .digest("base64");
const NODE = "https://presenced.invalid/interop";

function announceCaps(x) {
  x.iqCallee.get("http://jabber.org/protocol/disco#info", "query", () =>
    xml("query", { xmlns: "http://jabber.org/protocol/disco#info", node: `${NODE}#${VER}` },
      xml("identity", IDENTITY), ...FEATURES.map((f) => xml("feature", { var: f }))));
  return xml("c", { xmlns: "http://jabber.org/protocol/caps", hash: "sha-1", node: NODE, ver: VER });
}
const rosterGet = (x) => x.iqCaller.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));

async function scenario() {
  const alice = await connect(env.ALICE, env.ALICE_PASSWORD);
  const bob = await connect(env.BOB, env.BOB_PASSWORD);
  const a = alice.address.toString(), b = bob.address.toString();
  check(bare(a) === `${env.ALICE}@${env.XMPP_DOMAIN}` && b.includes("/"), `both signed in over ${transport} and bound a resource`);

  for (const x of [alice, bob]) {
    await rosterGet(x);
    await x.send(xml("presence", {}, announceCaps(x)));
  }
  check(true, "roster fetched and initial presence sent");

  await alice.send(xml("presence", { to: bare(b), type: "subscribe" }));
  await bob.expect("subscription request", (s) => s.is("presence") && s.attrs.type === "subscribe" && s.attrs.from === bare(a));
  check(true, "bob received alice's subscription request from her bare address");
  await bob.send(xml("presence", { to: bare(a), type: "subscribed" }));
  await alice.expect("approval", (s) => s.is("presence") && s.attrs.type === "subscribed" && bare(s.attrs.from) === bare(b));
  await alice.expect("bob's presence", (s) => s.is("presence") && !s.attrs.type && s.attrs.from === b);
  check(true, "alice received bob's approval, then his current presence");
  await bob.send(xml("presence", { to: bare(a), type: "subscribe" }));
  await alice.expect("subscription request", (s) => s.is("presence") && s.attrs.type === "subscribe");
  await alice.send(xml("presence", { to: bare(b), type: "subscribed" }));
  await bob.expect("alice's presence", (s) => s.is("presence") && !s.attrs.type && s.attrs.from === a);
  check(true, "mutual subscription: bob sees alice online");

  const roster = await rosterGet(alice);
  const item = roster.getChild("query").getChildren("item").find((i) => i.attrs.jid === bare(b));
  check(item && item.attrs.subscription === "both", "alice's roster has bob with subscription 'both'");

  // XEP-0163: alice publishes her tune; bob's capabilities asked for tune notifications
  await alice.iqCaller.request(xml("iq", { type: "set" }, xml("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" },
    xml("publish", { node: "http://jabber.org/protocol/tune" }, xml("item", {},
      xml("tune", { xmlns: "http://jabber.org/protocol/tune" }, xml("artist", {}, "Yes"), xml("title", {}, "Roundabout")))))));
  const ev = await bob.expect("tune notification", (s) => s.is("message") && s.attrs.from === bare(a) && s.getChild("event", "http://jabber.org/protocol/pubsub#event"));
  const tune = ev.getChild("event").getChild("items").getChild("item").getChild("tune", "http://jabber.org/protocol/tune");
  check(tune && tune.getChildText("title") === "Roundabout", "bob is notified of alice's tune (XEP-0163 with XEP-0115 +notify)");

  await bob.send(xml("presence", {}, announceCaps(bob), xml("show", {}, "dnd"), xml("status", {}, "presenting")));
  const st = await alice.expect("bob dnd", (s) => s.is("presence") && s.attrs.from === b && s.getChildText("show") === "dnd");
  check(st.getChildText("status") === "presenting", "alice sees bob's show and status change");

  // RFC 6121 § 4.5: unavailable presence ends presence, not the stream
  await alice.send(xml("presence", { type: "unavailable" }));
  await bob.expect("alice unavailable", (s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === a);
  await alice.send(xml("presence", {}, announceCaps(alice), xml("status", {}, "back")));
  const back = await bob.expect("alice back", (s) => s.is("presence") && !s.attrs.type && s.attrs.from === a);
  check(back.getChildText("status") === "back", "alice goes unavailable and comes back on the same stream");

  await alice.send(xml("message", { to: bare(b), type: "chat", id: "m1" }, xml("body", {}, "hello bob"),
    xml("active", { xmlns: "http://jabber.org/protocol/chatstates" })));
  const m = await bob.expect("chat message", (s) => s.is("message") && s.getChildText("body") === "hello bob");
  check(m.attrs.from === a && m.attrs.type === "chat", "a chat message to bob's bare address arrives from alice's full address");
  check(m.getChild("active", "http://jabber.org/protocol/chatstates"), "its chat state element is relayed with it");

  await alice.iqCaller.request(xml("iq", { type: "get", to: env.XMPP_DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  check(true, "the server answers XEP-0199 ping");

  await bob.stop();
  await alice.expect("bob unavailable", (s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === b);
  check(true, "alice sees bob go unavailable when his stream closes");
  await alice.stop();
}

const overall = setTimeout(() => { console.log("FAIL - scenario timed out"); process.exit(1); }, 60000);
scenario().then(
  () => { clearTimeout(overall); console.log("PASS"); process.exit(0); },
  (err) => { console.log("FAIL -", err.message); process.exit(1); },
);
