"""slixmpp's XEP-0045 plugin in a room shared with a JSON-protocol member.

Run by TestRoomSlixmpp (internal/server/rooms_test.go), which plays the JSON
member "bob" (the room's owner) over WebSocket. Alice joins with slixmpp's
join_muc_wait, checks bob's occupant presence, the history with its delay
stamps and the subject, then talks and changes presence, waiting each time
for what the JSON side answers.

Environment: XMPP_HOST, XMPP_PORT, XMPP_DOMAIN, XMPP_CA, ALICE_PASSWORD, ROOM.
"""

import asyncio

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixtest import Scenario, TIMEOUT, env, run

ROOM = slixmpp.JID(env["ROOM"])


class Alice(Scenario):
    def __init__(self):
        super().__init__("alice@%s/slix" % env["XMPP_DOMAIN"], env["ALICE_PASSWORD"])
        self.add_event_handler("muc::%s::presence" % ROOM, self.presences.put_nowait)
        self.gone = asyncio.Queue()  # the plugin forgets the room before our own departure arrives
        self.register_handler(Callback("gone", MatchXPath("{jabber:client}presence"), self.gone.put_nowait))

    async def scenario(self):
        self.send_presence()
        await self.get_roster()
        muc = self.plugin["xep_0045"]
        self_presence, subject, occupants, history = await muc.join_muc_wait(
            ROOM, "alice", maxstanzas=5, presence_options={"pshow": "away", "pstatus": "slix side"}, timeout=TIMEOUT)
        print("joined; occupants:", [str(p["from"]) for p in occupants], flush=True)
        assert "110" in [str(c) for c in self_presence["muc"]["status_codes"]], self_presence
        bob = [p for p in occupants if p["from"].resource == "bob"]
        assert bob, occupants
        assert bob[0]["muc"]["affiliation"] == "owner" and bob[0]["muc"]["role"] == "moderator", bob[0]
        assert bob[0]["show"] == "dnd" and bob[0]["status"] == "json side", bob[0]
        assert [m["body"] for m in history] == ["before you came"], [m["body"] for m in history]
        assert subject["subject"] == "our lounge", subject
        assert muc.get_roster(ROOM) and "bob" in muc.get_roster(ROOM)

        self.send_message(mto=ROOM, mbody="hi from slixmpp", mtype="groupchat")
        await self.wait(self.messages, lambda m: m["from"].resource == "bob" and m["body"] == "hi from JSON", "bob's message")
        print("got bob's message", flush=True)
        self.send_presence(pto="%s/alice" % ROOM, pshow="xa", pstatus="slix away")
        await self.wait(self.presences, lambda p: p["from"].resource == "bob" and p["status"] == "json back", "bob's presence")
        print("got bob's presence", flush=True)
        muc.leave_muc(ROOM, "alice")
        left = await self.wait(self.gone, lambda p: p["from"] == slixmpp.JID("%s/alice" % ROOM) and p["type"] == "unavailable", "own departure")
        assert 'code="110"' in str(left), left


run(Alice)
