"""alice, a slixmpp client of presenced, and carol, a slixmpp client of
another server (Prosody or ejabberd), befriend and talk over
server-to-server federation: real clients on both sides, every step seen
by the client it concerns.

Run by internal/xmpp/s2s (prosody_test.go, prosody_certs_test.go,
ejabberd_test.go), which starts both servers and reads their logs
afterwards. It reuses the client of the c2s interop scenario
(test/interop/slixmpp_scenario.py). Environment:
  XMPP_HOST, XMPP_PORT, XMPP_DOMAIN, XMPP_CA: the other server's c2s
    listener (STARTTLS), its domain and the certificate file to trust;
  CAROL, CAROL_PASSWORD: carol's account there;
  PRESENCED_PORT, PRESENCED_DOMAIN, PRESENCED_CA, ALICE, ALICE_PASSWORD:
    the same for presenced (host XMPP_HOST);
  PEER: the other server's name, in statuses and messages ("prosody");
  KNOCK_FIRST: "true": carol first sends alice a message, refused there
    (they are strangers), so that the other server opens the first stream.
Exit status 0 when every step passed; the failing step is printed otherwise.
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "test", "interop"))
import slixmpp_scenario as c2s  # noqa: E402

c2s.TIMEOUT = 60  # federation crosses two servers on a shared, busy machine
env = os.environ
PEER = env["PEER"]
NS_LAST = "jabber:iq:last"


START = time.monotonic()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok - %s (%.1f s)" % (what, time.monotonic() - START), flush=True)


def ok(what):
    check(True, what)


async def expect_each(client, what, *matches):
    """Wait until each of matches has held for a stanza, in any order; the first stanza of each."""
    found = [None] * len(matches)
    try:
        while None in found:
            st = await asyncio.wait_for(client.stanzas.get(), c2s.TIMEOUT)
            for i, match in enumerate(matches):
                if found[i] is None and match(st):
                    found[i] = st
                    break
    except asyncio.TimeoutError:
        raise AssertionError(f"{client.boundjid}: not all of {what} within {c2s.TIMEOUT}s")
    return found


async def last_activity(client, jid):
    """A jabber:iq:last query (XEP-0012) of jid: its answer's seconds."""
    iq = client.make_iq_get(queryxmlns=NS_LAST, ito=jid)
    res = await iq.send(timeout=c2s.TIMEOUT)
    return res.xml.find("{%s}query" % NS_LAST).get("seconds")


async def sign_in(client, host, port):
    client.add_event_handler("message_error", client.stanzas.put_nowait)  # slixmpp keeps errors apart
    client.connect((host, port), force_starttls=True)
    await asyncio.wait_for(client.started, c2s.TIMEOUT)
    await client.get_roster(timeout=c2s.TIMEOUT)


async def befriend(alice, carol, a, c):
    """RFC 6121 § 3: alice asks, carol approves and asks back, alice approves."""
    alice.send_presence(pto=c, ptype="subscribe")
    await carol.expect("alice's request", lambda s: s["type"] == "subscribe" and s["from"].bare == a)
    ok("carol received alice's subscription request across the servers")
    carol.send_presence(pto=a, ptype="subscribed")
    carol.send_presence(pto=a, ptype="subscribe")
    # in the order carol's server sends them (ejabberd sends her request first)
    _, st, _ = await expect_each(alice, "carol's approval, presence and request",
                                 lambda s: s["type"] == "subscribed" and s["from"].bare == c,
                                 lambda s: s["type"] == "available" and s["from"].bare == c,
                                 lambda s: s["type"] == "subscribe" and s["from"].bare == c)
    check(st["status"] == "on " + PEER, "alice received carol's approval, her presence with its status, and her request")
    alice.send_presence(pto=c, ptype="subscribed")
    st = await carol.expect("alice's presence", lambda s: s["type"] == "available" and s["from"].bare == a)
    check(st["status"] == "on presenced", "mutual subscription: carol sees alice online with her status")
    await alice.get_roster(timeout=c2s.TIMEOUT)
    await carol.get_roster(timeout=c2s.TIMEOUT)
    check(alice.client_roster[c]["subscription"] == "both" and carol.client_roster[a]["subscription"] == "both",
          "both rosters hold the other with subscription 'both'")


async def status_and_messages(alice, carol, a, c):
    alice.send_presence(pshow="away", pstatus="lunch")
    st = await carol.expect("alice away", lambda s: s["from"].bare == a and s["show"] == "away")
    check(st["status"] == "lunch", "carol sees alice's show and status change")
    carol.send_presence(pshow="dnd", pstatus="meeting")
    st = await alice.expect("carol busy", lambda s: s["from"].bare == c and s["show"] == "dnd")
    check(st["status"] == "meeting", "alice sees carol's show and status change")

    alice.send_message(mto=c, mbody="hello " + PEER, mtype="chat")
    m = await carol.expect("alice's message", lambda s: s.name == "message" and s["body"] == "hello " + PEER)
    check(m["from"] == alice.boundjid and m["type"] == "chat", "carol received alice's chat message from her full address")
    carol.send_message(mto=m["from"], mbody="hello presenced", mtype="chat")
    m = await alice.expect("carol's answer", lambda s: s.name == "message" and s["body"] == "hello presenced")
    check(m["from"] == carol.boundjid, "alice received carol's answer from her full address")


