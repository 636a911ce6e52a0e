package carddav

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestChallengeOffersBasicOnlyWhenSecure: the 401 challenge offers Basic
// only where a password may be sent (TLS or the loopback); elsewhere Basic
// would be refused, so offering it would invite a client to send the
// password in clear first.
func TestChallengeOffersBasicOnlyWhenSecure(t *testing.T) {
	h := &Handler{}
	for _, tc := range []struct {
		name   string
		remote string
		tls    bool
		want   []string
	}{
		{"plain from afar", "192.0.2.1:1234", false, []string{`Bearer realm="presenced"`}},
		{"TLS", "192.0.2.1:1234", true, []string{`Basic realm="presenced", charset="UTF-8"`, `Bearer realm="presenced"`}},
		{"loopback", "127.0.0.1:1234", false, []string{`Basic realm="presenced", charset="UTF-8"`, `Bearer realm="presenced"`}},
		{"loopback v6", "[::1]:1234", false, []string{`Basic realm="presenced", charset="UTF-8"`, `Bearer realm="presenced"`}},
	} {
		r := httptest.NewRequest("PROPFIND", "/dav/", nil)
		r.RemoteAddr = tc.remote
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Result().Header.Values("WWW-Authenticate"); w.Code != http.StatusUnauthorized || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %d, challenges %q, want %q", tc.name, w.Code, got, tc.want)
		}
	}
}
