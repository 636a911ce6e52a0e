"""slixmpp beside the chat demo (internal/server/demo_browser_test.go).

MODE=room: Bob signs in with an access token of the chat demo app, over
SASL OAUTHBEARER (RFC 7628), a mechanism slixmpp 1.8 does not have: it is
registered below in slixmpp's own SASL registry. He joins ROOM, the demo
page's room in the app's namespace, sees Alice there, and then messages and
presence go both ways, each step waiting for the page's answer.

MODE=offline: Bob signs in with his password after the demo page sent him
messages while he was offline: they come as offline messages (XEP-0160)
with delay stamps (XEP-0203), in order; he answers the first.

Environment: those of slixtest.py, MODE, and TOKEN
and ROOM (room) or BOB_PASSWORD and EXPECT, bodies separated by "|" (offline).
"""

import asyncio

import slixmpp
from slixmpp.util.sasl.client import Mech, SASLCancelled, sasl_mech

from slixtest import Scenario, TIMEOUT, env, run


@sasl_mech(5)
class OAUTHBEARER(Mech):
    """RFC 7628: a GS2 header, then host and auth=Bearer among %x01 kvpairs."""

    name = "OAUTHBEARER"
    required_credentials = {"access_token"}
    optional_credentials = {"authzid", "host"}
    security = {"encrypted"}

    def setup(self, name):
        if not self.security_settings["encrypted"]:
            raise SASLCancelled("OAUTHBEARER only over TLS")
        self.step = 0
        self.refusal = None

    def process(self, challenge=b""):
        self.step += 1
        if self.step == 1:
            authzid = self.credentials["authzid"]
            gs2 = b"n," + (b"a=" + authzid if authzid else b"") + b","
            return (gs2 + b"\x01host=" + self.credentials["host"] + b"\x01auth=Bearer "
                    + self.credentials["access_token"] + b"\x01\x01")
        if challenge:  # the server's error challenge (§ 3.2.3): answered with a lone %x01
            self.refusal = challenge
            print("OAUTHBEARER refused:", challenge, flush=True)
            return b"\x01"
        return b""  # <success/> carries nothing


class Bob(Scenario):
    def __init__(self, password, token):
        config = {"feature_mechanisms": {"use_mech": "OAUTHBEARER"}} if token else {}
        super().__init__("bob@%s/slix" % env["XMPP_DOMAIN"], password, plugin_config=config)
        if token:
            self.credentials["access_token"] = token
        self.register_plugin("xep_0203")
        self.add_event_handler("message", self.messages.put_nowait)

    async def scenario(self):
        if env["MODE"] == "room":
            await self.room()
        else:
            await self.offline()

    async def room(self):
        room = slixmpp.JID(env["ROOM"])
        self.add_event_handler("muc::%s::presence" % room, self.presences.put_nowait)
        self.send_presence()
        muc = self.plugin["xep_0045"]
        _, _, occupants, _ = await muc.join_muc_wait(room, "bob", maxstanzas=0,
                                                     presence_options={"pstatus": "on xmpp"}, timeout=TIMEOUT)
        nicks = [p["from"].resource for p in occupants]
        print("joined; occupants:", nicks, flush=True)
        assert "alice" in nicks, nicks
        self.send_message(mto=room, mbody="hi from XMPP", mtype="groupchat")
        await self.wait(self.messages, lambda m: m["type"] == "groupchat" and m["from"].resource == "alice"
                        and m["body"] == "hi from the demo", "alice's message")
        print("got alice's message", flush=True)
        await self.wait(self.presences, lambda p: p["from"].resource == "alice" and p["show"] == "away"
                        and p["status"] == "brb", "alice's presence")
        print("got alice's presence", flush=True)
        self.send_presence(pto="%s/bob" % room, pshow="xa", pstatus="slix away")
        await self.wait(self.messages, lambda m: m["type"] == "groupchat" and m["from"].resource == "alice"
                        and m["body"] == "bye", "alice's goodbye")
        muc.leave_muc(room, "bob")

    async def offline(self):
        want = env["EXPECT"].split("|")
        self.send_presence()  # initial presence: the offline messages follow (XEP-0160)
        got = []
        while len(got) < len(want):
            m = await self.wait(self.messages, lambda m: m["type"] in ("chat", "normal") and m["body"], "offline messages")
            stamp = m["delay"]["stamp"]
            print("message from", m["from"], repr(m["body"]), "delay", stamp, flush=True)
            assert m["from"].bare == "alice@" + env["XMPP_DOMAIN"], m["from"]
            assert stamp is not None, "no XEP-0203 delay stamp: %s" % m
            got.append(m["body"])
        assert got == want, (got, want)
        self.send_message(mto="alice@" + env["XMPP_DOMAIN"], mbody="got it", mtype="chat")
        await asyncio.sleep(0)  # let the send leave before disconnecting (disconnect flushes)


run(lambda: Bob(env.get("BOB_PASSWORD", ""), env.get("TOKEN")), timeout=90)
