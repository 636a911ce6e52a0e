"""What the slixmpp scenarios of internal/server share: a client that
trusts the test server's certificate, queues of what it receives, and a
scenario run from session_start that prints OK or FAIL and sets the exit
status.

Environment: XMPP_HOST, XMPP_PORT, XMPP_DOMAIN, XMPP_CA.
"""

import asyncio
import os
import ssl
import sys

import slixmpp

env = os.environ
TIMEOUT = 20


class Scenario(slixmpp.ClientXMPP):
    """A client whose scenario() runs once the session started."""

    def __init__(self, jid, password, **kwargs):
        super().__init__(jid, password, **kwargs)
        self.ca_certs = env["XMPP_CA"]
        version = tuple(int(x) for x in slixmpp.__version__.split(".")[:3])
        if version < (1, 8, 5):  # see test/interop/slixmpp_scenario.py
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.register_plugin("xep_0045")
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.add_event_handler("groupchat_message", self.messages.put_nowait)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        self.ok = False

    def fail(self, why):
        print("FAIL:", why, flush=True)
        self.disconnect()

    async def wait(self, queue, match, what):
        try:
            while True:
                st = await asyncio.wait_for(queue.get(), TIMEOUT)
                if match(st):
                    return st
        except asyncio.TimeoutError:
            raise AssertionError("timed out waiting for " + what)

    async def start(self, _):
        try:
            await self.scenario()
            self.ok = True
            print("OK", flush=True)
        except Exception as e:  # noqa: BLE001 - any failure ends the scenario
            print("FAIL:", repr(e), flush=True)
        self.disconnect()

    async def scenario(self):
        raise NotImplementedError


def run(make, timeout=60):
    """Makes the client (in the event loop, where slixmpp wants it), connects
    it, waits until it disconnected, and exits 0 if its scenario passed."""

    async def main():
        client = make()
        client.connect((env["XMPP_HOST"], int(env["XMPP_PORT"])))
        await asyncio.wait_for(client.disconnected, timeout)
        sys.exit(0 if client.ok else 1)

    asyncio.run(main())
