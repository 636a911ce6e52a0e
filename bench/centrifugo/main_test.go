package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the comparison briefly against the real presenced binary
// built from this checkout, and against Centrifugo too when
// PRESENCED_TEST_CENTRIFUGO names its binary (bench/centrifugo-side-by-side.sh
// builds one; CI has no network to build it, so there the smoke runs
// presenced's side only). It checks that every session connected, that
// every update reached every watcher and that the report was written,
// never a figure: figures live in docs/benchmarks.md.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	bin := filepath.Join(t.TempDir(), "presenced")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/presenced")
	build.Dir = "../.." // presenced's own module, as the script builds it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building presenced: %v\n%s", err, out)
	}
	o := options{presenced: bin, centrifugo: os.Getenv("PRESENCED_TEST_CENTRIFUGO"),
		sessions: 20, idleFor: 3 * time.Second, heartbeat: time.Second,
		watchers: 10, updates: 20, rate: 200, saturation: 20, rounds: 1}
	servers := 1
	if o.centrifugo != "" {
		o.heartbeat = 9 * time.Second // Centrifugo wants its ping interval longer than its pong timeout
		servers = 2
	} else {
		t.Log("PRESENCED_TEST_CENTRIFUGO not set: presenced's side only")
	}
	var log bytes.Buffer
	results, err := compare(ctx, o, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(results) != servers {
		t.Fatalf("%d results, want %d", len(results), servers)
	}
	for _, r := range results {
		if r.idle.Sessions != o.sessions || r.idle.RSSIdleNoGC == 0 {
			t.Errorf("%s idle: %+v", r.server, r.idle)
		}
		for _, f := range []FanoutResult{r.open, r.closed} {
			if f.Lost() != 0 || f.Frames == 0 {
				t.Errorf("%s fan-out: %d of %d delivered, %d frames", r.server, f.Covered, f.Watchers*f.M, f.Frames)
			}
		}
	}
	var out bytes.Buffer
	report(&out, o, results)
	for _, want := range []string{"RSS per idle session, no forced GC", "deliveries (of 200)", "| 1 | presenced |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if servers == 2 && !strings.Contains(out.String(), "centrifugo ÷ presenced") {
		t.Errorf("report lacks the ratios:\n%s", out.String())
	}
}

// TestJWT checks the connection token against RFC 7519's well-known HS256
// example (the one jwt.io shows), which Centrifugo must accept.
func TestJWT(t *testing.T) {
	got := jwtHS256([]byte("your-256-bit-secret"), `{"sub":"1234567890","name":"John Doe","iat":1516239022}`)
	want := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// TestUpdateFields reads the fields the watchers scan for in both
// protocols' frames.
func TestUpdateFields(t *testing.T) {
	p := []byte(`{"type":"presence","seq":7,"address":"c0@bench.test","availability":"available","status":"o:41","sessions":[{"status":"o:41"}]}`)
	if tag, n, ok := update(p, `"status":"`); !ok || tag != "o" || n != 41 {
		t.Errorf("presenced: %q %d %v", tag, n, ok)
	}
	if seq, ok := intField(p, `"seq":`); !ok || seq != 7 {
		t.Errorf("seq: %d %v", seq, ok)
	}
	c := []byte(`{"push":{"channel":"fan","pub":{"data":{"s":"c:3"},"offset":4}}}`)
	if tag, n, ok := update(c, `"s":"`); !ok || tag != "c" || n != 3 {
		t.Errorf("centrifugo: %q %d %v", tag, n, ok)
	}
	for _, bad := range []string{`{"status":"x"}`, `{"status":"o:"}`, `{"status":"o:1`, `{}`} {
		if _, _, ok := update([]byte(bad), `"status":"`); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}
