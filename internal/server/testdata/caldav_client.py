#!/usr/bin/env python3
"""A CardDAV client built on Python's caldav library (Debian's python3-caldav,
0.11), run by TestCardDAVPythonCaldav (internal/server/carddav_interop_test.go).

    caldav_client.py BASE discover
        RFC 6764 bootstrap from BASE/.well-known/carddav, current-user-principal
        (RFC 5397), addressbook-home-set (RFC 6352 § 7.1.1), the address books
        in the home (Depth 1) and the first book's supported reports.
    caldav_client.py BOOK sync [TOKEN]
        A sync-collection report (RFC 6578) on BOOK, from TOKEN or, without
        one, the initial sync; asks for getetag and address-data.

The account is $PRESENCED_DAV_USER with $PRESENCED_DAV_PASSWORD (Basic: the
server is on the loopback). Prints one JSON object on stdout; any failure,
including the library's own checks of the server's answers (the test sets
PYTHON_CALDAV_DEBUGMODE=DEVELOPMENT, which makes them raise), exits non-zero.
"""

import json
import os
import sys
from urllib.parse import unquote, urljoin

import caldav
from caldav.elements import dav
from caldav.elements.base import BaseElement, ValuedBaseElement
from caldav.lib.namespace import ns
from caldav.objects import DAVObject

CARDDAV = "{urn:ietf:params:xml:ns:carddav}"


# caldav 0.11 has DAV: and CalDAV elements only; CardDAV's are declared the
# library's way.
class AddressbookHomeSet(BaseElement):
    tag = CARDDAV + "addressbook-home-set"


class AddressData(ValuedBaseElement):
    tag = CARDDAV + "address-data"


ADDRESSBOOK = CARDDAV + "addressbook"


def client(url):
    c = caldav.DAVClient(
        url=url,
        username=os.environ["PRESENCED_DAV_USER"],
        password=os.environ["PRESENCED_DAV_PASSWORD"],
    )
    # hermetic: no proxy and no ~/.netrc from the environment
    c.session.trust_env = False
    return c


def discover(base):
    well_known = base.rstrip("/") + "/.well-known/carddav"
    c = client(well_known)
    # RFC 6764 § 5: the well-known URI redirects to the context path. The
    # library would follow the redirect through requests, which drops a
    # PROPFIND's body on a 301, so the Location is read here, as a client
    # bootstrapping from a bare host name does.
    r = c.session.request("PROPFIND", well_known, headers={"Depth": "0"}, allow_redirects=False)
    if r.status_code not in (301, 302, 307, 308) or "Location" not in r.headers:
        raise SystemExit("well-known: %d without a redirect" % r.status_code)
    context = urljoin(well_known, r.headers["Location"])

    c = client(context)
    principal = c.principal()  # PROPFIND current-user-principal on the context path
    home = principal.get_property(AddressbookHomeSet())
    if not home:
        raise SystemExit("no addressbook-home-set on %s" % principal.url)
    home_url = c.url.join(home)
    books = [str(u) for (u, _, _) in DAVObject(client=c, url=home_url).children(type=ADDRESSBOOK)]
    reports = []
    if books:
        resp = DAVObject(client=c, url=books[0]).get_properties(
            [dav.SupportedReportSet(), dav.SyncToken()], parse_props=False
        )
        srs = resp.get(dav.SupportedReportSet.tag)
        if srs is not None:
            for report in srs.iter(ns("D", "report")):
                reports += [el.tag for el in report]
    return {
        "context": context,
        "principal": str(principal.url),
        "home": str(home_url),
        "books": books,
        "reports": reports,
    }


def sync(book, token):
    c = client(book)
    query = dav.SyncCollection() + [
        dav.SyncToken(value=token),  # empty: the initial sync
        dav.SyncLevel(value="1"),
        dav.Prop() + [dav.GetEtag(), AddressData()],
    ]
    resp = c.report(book, str(query), depth=0)
    if resp.status != 207:
        raise SystemExit("sync-collection: %d %s" % (resp.status, resp.raw))
    props = resp.expand_simple_props([dav.GetEtag(), AddressData()])
    out = []
    for r in resp.tree.iter(dav.Response.tag):
        href = unquote(r.find(dav.Href.tag).text)
        status = r.find(dav.Status.tag)  # a removed member: a response with a status, no propstat
        p = props.get(href, {})
        out.append(
            {
                "href": href,
                "status": status.text if status is not None else "",
                "etag": p.get(dav.GetEtag.tag) or "",
                "card": p.get(AddressData.tag) or "",
            }
        )
    return {"token": getattr(resp, "sync_token", ""), "responses": out}


def main():
    if len(sys.argv) >= 3 and sys.argv[2] == "discover":
        result = discover(sys.argv[1])
    elif len(sys.argv) in (3, 4) and sys.argv[2] == "sync":
        result = sync(sys.argv[1], sys.argv[3] if len(sys.argv) == 4 else None)
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
