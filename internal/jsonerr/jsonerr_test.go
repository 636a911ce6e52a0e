package jsonerr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

type presence struct {
	Status   string `json:"status"`
	Priority int    `json:"priority"`
}

type frame struct {
	Type     string    `json:"type"`
	Presence *presence `json:"presence"`
	Topics   []string  `json:"topics"`
}

func TestDescribe(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":1}`:                    "type must be a string, not a number",
		`{"presence":{"status":true}}`:  "presence.status must be a string, not true or false",
		`{"presence":{"priority":1.5}}`: "presence.priority must be a whole number, not a number 1.5",
		`{"topics":"mood"}`:             "topics must be a list, not a string",
		`[1]`:                           "expected an object, not a list",
		`{"type":`:                      "the JSON ends too early",
		`{"type":x}`:                    "not valid JSON at byte 9",
		`{"colour":"blue"}`:             `unknown field "colour"`,
		``:                              "the body is empty",
	} {
		dec := json.NewDecoder(bytes.NewReader([]byte(in)))
		dec.DisallowUnknownFields()
		var f frame
		got := Describe(dec.Decode(&f))
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
		if strings.Contains(got, "Go ") || strings.Contains(got, "jsonerr.") || strings.Contains(got, "frame.") {
			t.Errorf("%s: %q names a Go type", in, got)
		}
	}
}
