package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte("domain = \"file.example\"\ngrace = \"9s\"\nhttp_addr = \"127.0.0.1:1\"\nallowed_origins = [\"https://a\", \"https://b\"]\n"), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--domain", "flag.example"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PRESENCED_DOMAIN": "env.example", "PRESENCED_GRACE": "7s"}
	c, err := Load(fs, file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "flag.example" || c.Grace != 7*time.Second || c.HTTPAddr != "127.0.0.1:1" || c.Heartbeat != 30*time.Second {
		t.Fatalf("precedence flags > env > file > defaults broken: %+v", c)
	}
	if len(c.AllowedOrigins) != 2 {
		t.Fatalf("origins %v", c.AllowedOrigins)
	}
	if c.XMPPResumeWindow != 300*time.Second {
		t.Fatalf("xmpp_resume_window defaults to %v", c.XMPPResumeWindow)
	}
	if c.MaxGrace != 300*time.Second {
		t.Fatalf("max_grace defaults to %v", c.MaxGrace)
	}
}

// TestResumeWindow: xmpp_resume_window is a duration of at least a second.
func TestResumeWindow(t *testing.T) {
	for v, want := range map[string]time.Duration{"10m": 10 * time.Minute, "0s": 0, "500ms": 0, "soon": 0} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs)
		fs.Parse(nil)
		c, err := Load(fs, "", func(k string) string { return map[string]string{"PRESENCED_XMPP_RESUME_WINDOW": v}[k] })
		switch {
		case want == 0 && (err == nil || !strings.Contains(err.Error(), "xmpp_resume_window")):
			t.Errorf("%s accepted: %v", v, err)
		case want != 0 && (err != nil || c.XMPPResumeWindow != want):
			t.Errorf("%s: %v, %v", v, c, err)
		}
	}
}

func TestErrors(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	fs.Parse(nil)
	if _, err := Load(fs, "", func(k string) string { return map[string]string{"PRESENCED_GRACE": "soon"}[k] }); err == nil || !strings.Contains(err.Error(), "grace") {
		t.Fatalf("bad duration: %v", err)
	}
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte("colour = \"blue\"\n"), 0o600)
	if _, err := Load(fs, file, os.Getenv); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestDocumented keeps docs/configuration.md's table in step with Settings.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
		for _, want := range []string{"`--" + s.Flag() + "`", "`" + s.Env() + "`", "`" + s.Key + "`"} {
			if !strings.Contains(string(doc), want) {
				t.Errorf("docs/configuration.md does not mention %s", want)
			}
		}
	}
}

// TestDurationBounds: durations where zero cannot work are refused with a
// SettingError naming the setting (heartbeat = 0 used to be accepted and
// then closed every WebSocket at its first frame).
func TestDurationBounds(t *testing.T) {
	for _, tc := range []struct {
		env, value string
		ok         bool
	}{
		{"PRESENCED_HEARTBEAT", "0", false},
		{"PRESENCED_HEARTBEAT", "0s", false},
		{"PRESENCED_HEARTBEAT", "-5s", false},
		{"PRESENCED_HEARTBEAT", "500ms", false}, // announced to clients as 0 seconds
		{"PRESENCED_HEARTBEAT", "25h", false},
		{"PRESENCED_HEARTBEAT", "1s", true},
		{"PRESENCED_HEARTBEAT", "24h", true},
		{"PRESENCED_GRACE", "0s", false},
		{"PRESENCED_GRACE", "999ms", false},
		{"PRESENCED_GRACE", "1s", true},
		{"PRESENCED_GRACE", "48h", true},
		{"PRESENCED_MAX_GRACE", "0s", false},
		{"PRESENCED_MAX_GRACE", "1h", true},
		{"PRESENCED_TOKEN_TTL", "0", true}, // no expiry
		{"PRESENCED_TOKEN_TTL", "-1h", false},
		{"PRESENCED_NODE_DEAD_AFTER", "1s", false}, // a beat a second: every late beat a death
		{"PRESENCED_NODE_DEAD_AFTER", "2s", true},
		{"PRESENCED_NODE_DEAD_AFTER", "61s", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs)
		fs.Parse(nil)
		_, err := Load(fs, "", func(k string) string { return map[string]string{tc.env: tc.value}[k] })
		if tc.ok {
			if err != nil {
				t.Errorf("%s=%s: %v", tc.env, tc.value, err)
			}
			continue
		}
		var se *SettingError
		if !errors.As(err, &se) || "PRESENCED_"+strings.ToUpper(se.Key) != tc.env || se.Value != tc.value || !errors.Is(err, ErrOutOfRange) {
			t.Errorf("%s=%s: %v, want a SettingError out of range", tc.env, tc.value, err)
		}
	}
}