async def queries(alice, carol, a, c):
    """Last activity and disco#info of each other's bare address, answered by the user's server."""
    seconds = await last_activity(carol, a)
    check(seconds == "0", "carol asks alice's last activity: presenced answers 0 seconds (online)")
    info = await carol["xep_0030"].get_info(jid=a, timeout=c2s.TIMEOUT)
    check(any(i[0] == "account" for i in info["disco_info"]["identities"]),
          "carol's disco#info of alice's account is answered by presenced (an account)")
    seconds = await last_activity(alice, c)
    check(seconds is not None and seconds.isdigit(), "alice asks carol's last activity: %s answers (%s s)" % (PEER, seconds))
    info = await alice["xep_0030"].get_info(jid=c, timeout=c2s.TIMEOUT)
    check(any(i[0] == "account" for i in info["disco_info"]["identities"]),
          "alice's disco#info of carol's account is answered by %s (an account)" % PEER)


async def personal_events(alice, carol, a, c):
    """XEP-0163: each one's mood reaches the other; each client's capabilities ask for it."""
    await alice["xep_0107"].publish_mood("happy", text="sunny", timeout=c2s.TIMEOUT)
    x = await carol.expect_event("user_mood_publish", a)
    check("<happy" in x and "sunny" in x, "carol is notified of alice's mood (presenced's PEP)")
    await carol["xep_0118"].publish_tune(artist="Yes", title="Roundabout", length=510, timeout=c2s.TIMEOUT)
    x = await alice.expect_event("user_tune_publish", c)
    check("Roundabout" in x, "alice is notified of carol's tune (%s's PEP)" % PEER)


async def block(alice, carol, a, c):
    """XEP-0191 at presenced: carol sees alice go and nothing of her until the unblock."""
    # alice's personal events join carol's stanzas, in the order they arrive
    carol.add_event_handler("user_mood_publish", carol.stanzas.put_nowait)
    await alice["xep_0191"].block(c, timeout=c2s.TIMEOUT)
    await carol.expect("alice gone", lambda s: s["type"] == "unavailable" and s["from"].bare == a)
    ok("alice blocks carol: carol sees her go unavailable")
    alice.send_presence(pstatus="secret")
    await alice["xep_0107"].publish_mood("sad", text="secret", timeout=c2s.TIMEOUT)
    carol.send_message(mto=a, mbody="are you there?", mtype="chat")
    m = await carol.expect("the refusal", lambda s: s.name == "message" and s["type"] == "error" and s["from"].bare == a)
    check(m["error"]["condition"] == "service-unavailable", "carol's message to alice comes back service-unavailable")
    alice.send_presence(pstatus="back")
    await alice["xep_0191"].unblock(c, timeout=c2s.TIMEOUT)
    # the unblock shows carol alice as she is now ("back"); alice's status
    # or mood "secret" would have come before it on the same streams
    meanwhile = []
    while True:
        st = await asyncio.wait_for(carol.stanzas.get(), c2s.TIMEOUT)
        if st["from"].bare == a:
            meanwhile.append(st)
        if st.name == "presence" and st["from"].bare == a and st["type"] == "available":
            break
    check(st["status"] == "back" and not [x for x in meanwhile if "secret" in str(x)],
          "after the unblock carol sees alice again as she is now, and got nothing of her status and mood of the block")
    carol.send_message(mto=a, mbody="welcome back", mtype="chat")
    # carol's messages cross in order: one refused during the block would come first
    m = await alice.expect("carol's message after the unblock",
                           lambda s: s.name == "message" and s["body"] in ("welcome back", "are you there?"))
    check(m["body"] == "welcome back", "alice gets carol's message after the unblock, and never got the one of the block")


async def scenario():
    a_domain = env["PRESENCED_DOMAIN"]
    alice = c2s.Client(env["ALICE"], env["ALICE_PASSWORD"], resource="slixmpp", domain=a_domain, ca=env["PRESENCED_CA"])
    carol = c2s.Client(env["CAROL"], env["CAROL_PASSWORD"], resource="slixmpp")
    alice.register_plugin("xep_0191")
    await asyncio.gather(sign_in(alice, env["XMPP_HOST"], int(env["PRESENCED_PORT"])), sign_in(carol, *c2s.ADDRESS))
    a, c = alice.boundjid.bare, carol.boundjid.bare
    alice.send_presence(pstatus="on presenced")
    carol.send_presence(pstatus="on " + PEER)
    ok("alice signed in to presenced and carol to %s, both available" % PEER)
    if env.get("KNOCK_FIRST") == "true":
        # the other server opens the first stream: a message to a stranger, refused there
        carol.send_message(mto=a, mbody="knock", mtype="chat")
        await carol.expect("the refusal", lambda s: s.name == "message" and s["type"] == "error" and s["from"].bare == a)
        ok("knock refused by " + a)

    await befriend(alice, carol, a, c)
    await status_and_messages(alice, carol, a, c)
    await queries(alice, carol, a, c)
    await personal_events(alice, carol, a, c)
    await block(alice, carol, a, c)

    alice.send_message(mto=c, mbody="bye", mtype="chat")
    await carol.expect("the goodbye", lambda s: s.name == "message" and s["body"] == "bye")
    alice.disconnect()
    await carol.expect("alice leaving", lambda s: s["type"] == "unavailable" and s["from"].bare == a)
    ok("carol saw alice's goodbye and her departure")
    carol.disconnect()


def main():
    try:
        asyncio.get_event_loop().run_until_complete(scenario())
    except Exception as e:  # noqa: BLE001 - the failing step, for the Go test's output
        print("FAIL -", type(e).__name__, e, flush=True)
        sys.exit(1)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
