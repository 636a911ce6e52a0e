package c2s

import (
	"net"
	"strings"
	"testing"
)

// TestInBandRegistration: with the switch on, a client creates an account
// before signing in (XEP-0077) and then signs in with it; taken names and
// weak passwords are refused; with the switch off nothing is offered.
func TestInBandRegistration(t *testing.T) {
	for _, on := range []bool{true, false} {
		r := start(t, true, func(s *Server) { s.Register = on })
		conn, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		x, features := streamOn(t, conn)
		if offered := strings.Contains(features, "iq-register"); offered != on {
			t.Fatalf("register feature offered=%v with the switch %v: %s", offered, on, features)
		}
		ask := func(body string) string {
			x.send(`<iq type='set' id='r'><query xmlns='jabber:iq:register'>%s</query></iq>`, body)
			return x.expect("iq").String("")
		}
		if !on {
			if a := ask(`<username>carol</username><password>carol-password</password>`); !strings.Contains(a, "service-unavailable") {
				t.Fatalf("registration with the switch off: %s", a)
			}
			continue
		}
		x.send(`<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>`)
		if form := x.expect("iq").String(""); !strings.Contains(form, "<username") || !strings.Contains(form, "<password") {
			t.Fatalf("form: %s", form)
		}
		if a := ask(`<username>alice</username><password>another-password</password>`); !strings.Contains(a, "conflict") {
			t.Fatalf("taken name: %s", a)
		}
		if a := ask(`<username>carol</username><password>short</password>`); !strings.Contains(a, "not-acceptable") {
			t.Fatalf("weak password: %s", a)
		}
		if a := ask(`<username>carol</username><password>carol-password</password>`); !strings.Contains(a, "type='result'") {
			t.Fatalf("registration: %s", a)
		}
		if a := ask(`<username>dave</username><password>dave-password</password>`); !strings.Contains(a, "not-allowed") {
			t.Fatalf("a second account on one stream: %s", a)
		}
		r.signIn(t, "carol") // the new account signs in
	}
}