// TestSwitches: on/off settings are boolean flags, written bare as the docs
// write them; "--signup" at the end of the line works, and does not take
// the next flag for its value.
func TestSwitches(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		signup bool
		addr   string
	}{
		{[]string{"--signup"}, true, "127.0.0.1:8080"},
		{[]string{"--http-addr", "127.0.0.1:1", "--signup"}, true, "127.0.0.1:1"},
		{[]string{"--signup", "--http-addr", "127.0.0.1:2"}, true, "127.0.0.1:2"},
		{[]string{"--signup=false", "--http-addr", "127.0.0.1:3"}, false, "127.0.0.1:3"},
		{[]string{"-signup=true"}, true, "127.0.0.1:8080"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if fs.NArg() != 0 {
			t.Errorf("%v: left over %v", tc.args, fs.Args())
		}
		c, err := Load(fs, "", func(string) string { return "" })
		if err != nil || c.Signup != tc.signup || c.HTTPAddr != tc.addr {
			t.Errorf("%v: signup %v addr %s, %v", tc.args, c.Signup, c.HTTPAddr, err)
		}
	}
	// a flag on the command line wins over the environment both ways
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	fs.Parse([]string{"--xmpp-register=false", "--xmpp-plaintext"})
	c, err := Load(fs, "", func(k string) string {
		return map[string]string{"PRESENCED_XMPP_REGISTER": "true", "PRESENCED_XMPP_PLAINTEXT": "false", "PRESENCED_SIGNUP": "1"}[k]
	})
	if err != nil || c.XMPPRegister || !c.XMPPPlaintext || !c.Signup {
		t.Fatalf("switch precedence: %+v %v", c, err)
	}
	for _, s := range Settings {
		if s.Switch != (s.Default == "false" || s.Default == "true") {
			t.Errorf("%s: Switch %v with default %q", s.Key, s.Switch, s.Default)
		}
	}
}

// TestDomainIsNormalised: the domain is compared with addresses, which are
// lower-cased: --domain Example.org serves example.org, and a name that is
// no DNS name is refused at start rather than refusing every address later.
func TestDomainIsNormalised(t *testing.T) {
	for in, want := range map[string]string{"Example.ORG": "example.org", "localhost": "localhost"} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs)
		if err := fs.Parse([]string{"--domain", in}); err != nil {
			t.Fatal(err)
		}
		c, err := Load(fs, "", func(string) string { return "" })
		if err != nil || c.Domain != want {
			t.Fatalf("%s: %q %v, want %q", in, c.Domain, err, want)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	fs.Parse([]string{"--domain", "not a domain"})
	var se *SettingError
	if _, err := Load(fs, "", func(string) string { return "" }); !errors.As(err, &se) || se.Key != "domain" {
		t.Fatalf("a bad domain: %v", err)
	}
}

