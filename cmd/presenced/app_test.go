package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

// appCLI runs the command line args on the data directory dir.
func appCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(append(args, "--data-dir", dir), strings.NewReader(""), &out, &out)
	return out.String(), err
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := server.OpenExistingStore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var (
	clientIDLine     = regexp.MustCompile(`(?m)^client_id: +(\S+)$`)
	clientSecretLine = regexp.MustCompile(`(?m)^client_secret: +(\S+)$`)
)

// TestAppCommands registers a confidential and a public app, lists, shows
// and deletes them; the secret is printed once and only its hash is kept.
func TestAppCommands(t *testing.T) {
	dir := newDataDir(t)
	out, err := appCLI(t, dir, "app", "add", "--name", "Calls", "--redirect-uri", "https://calls.example/cb",
		"--redirect-uri", "http://127.0.0.1:9000/cb", "--redirect-uri", "https://calls.example/cb",
		"--logo", "https://calls.example/logo.png", "--description", "Ring your contacts")
	if err != nil {
		t.Fatalf("app add: %v\n%s", err, out)
	}
	idm, secm := clientIDLine.FindStringSubmatch(out), clientSecretLine.FindStringSubmatch(out)
	if idm == nil || secm == nil {
		t.Fatalf("app add printed no client_id and client_secret:\n%s", out)
	}
	id, secret := idm[1], secm[1]
	if raw, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(raw) < 16 {
		t.Errorf("client ID %q: %d bytes, %v", id, len(raw), err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, "pds_")); !strings.HasPrefix(secret, "pds_") || err != nil || len(raw) < 32 {
		t.Errorf("client secret %q: %d bytes, %v", secret, len(raw), err)
	}

	st := openStore(t, dir)
	a, err := st.GetApp(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	want := store.App{ID: id, Name: "Calls", RedirectURIs: []string{"https://calls.example/cb", "http://127.0.0.1:9000/cb"},
		Scopes: slices.Clone(store.KnownScopes),
		Logo:   "https://calls.example/logo.png", Description: "Ring your contacts", SecretHash: sum[:], CreatedAt: a.CreatedAt}
	if !reflect.DeepEqual(a, want) || time.Since(a.CreatedAt) > time.Minute {
		t.Fatalf("stored %+v\nwant %+v", a, want)
	}

	roomKey := filepath.Join(t.TempDir(), "room.jwk")
	writeFile(t, roomKey, []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	out, err = appCLI(t, dir, "app", "add", "--json", "--name", "Game", "--public", "--redirect-uri", "http://[::1]:8765/cb",
		"--scope", "openid presence:read", "--scope", "presence:publish", "--scope", "openid", "--room-key", roomKey)
	if err != nil {
		t.Fatalf("app add --public --json: %v\n%s", err, out)
	}
	var game appJSON
	if err := json.Unmarshal([]byte(out), &game); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if game.ID == "" || game.ID == id || game.Secret != "" || strings.Contains(out, "secret") || !game.Public ||
		!reflect.DeepEqual(game.Scopes, []string{"openid", "presence:read", "presence:publish"}) ||
		!reflect.DeepEqual(game.RedirectURIs, []string{"http://[::1]:8765/cb"}) {
		t.Fatalf("public app %+v\n%s", game, out)
	}
	if a, _ := st.GetApp(context.Background(), game.ID); a.SecretHash != nil || !a.Public || !strings.Contains(string(a.RoomKey), `"Ed25519"`) {
		t.Fatalf("public app stored with a secret, or without its room key: %+v", a)
	}
	symmetric := filepath.Join(t.TempDir(), "oct.jwk")
	writeFile(t, symmetric, []byte(`{"kty":"oct","k":"c2VjcmV0"}`))
	for _, file := range []string{symmetric, filepath.Join(t.TempDir(), "missing.jwk")} {
		if _, err := appCLI(t, dir, "app", "add", "--name", "Bad", "--redirect-uri", "https://bad.example/", "--room-key", file); err == nil || !strings.Contains(err.Error(), "room") {
			t.Errorf("--room-key %s: %v", file, err)
		}
	}
	out, err = appCLI(t, dir, "app", "add", "--json", "--name", "Third", "--redirect-uri", "https://third.example/")
	var third appJSON
	if err != nil || json.Unmarshal([]byte(out), &third) != nil || !strings.HasPrefix(third.Secret, "pds_") || third.Secret == secret {
		t.Fatalf("confidential app --json: %v\n%s", err, out)
	}

	// the secret is never shown again
	for _, args := range [][]string{{"app", "list"}, {"app", "list", "--json"}, {"app", "show", id}, {"app", "show", id, "--json"}} {
		out, err := appCLI(t, dir, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if strings.Contains(out, secret) || strings.Contains(out, "pds_") || strings.Contains(out, "secret") {
			t.Errorf("%v shows the secret:\n%s", args, out)
		}
	}
	out, _ = appCLI(t, dir, "app", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 ||
		lines[0] != id+"\tCalls\tconfidential\t(operator)" || lines[1] != game.ID+"\tGame\tpublic\t(operator)" {
		t.Errorf("app list:\n%s", out)
	}
	out, _ = appCLI(t, dir, "app", "list", "--json")
	var list []appJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 || list[0].ID != id || list[0].Description != "Ring your contacts" {
		t.Errorf("app list --json: %v\n%s", err, out)
	}
	out, _ = appCLI(t, dir, "app", "show", id)
	for _, want := range []string{"name:          Calls\n", "client:        confidential\n", "redirect_uri:  http://127.0.0.1:9000/cb\n", "logo:          https://calls.example/logo.png\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("app show lacks %q:\n%s", want, out)
		}
	}

	for _, gone := range []string{id, game.ID, third.ID} {
		if out, err := appCLI(t, dir, "app", "delete", gone); err != nil || !strings.Contains(out, "deleted app "+gone) {
			t.Fatalf("app delete: %v\n%s", err, out)
		}
	}
	for _, args := range [][]string{{"app", "show", id}, {"app", "delete", id}} {
		if _, err := appCLI(t, dir, args...); err == nil || !strings.Contains(err.Error(), "no app "+id) {
			t.Errorf("%v after the deletion: %v", args, err)
		}
	}
	if out, _ := appCLI(t, dir, "app", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("app list --json of none: %q", out)
	}
}

// TestAppAddRefusesBadInput: every mistake is named, as a usage error,
// and nothing is registered.
func TestAppAddRefusesBadInput(t *testing.T) {
	dir := newDataDir(t)
	ok := []string{"--name", "Calls", "--redirect-uri", "https://calls.example/cb"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redirect-uri", "https://calls.example/cb"}, "needs a name"},
		{[]string{"--name", "Calls"}, "at least one redirect URI"},
		{append(ok, "--redirect-uri", "http://calls.example/cb"), "must be https, or http on a loopback host"},
		{append(ok, "--redirect-uri", "https://calls.example/cb#x"), "fragment"},
		{append(ok, "--redirect-uri", "/cb"), "absolute"},
		{append(ok, "--scope", "admin"), `unknown scope "admin"`},
		{append(ok, "--logo", "http://calls.example/logo.png"), "must be an https URL"},
		{append(ok, "--owner", "not an address"), "--owner"},
		{append(ok, "extra"), "usage: presenced app add"},
		{append(ok, "--secret", "x"), "flag provided but not defined: -secret"},
	} {
		_, err := appCLI(t, dir, append([]string{"app", "add"}, tc.args...)...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error saying %q", tc.args, err, tc.want)
		}
	}
	for _, args := range [][]string{{"app", "show"}, {"app", "delete"}, {"app", "list", "x"}, {"app", "rename", "x"}, {"app", "delete", "x", "--json"}} {
		var u usageError
		if _, err := appCLI(t, dir, args...); !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := appCLI(t, dir, append([]string{"app", "add", "--owner", "ghost@localhost"}, ok...)...); err == nil || !strings.Contains(err.Error(), "no account ghost@localhost") {
		t.Errorf("an unknown owner: %v", err)
	}
	if out, _ := appCLI(t, dir, "app", "list"); out != "" {
		t.Errorf("registered anyway:\n%s", out)
	}
}

// TestAppOwnerAndRevocation: an app owned by an account goes with it, and
// deleting an app from the CLI revokes its users' tokens through the
// lifecycle log, which a running server hears.
func TestAppOwnerAndRevocation(t *testing.T) {
	dir := newDataDir(t)
	ctx := context.Background()
	var out bytes.Buffer
	for _, a := range []string{"alice@localhost", "bob@localhost"} {
		if err := run([]string{"user", "add", a, "--password-stdin", "--data-dir", dir}, strings.NewReader("long-enough\n"), &out, &out); err != nil {
			t.Fatal(err)
		}
	}
	add := func(extra ...string) appJSON {
		t.Helper()
		out, err := appCLI(t, dir, append([]string{"app", "add", "--json", "--name", "A", "--redirect-uri", "https://a.example/cb"}, extra...)...)
		var j appJSON
		if err != nil || json.Unmarshal([]byte(out), &j) != nil {
			t.Fatalf("app add: %v\n%s", err, out)
		}
		return j
	}
	alices, ops := add("--owner", "Alice@localhost"), add()
	if alices.Owner != "alice@localhost" || ops.Owner != "" {
		t.Fatalf("owners %q %q", alices.Owner, ops.Owner)
	}
	st := openStore(t, dir)
	for _, app := range []string{alices.ID, ops.ID} {
		if err := st.PutGrant(ctx, store.Grant{Account: "bob@localhost", App: app, Contacts: store.ContactsAll}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, store.Token{ID: "tok-" + app, Hash: []byte(app), Account: "bob@localhost", App: app}); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := st.LastLifecycleID(ctx)
	if out, err := appCLI(t, dir, "app", "delete", ops.ID); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := appCLI(t, dir, "user", "delete", "alice@localhost"); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.LifecycleSince(ctx, last, 10)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Kind+" "+ev.Account+" "+ev.TokenID)
	}
	want := []string{"token_revoked bob@localhost tok-" + ops.ID, "token_revoked bob@localhost tok-" + alices.ID, "deleted alice@localhost "}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("logged %q\nwant %q", got, want)
	}
	if out, _ := appCLI(t, dir, "app", "list"); out != "" {
		t.Errorf("apps left:\n%s", out)
	}
}

// TestAppDocsExample runs the first shell block of docs/operations.md's
// "Apps" section as written, with presenced on the PATH.
func TestAppDocsExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skipf("needs bash: %v", err)
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "\n### Apps\n")
	if !ok {
		t.Fatal("docs/operations.md has no Apps section")
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(sec)
	if m == nil || !strings.Contains(m[1], "presenced app add") {
		t.Fatalf("no example in the Apps section")
	}
	bin := buildBinary(t)
	dir := newDataDir(t)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", m[1])
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "PRESENCED_DATA_DIR="+dir, "PRESENCED_CONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "client_secret: pds_") || !strings.Contains(string(out), `"public": true`) || strings.Count(string(out), "(operator)") != 2 {
		t.Fatalf("the example printed:\n%s", out)
	}
}
