package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// TestUnavailableStore: a store that cannot be reached is a 503 "busy"
// with Retry-After, and still reported for the log; other errors are 500.
func TestUnavailableStore(t *testing.T) {
	for _, tc := range []struct {
		err      error
		status   int
		code     string
		internal bool
	}{
		{fmt.Errorf("postgres: %w: connection refused", store.ErrUnavailable), http.StatusServiceUnavailable, "busy", true},
		{errors.New("disk on fire"), http.StatusInternalServerError, "internal", true},
	} {
		w := httptest.NewRecorder()
		if internal := Error(w, tc.err); internal != tc.internal {
			t.Errorf("%v: internal %v", tc.err, internal)
		}
		var d Details
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if w.Code != tc.status || d.Code != tc.code {
			t.Errorf("%v: %d %q, want %d %q", tc.err, w.Code, d.Code, tc.status, tc.code)
		}
		if tc.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			t.Errorf("%v: no Retry-After", tc.err)
		}
	}
}