// TestIdentityProviders: the file's array of tables and the variable's
// JSON array give the same providers; an incomplete one, an http issuer
// off loopback, an unknown field or a provider listed twice is refused.
func TestIdentityProviders(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte(`
[[identity_providers]]
name = "Example"
issuer = "https://id.example.org/realms/staff"
client_id = "presenced"
client_secret = "s3cret"

[[identity_providers]]
name = "Local"
issuer = "http://127.0.0.1:9000"
client_id = "p"
client_secret = "q"
`), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	fs.Parse(nil)
	c, err := Load(fs, file, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := []IdentityProvider{{"Example", "https://id.example.org/realms/staff", "presenced", "s3cret"}, {"Local", "http://127.0.0.1:9000", "p", "q"}}
	if len(c.IdentityProviders) != 2 || c.IdentityProviders[0] != want[0] || c.IdentityProviders[1] != want[1] {
		t.Fatalf("from the file: %+v", c.IdentityProviders)
	}
	env := `[{"name":"Example","issuer":"https://id.example.org/realms/staff","client_id":"presenced","client_secret":"s3cret"}]`
	c, err = Load(fs, "", func(k string) string { return map[string]string{"PRESENCED_IDENTITY_PROVIDERS": env}[k] })
	if err != nil || len(c.IdentityProviders) != 1 || c.IdentityProviders[0] != want[0] {
		t.Fatalf("from the environment: %+v %v", c.IdentityProviders, err)
	}
	for _, bad := range []string{
		`[{"name":"X","issuer":"http://id.example.org","client_id":"a","client_secret":"b"}]`,
		`[{"name":"X","issuer":"https://id.example.org","client_id":"a"}]`,
		`[{"name":"","issuer":"https://id.example.org","client_id":"a","client_secret":"b"}]`,
		`[{"name":"X","issuer":"https://id.example.org?x=1","client_id":"a","client_secret":"b"}]`,
		`[{"name":"X","issuer":"https://id.example.org","client_id":"a","client_secret":"b","colour":"blue"}]`,
		`[{"name":"X","issuer":"https://id.example.org","client_id":"a","client_secret":"b"},{"name":"Y","issuer":"https://id.example.org","client_id":"c","client_secret":"d"}]`,
		`{"name":"X"}`,
	} {
		_, err := Load(fs, "", func(k string) string { return map[string]string{"PRESENCED_IDENTITY_PROVIDERS": bad}[k] })
		var se *SettingError
		if !errors.As(err, &se) || se.Key != "identity_providers" {
			t.Errorf("%s: %v, want a SettingError", bad, err)
		}
	}
}

// TestStore: store is empty (SQLite in data_dir) or a postgres:// URL, from
// a flag or the environment; anything else is a SettingError that does not
// show the password.
func TestStore(t *testing.T) {
	load := func(env map[string]string, args ...string) (Config, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return Load(fs, "", func(k string) string { return env[k] })
	}
	if c, err := load(nil); err != nil || c.Store != "" {
		t.Fatalf("default: %q %v", c.Store, err)
	}
	const u = "postgres://p:secret@db.example:5432/presenced?sslmode=verify-full"
	if c, err := load(nil, "--store", u); err != nil || c.Store != u {
		t.Fatalf("flag: %q %v", c.Store, err)
	}
	if c, err := load(map[string]string{"PRESENCED_STORE": "postgresql://db/p"}); err != nil || c.Store != "postgresql://db/p" {
		t.Fatalf("environment: %q %v", c.Store, err)
	}
	for _, bad := range []string{"mysql://u:secret@db/p", "sqlite", "/var/lib/presenced"} {
		_, err := load(nil, "--store", bad)
		var se *SettingError
		if !errors.As(err, &se) || se.Key != "store" {
			t.Fatalf("%s: %v, want a SettingError for store", bad, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("%s: the error shows the password: %v", bad, err)
		}
	}
}

// TestS2SRoutes: routes come as a repeated flag (either name), a
// comma-separated variable or a list in the file, and bad ones are refused.
func TestS2SRoutes(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--s2s-route", "a.test=127.0.0.1:5270", "--s2s-route", "B.test=[::1]:5271", "--s2s-dialback"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, "", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.S2SRoutes) != 2 || c.S2SRoutes["a.test"] != "127.0.0.1:5270" || c.S2SRoutes["b.test"] != "[::1]:5271" || !c.S2SDialback {
		t.Fatalf("flags: %+v", c)
	}
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte("s2s_routes = [\"c.test=127.0.0.2:5269\"]\ns2s_addr = \"127.0.0.1:5269\"\n"), 0o600)
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	fs.Parse(nil)
	if c, err = Load(fs, file, func(string) string { return "" }); err != nil || c.S2SRoutes["c.test"] != "127.0.0.2:5269" || c.S2SAddr != "127.0.0.1:5269" {
		t.Fatalf("file: %+v %v", c, err)
	}
	env := map[string]string{"PRESENCED_S2S_ROUTES": "d.test=h:1, e.test=h:2"}
	if c, err = Load(fs, file, func(k string) string { return env[k] }); err != nil || len(c.S2SRoutes) != 2 || c.S2SRoutes["e.test"] != "h:2" {
		t.Fatalf("env: %+v %v", c, err)
	}
	for _, bad := range []string{"a.test", "a.test=nohost", "-x=h:1", "a.test=h:1,a.test=h:2"} {
		if _, err := Load(fs, "", func(k string) string { return map[string]string{"PRESENCED_S2S_ROUTES": bad}[k] }); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDomains: several domains come as a repeated or comma-separated
// flag, a comma-separated variable, or a string or a list in the file;
// the first is the primary; bad or repeated ones are refused.
func TestDomains(t *testing.T) {
	load := func(args []string, file string, env map[string]string) (Config, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return Load(fs, file, func(k string) string { return env[k] })
	}
	want := func(what string, c Config, err error, domains ...string) {
		t.Helper()
		if err != nil || c.Domain != domains[0] || strings.Join(c.Domains, " ") != strings.Join(domains, " ") ||
			strings.Join(c.ServedDomains(), " ") != strings.Join(domains, " ") {
			t.Errorf("%s: domain %q, domains %v, %v; want %v", what, c.Domain, c.Domains, err, domains)
		}
	}
	c, err := load(nil, "", nil)
	want("default", c, err, "localhost")
	c, err = load([]string{"--domain", "A.test", "--domain", "b.test,c.test"}, "", nil)
	want("flags", c, err, "a.test", "b.test", "c.test")
	c, err = load(nil, "", map[string]string{"PRESENCED_DOMAIN": "b.test, a.test"})
	want("env", c, err, "b.test", "a.test")
	dir := t.TempDir()
	one, list := filepath.Join(dir, "one.toml"), filepath.Join(dir, "list.toml")
	os.WriteFile(one, []byte("domain = \"one.test\"\n"), 0o600)
	os.WriteFile(list, []byte("domain = [\"x.test\", \"Y.test\"]\n"), 0o600)
	c, err = load(nil, one, nil)
	want("file string", c, err, "one.test")
	c, err = load(nil, list, nil)
	want("file list", c, err, "x.test", "y.test")
	c, err = load([]string{"--domain", "flag.test"}, list, map[string]string{"PRESENCED_DOMAIN": "env.test"})
	want("precedence", c, err, "flag.test")
	for _, bad := range []string{"a.test,a.test", "a.test,", "a.test,-x", ""} {
		_, err := load([]string{"--domain", bad}, "", nil)
		var se *SettingError
		if !errors.As(err, &se) || se.Key != "domain" {
			t.Errorf("%q: %v, want a SettingError for domain", bad, err)
		}
	}
	if got := (Config{Domain: "a.test", Domains: []string{"b.test", "a.test"}}).ServedDomains(); strings.Join(got, " ") != "a.test b.test" {
		t.Errorf("ServedDomains of a hand-made Config: %v", got)
	}
}

// TestS2SDomainLists: s2s_block and s2s_allow come as a list in the file,
// a comma-separated variable or flag, lower-cased; non-domains are refused.
func TestS2SDomainLists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte("s2s_block = [\"Evil.example\", \"spam.example\"]\n"), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--s2s-allow", "a.test, b.test"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, file, func(string) string { return "" })
	if err != nil || !slices.Equal(c.S2SBlock, []string{"evil.example", "spam.example"}) || !slices.Equal(c.S2SAllow, []string{"a.test", "b.test"}) {
		t.Fatalf("lists: %q %q %v", c.S2SBlock, c.S2SAllow, err)
	}
	env := map[string]string{"PRESENCED_S2S_BLOCK": "x.test"}
	if c, err = Load(fs, "", func(k string) string { return env[k] }); err != nil || !slices.Equal(c.S2SBlock, []string{"x.test"}) {
		t.Fatalf("env: %q %v", c.S2SBlock, err)
	}
	for _, bad := range []string{"a b", "user@x.test", "-x.test"} {
		if _, err := Load(fs, "", func(k string) string { return map[string]string{"PRESENCED_S2S_BLOCK": bad}[k] }); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
