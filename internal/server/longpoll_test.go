package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLongPollRequestLimits(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.user(t, "alice")
	many := `{"frames":[` + strings.TrimSuffix(strings.Repeat(`{"type":"ping"},`, 33), ",") + `]}`
	for _, tc := range []struct {
		name, method, token, body string
		status                    int
		frameCode                 string // for 200 answers: the code of the first (error) frame
	}{
		{"no token", "POST", "", `{"frames":[{"type":"hello"}]}`, 401, ""},
		{"token in URL is not a token", "POST", "", `{"frames":[{"type":"hello","token":"x"}]}`, 401, ""},
		{"GET", "GET", alice.Token, "", 405, ""},
		{"not JSON", "POST", alice.Token, `{`, 400, ""},
		{"too many frames", "POST", alice.Token, many, 400, ""},
		{"too large", "POST", alice.Token, `{"frames":[{"type":"hello","device":"` + strings.Repeat("x", 300<<10) + `"}]}`, 413, ""},
		{"not UTF-8", "POST", alice.Token, "{\"frames\":[{\"type\":\"hello\",\"device\":\"\xff\"}]}", 400, ""},
		{"wait out of range", "POST", alice.Token, `{"frames":[{"type":"hello"}],"wait":600}`, 400, ""},
		{"first frame not hello", "POST", alice.Token, `{"frames":[{"type":"ping"}],"wait":0}`, 200, "unauthorized"},
		{"no frames, no session", "POST", alice.Token, `{"wait":0}`, 200, "invalid"},
		{"unknown session", "POST", alice.Token, `{"session":"nope","wait":0}`, 200, "session_expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+"/v1/poll", strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.frameCode == "" {
				if resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
				}
				return
			}
			var out struct{ Frames []struct{ Type, Code string } }
			must(t, json.NewDecoder(resp.Body).Decode(&out))
			if len(out.Frames) == 0 || out.Frames[0].Type != "error" || out.Frames[0].Code != tc.frameCode {
				t.Fatalf("frames %+v, want an error %q", out.Frames, tc.frameCode)
			}
		})
	}
}

// TestCutShortPollAnswersEmptyList: a held poll that a newer poll of the
// same session replaces ends with "frames": [], not null.
func TestCutShortPollAnswersEmptyList(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.user(t, "alice")
	post := func(body string) string {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/poll", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var hello struct{ Session string }
	must(t, json.Unmarshal([]byte(post(`{"frames":[{"type":"hello"}],"wait":0}`)), &hello))
	held := make(chan string, 1)
	go func() { held <- post(`{"session":"` + hello.Session + `","ack":1,"wait":20}`) }()
	var got string
	for deadline := time.Now().Add(10 * time.Second); got == "" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		post(`{"session":"` + hello.Session + `","ack":1,"wait":0}`) // replaces the held poll
		select {
		case got = <-held:
		default:
		}
	}
	if !strings.Contains(got, `"frames":[]`) {
		t.Fatalf("cut-short poll answered %s", got)
	}
}
