package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpExitsZero: help is not an error, for every command, and lists
// switches bare: "--signup", not "--signup string".
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"},
		{"serve", "--help"}, {"serve", "-h"},
		{"user", "--help"}, {"user", "add", "--help"}, {"user", "list", "-h"},
		{"token", "--help"}, {"token", "issue", "--help"},
		{"app", "--help"}, {"app", "add", "--help"}, {"app", "list", "-h"}, {"app", "show", "-h"}, {"app", "delete", "-h"},
		{"bench", "--help"}, {"bench", "idle", "-h"}, {"migrate-store", "-h"},
	} {
		var out bytes.Buffer
		if err := run(args, strings.NewReader(""), &out, &out); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "usage") {
			t.Errorf("%v printed no usage:\n%s", args, out.String())
		}
		if strings.Contains(out.String(), "unknown") {
			t.Errorf("%v: %s", args, out.String())
		}
	}
	var out bytes.Buffer
	run([]string{"serve", "--help"}, nil, &out, &out)
	for _, want := range []string{"  --signup\n", "  --xmpp-register\n", "  --data-dir STRING\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPasswordStdinOnlyWhereItMeansSomething: --password-stdin is a flag of
// the commands that read a password, and of no other.
func TestPasswordStdinOnlyWhereItMeansSomething(t *testing.T) {
	for args, want := range map[string]bool{"user add -h": true, "user passwd -h": true, "user list -h": false, "user delete -h": false, "token issue -h": false} {
		var out bytes.Buffer
		if err := run(strings.Fields(args), nil, &out, &out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "password-stdin"); got != want {
			t.Errorf("%s lists --password-stdin: %v\n%s", args, got, out.String())
		}
	}
	dir := newDataDir(t)
	var out bytes.Buffer
	err := run([]string{"user", "list", "--password-stdin", "--data-dir", dir}, nil, &out, &out)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "password-stdin") {
		t.Fatalf("user list --password-stdin: %v", err)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out bytes.Buffer
		if err := run(args, nil, &out, &out); err != nil || !strings.HasPrefix(out.String(), "presenced ") || !strings.Contains(out.String(), "go1.") {
			t.Errorf("%v: %q %v", args, out.String(), err)
		}
	}
}

// TestCLIRefusesMissingDataDir: only serve creates a data directory; the
// account commands run anywhere else stop with a clear error and create
// nothing.
func TestCLIRefusesMissingDataDir(t *testing.T) {
	t.Setenv("PRESENCED_DATA_DIR", "")
	t.Setenv("PRESENCED_CONFIG", "")
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	typo := filepath.Join(t.TempDir(), "presenced-dta")
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"user", "list"}, "", "no data directory"},
		{[]string{"user", "list", "--data-dir", typo}, "", "no data directory"},
		{[]string{"user", "add", "alice@localhost", "--password-stdin", "--data-dir", typo}, "alice-password\n", "no data directory"},
		{[]string{"user", "delete", "alice@localhost", "--data-dir", typo}, "", "no data directory"},
		{[]string{"user", "passwd", "alice@localhost", "--password-stdin", "--data-dir", typo}, "alice-password\n", "no data directory"},
		{[]string{"token", "issue", "alice@localhost", "--data-dir", typo}, "", "no data directory"},
		{[]string{"app", "list", "--data-dir", typo}, "", "no data directory"},
		{[]string{"app", "add", "--name", "A", "--redirect-uri", "https://a.example/cb", "--data-dir", typo}, "", "no data directory"},
		{[]string{"app", "delete", "x", "--data-dir", typo}, "", "no data directory"},
		{[]string{"user", "list", "--data-dir", elsewhere}, "", "not a presenced data directory"},
	} {
		var out bytes.Buffer
		err := run(tc.args, strings.NewReader(tc.stdin), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
	if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a command created %s: %v", typo, err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("a command wrote into the current folder: %v", ents)
	}
}

// TestUserAddRefusesOtherDomains: an account on a domain the server does
// not serve could never sign in; the domain comes from the same places as
// for serve.
func TestUserAddRefusesOtherDomains(t *testing.T) {
	t.Setenv("PRESENCED_DOMAIN", "")
	t.Setenv("PRESENCED_CONFIG", "")
	dir := newDataDir(t)
	add := func(address string, extra ...string) error {
		var out bytes.Buffer
		return run(append([]string{"user", "add", address, "--password-stdin", "--data-dir", dir}, extra...), strings.NewReader("long-enough\n"), &out, &out)
	}
	if err := add("bob@example.org"); err == nil || !strings.Contains(err.Error(), "serves localhost") {
		t.Fatalf("account on another domain: %v", err)
	}
	if err := add("bob@example.org", "--domain", "example.org"); err != nil {
		t.Fatalf("--domain: %v", err)
	}
	t.Setenv("PRESENCED_DOMAIN", "example.net")
	if err := add("carol@example.net"); err != nil {
		t.Fatalf("PRESENCED_DOMAIN: %v", err)
	}
	if err := add("dave@localhost"); err == nil {
		t.Fatal("localhost accepted while the configuration says example.net")
	}
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte("domain = \"example.com\"\n"), 0o600)
	t.Setenv("PRESENCED_DOMAIN", "")
	if err := add("erin@example.com", "--config", file); err != nil {
		t.Fatalf("domain from --config: %v", err)
	}
	// several domains: an address of any of them, a bare name on the first
	os.WriteFile(file, []byte("domain = [\"a.example\", \"b.example\"]\n"), 0o600)
	if err := add("frank@b.example", "--config", file); err != nil {
		t.Fatalf("second of two domains: %v", err)
	}
	if err := add("grace", "--config", file); err != nil {
		t.Fatalf("a bare name: %v", err)
	}
	if err := add("heidi@c.example", "--config", file); err == nil || !strings.Contains(err.Error(), "serves a.example, b.example") {
		t.Fatalf("a domain not served: %v", err)
	}
	var out bytes.Buffer
	if err := run([]string{"user", "list", "--data-dir", dir}, nil, &out, &out); err != nil || !strings.Contains(out.String(), "grace@a.example") || !strings.Contains(out.String(), "frank@b.example") {
		t.Fatalf("user list: %v\n%s", err, out.String())
	}
}
