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


PEP_EVENTS = ("user_mood_publish", "user_activity_publish", "user_tune_publish",
              "user_location_publish", "avatar_metadata_publish")


class Client(slixmpp.ClientXMPP):
    """A client that queues every stanza it receives, to wait on them in order."""

    def __init__(self, local, password, resource="interop", domain=None, ca=None):
        # domain and ca: another server's (the federation scenario's second server)
        super().__init__(f"{local}@{domain or DOMAIN}/{resource}", password)
        self.ca_certs = ca or env.get("XMPP_CA")
        if CAP_TLS12:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.register_plugin("xep_0199")
        # PEP (XEP-0163) with entity capabilities (XEP-0115) announcing +notify
        for plugin in ("xep_0115", "xep_0163", "xep_0107", "xep_0108", "xep_0118", "xep_0080", "xep_0084", "xep_0280"):
            self.register_plugin(plugin)
        self.stanzas = asyncio.Queue()
        self.events = asyncio.Queue()
        for ev in PEP_EVENTS + ("carbon_sent", "carbon_received"):
            self.add_event_handler(ev, lambda msg, ev=ev: self.events.put_nowait((ev, msg)))
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


    async def expect_event(self, name, publisher):
        """Wait for a PEP notification of one kind from publisher."""
        try:
            while True:
                ev, msg = await asyncio.wait_for(self.events.get(), TIMEOUT)
                if ev == name and msg["from"].bare == publisher:
                    return str(msg)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.boundjid}: no {name} from {publisher} within {TIMEOUT}s")


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
    # RFC 6121 § 2.3: a name and groups for the item, kept and pushed back
    await alice.update_roster(b.bare, name="Bob B.", groups=["Friends", "Work"], timeout=TIMEOUT)
    await alice.get_roster(timeout=TIMEOUT)
    item = alice.client_roster[b.bare]
    check(item["name"] == "Bob B." and sorted(item["groups"]) == ["Friends", "Work"] and item["subscription"] == "both",
          "alice names bob and puts him in two groups; the subscription is unchanged")

    # XEP-0163: alice publishes personal events; bob's capabilities asked for them
    await alice["xep_0107"].publish_mood("happy", text="sunny day", timeout=TIMEOUT)
    x = await bob.expect_event("user_mood_publish", a.bare)
    check("<happy" in x and "sunny day" in x, "bob is notified of alice's mood (XEP-0107)")
    await alice["xep_0108"].publish_activity("working", "coding", text="on presenced", timeout=TIMEOUT)
    x = await bob.expect_event("user_activity_publish", a.bare)
    check("<working><coding" in x.replace(" ", ""), "bob is notified of alice's activity (XEP-0108)")
    await alice["xep_0118"].publish_tune(artist="Yes", title="Heart of the Sunrise", length=686, timeout=TIMEOUT)
    x = await bob.expect_event("user_tune_publish", a.bare)
    check("Heart of the Sunrise" in x and "686" in x, "bob is notified of alice's tune (XEP-0118)")
    await alice["xep_0080"].publish_location(lat=45.44, lon=12.33, locality="Venice", timeout=TIMEOUT)
    x = await bob.expect_event("user_location_publish", a.bare)
    check("45.44" in x and "Venice" in x, "bob is notified of alice's location (XEP-0080)")
    avatar_id = "111f4b3c50d7b0df729d299bc6f8e9ef9066971f"
    await alice["xep_0084"].publish_avatar_metadata(
        items=[{"id": avatar_id, "type": "image/png", "bytes": "12345", "width": "64", "height": "64"}], timeout=TIMEOUT)
    x = await bob.expect_event("avatar_metadata_publish", a.bare)
    check(avatar_id in x, "bob is notified of alice's avatar metadata (XEP-0084)")

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

    # XEP-0280: alice's second device enables carbons and sees both sides of her chat
    alice2 = Client(env["ALICE"], env["ALICE_PASSWORD"], resource="interop2")
    alice2.connect(ADDRESS, force_starttls=True)
    await asyncio.wait_for(alice2.started, TIMEOUT)
    await alice2["xep_0280"].enable(timeout=TIMEOUT)
    alice2.send_presence()
    alice.send_message(mto=b.bare, mbody="sent from the first device", mtype="chat")
    x = await alice2.expect_event("carbon_sent", a.bare)
    check("sent from the first device" in x and "urn:xmpp:carbons:2" in x, "alice's second device gets a carbon of what the first sent")
    bob.send_message(mto=a, mbody="to the first device only", mtype="chat")
    x = await alice2.expect_event("carbon_received", a.bare)
    check("to the first device only" in x, "and a carbon of what the first received")
    alice2.disconnect()

    await alice["xep_0199"].ping(jid=slixmpp.JID(DOMAIN), timeout=TIMEOUT)
    check(True, "the server answers XEP-0199 ping")
    # RFC 6121 § 8.5.3: iqs to a full address go to that session, answers come back
    info = await alice["xep_0030"].get_info(jid=b, timeout=TIMEOUT)
    check("http://jabber.org/protocol/tune+notify" in info["disco_info"]["features"],
          "alice's disco#info to bob's full address is answered by bob's client (capabilities included)")
    await alice["xep_0199"].ping(jid=b, timeout=TIMEOUT)
    check(True, "and so is a ping")

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
