package c2s

// XEP-0077 In-Band Registration, before authentication, when the server
// allows it (xmpp_register, off by default): a client creates an account
// with a username and a password, then signs in as usual. The password
// rules, hashing and limits are those of every other sign-up.

import (
	"context"
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsRegister        = "jabber:iq:register"
	nsRegisterFeature = "http://jabber.org/features/iq-register"
)

// maxRegistrations per stream: one account, a few tries at a name.
const maxRegistrations = 5

// isRegistration: an iq for jabber:iq:register.
func isRegistration(el *xmlstream.Element) bool {
	return el.Name.Local == "iq" && el.Child(nsRegister, "query") != nil
}

// register answers a registration request before authentication.
func (c *conn) register(el *xmlstream.Element) error {
	typ := el.AttrValue("type")
	rq := iqRequest{el: el, id: el.AttrValue("id"), typ: typ}   // before authentication: replies without 'from'
	if !c.s.Register || !c.encrypted() && !c.s.AllowPlaintext { // no password in the clear
		return c.iqError(rq, "cancel", "service-unavailable")
	}
	c.registrations++
	if c.registrations > maxRegistrations || c.registered {
		return c.iqError(rq, "cancel", "not-allowed")
	}
	q := el.Child(nsRegister, "query")
	switch typ {
	case "get":
		return c.iqResult(rq, xmlstream.New(nsRegister, "query").Add(
			xmlstream.New(nsRegister, "instructions").AddText(fmt.Sprintf("Choose a username and a password of at least %d characters.", auth.MinPasswordLength)),
			xmlstream.New(nsRegister, "username"), xmlstream.New(nsRegister, "password")))
	case "set":
		if q.Child(nsRegister, "remove") != nil {
			return c.iqError(rq, "auth", "not-authorized") // removing an account needs signing in
		}
		user, pw := q.ChildText(nsRegister, "username"), q.ChildText(nsRegister, "password")
		if user == "" || pw == "" {
			return c.iqError(rq, "modify", "not-acceptable")
		}
		_, err := c.s.Auth.CreateAccount(context.Background(), user+"@"+c.domain, pw)
		switch {
		case errors.Is(err, store.ErrExists):
			return c.iqError(rq, "cancel", "conflict")
		case errors.Is(err, auth.ErrBusy):
			return c.iqError(rq, "wait", "resource-constraint")
		case err != nil:
			return c.iqError(rq, "modify", "not-acceptable") // a bad username or a weak password
		}
		c.registered = true
		return c.iqResult(rq, nil)
	}
	return c.iqError(rq, "cancel", "bad-request")
}
