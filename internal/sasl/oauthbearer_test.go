package sasl

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseOAuthBearer(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      BearerMessage
	}{
		// RFC 7628 § 4.1's example, with its host and port
		{"rfc example", "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
			BearerMessage{AuthzID: "user@example.com", Token: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", Host: "server.example.com", Port: "143"}},
		{"no authzid", "n,,\x01auth=Bearer abc.def-ghi_~+/\x01\x01", BearerMessage{Token: "abc.def-ghi_~+/"}},
		{"y flag, scheme in any case, two spaces", "y,,\x01auth=bEaReR  tok\x01\x01", BearerMessage{Token: "tok"}},
		{"escaped authzid", "n,a=we=2Cird=3Dname@x,\x01auth=Bearer t\x01\x01", BearerMessage{AuthzID: "we,ird=name@x", Token: "t"}},
		{"unknown keys ignored", "n,,\x01auth=Bearer t\x01mthd=POST\x01path=/\x01\x01", BearerMessage{Token: "t"}},
	} {
		got, err := ParseOAuthBearer([]byte(tc.msg))
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseOAuthBearerRefuses(t *testing.T) {
	for name, msg := range map[string]string{
		"empty":                      "",
		"lone kvsep":                 "\x01",
		"no gs2 header":              "auth=Bearer t\x01\x01",
		"half a gs2 header":          "n,\x01auth=Bearer t\x01\x01",
		"channel binding":            "p=tls-exporter,,\x01auth=Bearer t\x01\x01",
		"bad flag":                   "x,,\x01auth=Bearer t\x01\x01",
		"bad authzid":                "n,u=alice,\x01auth=Bearer t\x01\x01",
		"empty authzid":              "n,a=,\x01auth=Bearer t\x01\x01",
		"bad escape":                 "n,a=al=2Xice,\x01auth=Bearer t\x01\x01",
		"no auth":                    "n,,\x01host=x\x01\x01",
		"no kvpairs":                 "n,,\x01\x01",
		"one final kvsep":            "n,,\x01auth=Bearer t\x01",
		"no final kvsep":             "n,,\x01auth=Bearer t",
		"no kvsep after header":      "n,,auth=Bearer t\x01\x01",
		"other scheme":               "n,,\x01auth=Basic dDp0\x01\x01",
		"no token":                   "n,,\x01auth=Bearer \x01\x01",
		"scheme alone":               "n,,\x01auth=Bearer\x01\x01",
		"token with a space":         "n,,\x01auth=Bearer a b\x01\x01",
		"token with padding only":    "n,,\x01auth=Bearer ==\x01\x01",
		"empty kvpair":               "n,,\x01auth=Bearer t\x01\x01host=x\x01\x01",
		"key not alpha":              "n,,\x01ho-st=x\x01auth=Bearer t\x01\x01",
		"no equals":                  "n,,\x01host\x01auth=Bearer t\x01\x01",
		"control character in value": "n,,\x01host=a\x00b\x01auth=Bearer t\x01\x01",
		"auth twice":                 "n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
		"too long":                   "n,,\x01auth=Bearer " + strings.Repeat("t", maxMessage) + "\x01\x01",
	} {
		_, err := ParseOAuthBearer([]byte(msg))
		var f *Failure
		if !errors.As(err, &f) || f.Condition != "malformed-request" {
			t.Errorf("%s: %v, want malformed-request", name, err)
		}
	}
}

func TestBearerErrorChallenge(t *testing.T) {
	var got map[string]string
	if err := json.Unmarshal(BearerError{Status: "insufficient_scope", Scope: "addresses"}.Challenge(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["status"] != "insufficient_scope" || got["scope"] != "addresses" {
		t.Errorf("challenge %v", got)
	}
	if !IsBearerAbort([]byte("\x01")) || IsBearerAbort([]byte("\x01\x01")) || IsBearerAbort(nil) {
		t.Error("IsBearerAbort")
	}
}

// FuzzOAuthBearer: no input panics; whatever is accepted has a token in
// b64token form and an authzid and host without kvsep, and every refusal
// is a typed failure.
func FuzzOAuthBearer(f *testing.F) {
	f.Add([]byte("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"))
	f.Add([]byte("y,,\x01auth=bearer t\x01\x01"))
	f.Add([]byte("n,a=a=2Cb,\x01\x01"))
	f.Add([]byte("\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := ParseOAuthBearer(msg)
		if err != nil {
			var fl *Failure
			if !errors.As(err, &fl) || fl.Condition == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !b64token(m.Token) || strings.Contains(m.AuthzID+m.Host+m.Port, kvsep) {
			t.Fatalf("accepted %q as %+v", msg, m)
		}
	})
}
