"""carol, a slixmpp client of another server (Prosody), befriends and talks
with a user of presenced's domain over server-to-server federation.

Run by internal/xmpp/s2s/prosody_certs_test.go; the Go test plays the
presenced user's side in step with it. It reuses the client of the c2s
interop scenario (test/interop/slixmpp_scenario.py). Environment:
XMPP_HOST, XMPP_PORT (Prosody's c2s, STARTTLS), XMPP_DOMAIN, XMPP_CA
(certificate file to trust), CAROL (local part), CAROL_PASSWORD, PEER (the
presenced user's bare address), KNOCK_FIRST ("true": carol first sends
the presenced user a message, refused there, so that Prosody opens the
first stream).
Exit status 0 when every step passed; the failing step is printed otherwise.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "test", "interop"))
import slixmpp_scenario as c2s  # noqa: E402

c2s.TIMEOUT = 60  # federation crosses two servers on a shared, busy machine
PEER = os.environ["PEER"]


def ok(what):
    c2s.check(True, what)


async def scenario():
    carol = c2s.Client(os.environ["CAROL"], os.environ["CAROL_PASSWORD"], resource="slixmpp")
    carol.add_event_handler("message_error", carol.stanzas.put_nowait)  # slixmpp keeps errors apart
    carol.connect(c2s.ADDRESS, force_starttls=True)
    await asyncio.wait_for(carol.started, c2s.TIMEOUT)
    await carol.get_roster(timeout=c2s.TIMEOUT)
    carol.send_presence(pstatus="on prosody")
    ok("carol signed in to Prosody and is available")
    if os.environ.get("KNOCK_FIRST") == "true":
        # Prosody opens the stream: a message to a stranger, refused there
        carol.send_message(mto=PEER, mbody="knock", mtype="chat")
        await carol.expect("the refusal", lambda s: s.name == "message" and s["type"] == "error" and s["from"].bare == PEER)
        ok("knock refused by " + PEER)

    await carol.expect("the presenced user's request", lambda s: s["type"] == "subscribe" and s["from"].bare == PEER)
    ok("carol received the request from " + PEER)
    carol.send_presence(pto=PEER, ptype="subscribed")
    carol.send_presence(pto=PEER, ptype="subscribe")
    await carol.expect("the presenced user's presence",
                       lambda s: s["type"] == "available" and s["from"].bare == PEER and s["status"] == "on presenced")
    ok("mutual subscription: carol sees " + PEER + " online with a status")

    m = await carol.expect("a message", lambda s: s.name == "message" and s["body"] == "hello prosody")
    ok("carol received a message from " + str(m["from"]))
    carol.send_message(mto=m["from"], mbody="hello presenced", mtype="chat")
    carol.send_presence(pshow="away", pstatus="lunch")

    await carol.expect("the goodbye", lambda s: s.name == "message" and s["body"] == "bye")
    await carol.expect("the presenced user leaving",
                       lambda s: s["type"] == "unavailable" and s["from"].bare == PEER)
    ok("carol saw the presenced user's goodbye and departure")
    carol.disconnect()


def main():
    try:
        asyncio.get_event_loop().run_until_complete(scenario())
    except Exception as e:  # the failing step, for the Go test's output
        print("FAIL -", e, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
