// Package config reads presenced's settings from flags, PRESENCED_*
// environment variables and an optional TOML file, in that order of
// precedence, over built-in defaults. Settings lists them all; the table in
// docs/configuration.md is checked against it by a test.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/presenced/presenced/internal/addr"
)

// Config is the server's configuration.
type Config struct {
	DataDir        string
	Store          string // a postgres:// URL; "": the SQLite database in DataDir
	HTTPAddr       string
	PublicURL      string   // where apps and browsers reach the server: the OAuth/OIDC issuer ("" : from http_addr)
	Domain         string   // the primary domain: a bare user name without @ is an account of it
	Domains        []string // every domain served, Domain first (domainSetting)
	Grace          time.Duration
	MaxGrace       time.Duration // the longest grace a JSON-protocol hello may ask for
	Heartbeat      time.Duration
	WSWriteDelay   time.Duration // at least this between two writes to one WebSocket (0: write at once)
	CoalesceAfter  int           // unsent events before a contact's presence updates coalesce (core.Limits.CoalesceAfter)
	TokenTTL       time.Duration
	Signup         bool
	TLSCert        string
	TLSKey         string
	AllowedOrigins []string
	AdminAddr      string
	LogLevel       string
	HashWorkers    int
	SessionRate    float64
	SessionBurst   int
	XMPPAddr       string
	XMPPTLSAddr    string
	XMPPPlaintext  bool
	XMPPRegister   bool
	// XMPPResumeWindow is how long a dropped XEP-0198 stream can be resumed.
	XMPPResumeWindow time.Duration
	// Offline delivery and history (docs/offline.md).
	OfflineTTL      time.Duration
	OfflineMessages int
	OfflineBytes    int
	HistoryTTL      time.Duration
	HistoryMax      int
	// IdentityProviders are the external OpenID Connect providers people
	// may sign in with, and whose ID tokens apps may exchange
	// (internal/identity).
	IdentityProviders []IdentityProvider
	// PushAllowPrivate lets Web Push endpoints be http, or on loopback and
	// private addresses (internal/webpush); PushSubject is the operator's
	// VAPID contact.
	PushAllowPrivate bool
	PushSubject      string
	// NATS lists the NATS servers of a cluster (internal/cluster);
	// empty: a single node. NodeID names this node among the domain's
	// ("": a unique name is made at start).
	NATS   []string
	NodeID string
	// NodeDeadAfter: a node not heard from for this long is declared dead
	// by the others (its users shown offline everywhere).
	NodeDeadAfter time.Duration
	// Demos serves the two demo apps under /demo/ and registers them
	// (internal/demo, docs/demos.md).
	Demos bool
	// Federation (docs/federation.md): the s2s listener, static routes
	// (domain → host:port) and the switch that allows Server Dialback.
	S2SAddr         string
	S2STLSAddr      string
	S2SRoutes       map[string]string
	S2SDialback     bool
	S2SAllowPrivate bool
	// S2SBlock lists domains never federated with; S2SAllow, when not
	// empty, the only domains federated with.
	S2SBlock, S2SAllow []string
	// S2SRate and S2SBurst bound the stanzas each authenticated remote
	// domain may send (a token bucket per domain).
	S2SRate  float64
	S2SBurst int
	// S2SCAFile is a PEM file of CA certificates trusted, besides the
	// system's roots, for other domains' certificates (a private CA).
	S2SCAFile string
}

// positiveFloat parses a positive number into *field.
func positiveFloat(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("%q is not a positive number", v)
		}
		*field(c) = f
		return nil
	}
}

// s2sDomains parses a comma-separated list of domains into *field.
func s2sDomains(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []string
		for _, d := range strings.Split(v, ",") {
			if d = strings.ToLower(strings.TrimSpace(d)); d == "" {
				continue
			}
			if err := addr.Domain(d); err != nil {
				return fmt.Errorf("%q is not a domain: %v", d, err)
			}
			out = append(out, d)
		}
		*field(c) = out
		return nil
	}
}

// s2sRoutes parses DOMAIN=HOST:PORT entries separated by commas.
func s2sRoutes(c *Config, v string) error {
	c.S2SRoutes = nil
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		d, hp, ok := strings.Cut(e, "=")
		d = strings.ToLower(strings.TrimSpace(d))
		if !ok || addr.Domain(d) != nil {
			return fmt.Errorf("%q is not DOMAIN=HOST:PORT", e)
		}
		if host, port, err := net.SplitHostPort(strings.TrimSpace(hp)); err != nil || host == "" || port == "" {
			return fmt.Errorf("%q is not DOMAIN=HOST:PORT", e)
		}
		if c.S2SRoutes == nil {
			c.S2SRoutes = map[string]string{}
		}
		if _, dup := c.S2SRoutes[d]; dup {
			return fmt.Errorf("two routes for %s", d)
		}
		c.S2SRoutes[d] = strings.TrimSpace(hp)
	}
	return nil
}

// repeatable settings take their flag several times (each adds an entry),
// also under an alias in the singular where the key is plural ("": none).
var repeatable = map[string]string{"s2s_routes": "s2s-route", "domain": ""}

// listFlag accumulates a repeatable flag's values, comma-separated.
type listFlag struct{ vals []string }

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}
func (l *listFlag) Set(v string) error { l.vals = append(l.vals, v); return nil }

// IdentityProvider is an external OpenID Connect provider: its issuer URL
// and presenced's client registration there.
type IdentityProvider struct {
	Name         string `json:"name" toml:"name"` // shown on the button: "Sign in with Name"
	Issuer       string `json:"issuer" toml:"issuer"`
	ClientID     string `json:"client_id" toml:"client_id"`
	ClientSecret string `json:"client_secret" toml:"client_secret"`
}

// identityProviders parses the identity_providers setting: a JSON array
// of {name, issuer, client_id, client_secret} (the TOML file's array of
// tables arrives here as JSON too).
func identityProviders(c *Config, v string) error {
	c.IdentityProviders = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	var list []IdentityProvider
	if err := dec.Decode(&list); err != nil {
		return fmt.Errorf("not a list of {name, issuer, client_id, client_secret}: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range list {
		if p.Name == "" || len(p.Name) > 64 || p.ClientID == "" || p.ClientSecret == "" {
			return fmt.Errorf("identity provider %q: name (at most 64 bytes), issuer, client_id and client_secret are all needed", p.Issuer)
		}
		if err := checkProviderIssuer(p.Issuer); err != nil {
			return err
		}
		if seen[p.Issuer] {
			return fmt.Errorf("identity provider %s is listed twice", p.Issuer)
		}
		seen[p.Issuer] = true
	}
	c.IdentityProviders = list
	return nil
}

// checkProviderIssuer accepts an https URL (with a path or not, as
// issuers are), or http on a loopback host (a provider on this machine).
func checkProviderIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("identity provider issuer %q must be an absolute URL without query or fragment", issuer)
	}
	if u.Scheme == "https" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme == "http" && (u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		return nil
	}
	return fmt.Errorf("identity provider issuer %q must be https (http only on a loopback address)", issuer)
}

// Setting is one configuration knob.
type Setting struct {
	Key     string // TOML key; flag is the same with - for _; env is PRESENCED_ + upper case
	Default string
	Help    string
	set     func(c *Config, v string) error
	// Switch settings are on/off: their flag is given bare (--signup) or
	// with a value (--signup=false), never as "--signup true", which would
	// take the next word for the value.
	Switch bool
}

// Flag is the setting's command-line flag name.
func (s Setting) Flag() string { return strings.ReplaceAll(s.Key, "_", "-") }

// Env is the setting's environment variable.
func (s Setting) Env() string { return "PRESENCED_" + strings.ToUpper(s.Key) }

// switchSetting is an on/off setting, off by default. Its values are those
// of strconv.ParseBool: true, false, 1, 0, t, f and their capitals.
func switchSetting(key, help string, f func(*Config) *bool) Setting {
	return Setting{Key: key, Default: "false", Help: help, Switch: true, set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*f(c) = b
		return nil
	}}
}

// defaultOn is s, on unless turned off.
func defaultOn(s Setting) Setting {
	s.Default = "true"
	return s
}

func str(f func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

// domainSetting takes the served domains, comma-separated (a repeated
// flag and a list in the file arrive so too), as addresses will name
// them: lower-cased (as addr.Bare lower-cases theirs), valid DNS names,
// each once. The first is the primary domain.
func domainSetting(c *Config, v string) error {
	c.Domain, c.Domains = "", nil
	for _, d := range strings.Split(v, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if err := addr.Domain(d); err != nil {
			return err
		}
		if slices.Contains(c.Domains, d) {
			return fmt.Errorf("%s is listed twice", d)
		}
		c.Domains = append(c.Domains, d)
	}
	c.Domain = c.Domains[0]
	return nil
}

// ServedDomains lists the domains served, each once: Domain (the
// primary), then the rest of Domains (a Config built by hand may set
// Domain alone).
func (c Config) ServedDomains() []string {
	out := []string{c.Domain}
	for _, d := range c.Domains {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// storeSetting takes "" (SQLite in data_dir) or a PostgreSQL URL.
func storeSetting(c *Config, v string) error {
	if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
		return fmt.Errorf("%q is not a postgres:// URL (leave it empty for SQLite in data_dir)", redactURL(v))
	}
	if _, err := url.Parse(v); err != nil {
		return fmt.Errorf("not a URL: %s", redactURL(v))
	}
	c.Store = v
	return nil
}

// redactURL hides a password in a URL shown in an error or a log.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		if i := strings.LastIndex(v, "@"); i >= 0 {
			return "…" + v[i:]
		}
		return v
	}
	return u.Redacted()
}

// SettingError is a setting whose value cannot be used; Load returns it.
type SettingError struct {
	Key   string // TOML key
	Value string
	Err   error // what is wrong with Value
}

func (e *SettingError) Error() string { return "setting " + e.Key + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// ErrOutOfRange matches (errors.Is) the error of a SettingError whose
// value parsed but lies outside the setting's range.
var ErrOutOfRange = errors.New("out of range")

// rangeError says which range; it is ErrOutOfRange.
type rangeError string

func (e rangeError) Error() string        { return string(e) }
func (e rangeError) Is(target error) bool { return target == ErrOutOfRange }

// dur parses a duration of at least min and, when max > 0, at most max.
// intIn parses a whole number from min to max into the field f returns.
func intIn(f func(*Config) *int, min, max int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("%q is not a number from %d to %d", v, min, max)
		}
		*f(c) = n
		return nil
	}
}

func dur(f func(*Config) *time.Duration, min, max time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 5s or 720h", v)
		}
		switch {
		case d < 0 && min == 0:
			return rangeError(fmt.Sprintf("%q is negative", v))
		case max > 0 && (d < min || d > max):
			return rangeError(fmt.Sprintf("%q must be from %s to %s", v, short(min), short(max)))
		case d < min:
			return rangeError(fmt.Sprintf("%q must be at least %s", v, short(min)))
		}
		*f(c) = d
		return nil
	}
}

// short writes a duration as people do: 24h, not 24h0m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// positive parses a whole number of at least 1.
func positive(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number", v)
		}
		*field(c) = n
		return nil
	}
}

// Bounds of the durations where zero (or a fraction of a second) cannot
// work. The welcome frame announces grace and heartbeat in whole seconds,
// so a shorter value reaches clients as 0, which they read as "not
// given". A zero heartbeat would close every WebSocket at its first read
// (the read deadline is three heartbeats); a zero grace would end every
// long-poll session between two polls and show every dropped connection
// to contacts as leaving. Three heartbeats must fit in a time.Duration.
const (
	MinHeartbeat = time.Second
	MaxHeartbeat = 24 * time.Hour
	MinGrace     = time.Second
)

// Settings are all the settings, in documentation order.
var Settings = []Setting{
	{"data_dir", "presenced-data", "directory for the SQLite database and keys; serve creates it if missing and locks it while it runs", str(func(c *Config) *string { return &c.DataDir }), false},
	{"store", "", "where the durable data lives: empty for the SQLite database in data_dir; a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL for PostgreSQL, which several servers may share (docs/operations.md#running-on-postgresql); data_dir still holds the keys", storeSetting, false},
	{"http_addr", "127.0.0.1:8080", "HTTP listener: web page, REST API, WebSocket and long-polling", str(func(c *Config) *string { return &c.HTTPAddr }), false},
	{"public_url", "", "the URL apps and browsers reach this server at, scheme://host[:port], the issuer of its OAuth/OpenID Connect tokens (docs/apps.md); https, or http on a loopback host; empty: http://HOST:PORT of http_addr (https with tls_cert)", str(func(c *Config) *string { return &c.PublicURL }), false},
	{"domain", "localhost", "the domains this server hosts (accounts are user@domain): one, or several comma-separated (the flag may be repeated; a list in the file); the first is the primary domain, the one a user name without @domain belongs to (docs/federation.md#several-domains-in-one-process)", domainSetting, false},
	{"grace", "5s", "how long a dropped session stays online awaiting resumption (at least 1s)", dur(func(c *Config) *time.Duration { return &c.Grace }, MinGrace, 0), false},
	{"max_grace", "300s", "the longest grace period a client may ask for in its hello (docs/protocol.md), e.g. a long-poll client that polls rarely; never less than grace", dur(func(c *Config) *time.Duration { return &c.MaxGrace }, MinGrace, 0), false},
	{"heartbeat", "30s", "how often clients must send something; silent connections close after 3 periods (1s to 24h)", dur(func(c *Config) *time.Duration { return &c.Heartbeat }, MinHeartbeat, MaxHeartbeat), false},
	{"ws_write_delay", "0s", "at least this long between two writes to one WebSocket: events arriving sooner go out together in one write (fewer system calls under heavy fan-out, at that much latency); 0 writes at once (0 to 1s)", dur(func(c *Config) *time.Duration { return &c.WSWriteDelay }, 0, time.Second), false},
	{"presence_coalesce_after", "0", "events a session may have waiting unsent before a contact's newer presence replaces its unsent one (latest wins); below it every update is sent, several per write; 0 replaces at once (0 to 512)", intIn(func(c *Config) *int { return &c.CoalesceAfter }, 0, 512), false},
	{"token_ttl", "720h", "lifetime of bearer tokens, issued at sign-in or by `presenced token issue` (0: no expiry)", dur(func(c *Config) *time.Duration { return &c.TokenTTL }, 0, 0), false},
	switchSetting("signup", "allow self sign-up on the web page and POST /v1/auth/signup", func(c *Config) *bool { return &c.Signup }),
	{"tls_cert", "", "PEM certificate file: serve HTTPS (with tls_key)", str(func(c *Config) *string { return &c.TLSCert }), false},
	{"tls_key", "", "PEM private key file for tls_cert", str(func(c *Config) *string { return &c.TLSKey }), false},
	{"allowed_origins", "", "comma-separated extra origins whose pages may open WebSocket sessions (the server's own origin always may)", func(c *Config, v string) error {
		c.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
		return nil
	}, false},
	{"admin_addr", "", "opt-in listener for /metrics and /debug/pprof, e.g. 127.0.0.1:9090 (keep it on loopback; off when empty)", str(func(c *Config) *string { return &c.AdminAddr }), false},
	{"log_level", "info", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel }), false},
	{"hash_workers", "2", "password hashes computed at once (argon2id uses 19 MiB each)", intIn(func(c *Config) *int { return &c.HashWorkers }, 1, 64), false},
	{"session_rate", "20", "requests per second one session may send (sustained)", positiveFloat(func(c *Config) *float64 { return &c.SessionRate }), false},
	{"session_burst", "60", "requests one session may send in a burst", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number", v)
		}
		c.SessionBurst = n
		return nil
	}, false},
	{"xmpp_addr", "127.0.0.1:5222", "XMPP client listener with STARTTLS (docs/xmpp.md); off when empty", str(func(c *Config) *string { return &c.XMPPAddr }), false},
	{"xmpp_tls_addr", "", "XMPP client listener with direct TLS (XEP-0368), e.g. 127.0.0.1:5223 (off when empty)", str(func(c *Config) *string { return &c.XMPPTLSAddr }), false},
	switchSetting("xmpp_plaintext", "let XMPP clients skip TLS (never PLAIN without TLS); for tests on loopback", func(c *Config) *bool { return &c.XMPPPlaintext }),
	switchSetting("xmpp_register", "let XMPP clients create accounts with in-band registration (XEP-0077)", func(c *Config) *bool { return &c.XMPPRegister }),
	{"xmpp_resume_window", "300s", "how long an XMPP client with stream management (XEP-0198) can resume its stream after the connection drops; its session stays online that long", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return fmt.Errorf("%q is not a duration of at least 1s, like 300s or 10m", v)
		}
		c.XMPPResumeWindow = d
		return nil
	}, false},
	switchSetting("push_allow_private", "let Web Push endpoints be http, or on loopback and private addresses (docs/push.md): for tests and closed networks, never on a server facing the Internet", func(c *Config) *bool { return &c.PushAllowPrivate }),
	defaultOn(switchSetting("demos", "serve the demo calling and chat apps under /demo/ and register them as apps (docs/demos.md)", func(c *Config) *bool { return &c.Demos })),
	{"push_subject", "", "the operator's contact given to Web Push services (VAPID, RFC 8292): a mailto: or https: URL; empty: mailto:postmaster@DOMAIN", str(func(c *Config) *string { return &c.PushSubject }), false},
	{"offline_ttl", "720h", "how long a message stored for an account with no session waits for it (docs/offline.md)", dur(func(c *Config) *time.Duration { return &c.OfflineTTL }, time.Minute, 0), false},
	{"offline_max_messages", "1000", "messages stored per account at most; more are refused with limit", positive(func(c *Config) *int { return &c.OfflineMessages }), false},
	{"offline_max_bytes", "4194304", "bytes of stored messages (bodies and XMPP payloads) per account at most; more are refused with limit", positive(func(c *Config) *int { return &c.OfflineBytes }), false},
	{"history_ttl", "720h", "how long each user's 1-1 message history (XEP-0313, the history frame) is kept", dur(func(c *Config) *time.Duration { return &c.HistoryTTL }, time.Minute, 0), false},
	{"history_max", "10000", "messages kept in each user's history at most (the oldest go first)", positive(func(c *Config) *int { return &c.HistoryMax }), false},
	{"s2s_addr", "", "XMPP server-to-server listener for federation with other domains (docs/federation.md), e.g. 0.0.0.0:5269; off when empty", str(func(c *Config) *string { return &c.S2SAddr }), false},
	{"s2s_tls_addr", "", "XMPP server-to-server listener with direct TLS (XEP-0368), e.g. 0.0.0.0:5270; off when empty", str(func(c *Config) *string { return &c.S2STLSAddr }), false},
	{"s2s_routes", "", "static federation routes DOMAIN=HOST:PORT, comma-separated (the flag may be repeated, also as --s2s-route; a list in the file): they override DNS for that domain and may point at loopback", s2sRoutes, false},
	switchSetting("s2s_dialback", "let Server Dialback (XEP-0220) authenticate federating domains whose certificates are not checked (self-signed deployments); without it only domains whose certificates verify (SASL EXTERNAL) federate (docs/federation.md)", func(c *Config) *bool { return &c.S2SDialback }),
	{"s2s_block", "", "domains never federated with, comma-separated (a list in the file): their streams end with policy-violation and nothing is sent to them (docs/federation.md)", s2sDomains(func(c *Config) *[]string { return &c.S2SBlock }), false},
	{"s2s_allow", "", "when not empty, the only domains federated with, comma-separated (a list in the file); s2s_block still applies (docs/federation.md)", s2sDomains(func(c *Config) *[]string { return &c.S2SAllow }), false},
	{"s2s_rate", "200", "stanzas per second each remote domain may send, over all its streams (sustained); over it messages and iq requests are answered resource-constraint, and a domain that keeps on has its stream closed (docs/federation.md)", positiveFloat(func(c *Config) *float64 { return &c.S2SRate }), false},
	{"s2s_burst", "2000", "stanzas each remote domain may send in a burst", positive(func(c *Config) *int { return &c.S2SBurst }), false},
	{"s2s_ca_file", "", "PEM file of CA certificates trusted, besides the system's roots, to check other domains' certificates for SASL EXTERNAL (a private CA of a closed federation); empty: the system's roots only", str(func(c *Config) *string { return &c.S2SCAFile }), false},
	switchSetting("s2s_allow_private", "let federation connect to loopback, private and reserved addresses found in DNS (tests and closed networks; static routes may point anywhere)", func(c *Config) *bool { return &c.S2SAllowPrivate }),
	{"identity_providers", "", "external OpenID Connect providers people may sign in with and whose ID tokens apps may exchange (docs/operations.md): in the file an array of tables with name, issuer, client_id and client_secret; as a flag or variable the same as a JSON array", identityProviders, false},
	{"nats", "", "NATS servers joining this node to a cluster serving one domain (docs/operations.md, \"Running a cluster\"): nats://HOST:PORT, or a comma-separated list for a NATS cluster; JetStream must be enabled; empty: a single node", natsURLs, false},
	{"node_id", "", "this node's name among the cluster's nodes: letters, digits, - and _, at most 64, unique per domain; empty: the host name and a random suffix, new at each start", func(c *Config, v string) error {
		if v != "" && !nodeIDOK(v) {
			return fmt.Errorf("%q: 1 to 64 letters, digits, - and _", v)
		}
		c.NodeID = v
		return nil
	}, false},
	{"node_dead_after", "3s", "a cluster node not heard from for this long (nodes beat every second) is declared dead by the others and its users shown offline everywhere: longer rides out nodes starved of CPU without flapping, shorter shows a killed node's users offline sooner", dur(func(c *Config) *time.Duration { return &c.NodeDeadAfter }, 2*time.Second, time.Minute), false},
}

// natsURLs parses the nats setting.
func natsURLs(c *Config, v string) error {
	c.NATS = nil
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok || rest == "" || scheme != "nats" && scheme != "tls" {
			return fmt.Errorf("%q is not a nats://HOST:PORT (or tls://) URL", u)
		}
		c.NATS = append(c.NATS, u)
	}
	return nil
}

func nodeIDOK(v string) bool {
	if len(v) > 64 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Flags registers every setting on fs, plus -config. Call Load after
// fs.Parse.
func Flags(fs *flag.FlagSet) *string {
	for _, s := range Settings {
		s.register(fs)
	}
	return fs.String("config", os.Getenv("PRESENCED_CONFIG"), "optional TOML file with the settings above (env PRESENCED_CONFIG)")
}

// FlagsFor registers the settings named by keys (TOML keys) on fs, plus
// -config: the account commands read the server's data_dir and domain from
// the same flags, environment and file as the server. Load still returns
// the whole configuration.
func FlagsFor(fs *flag.FlagSet, keys ...string) *string {
	for _, s := range Settings {
		if slices.Contains(keys, s.Key) {
			s.register(fs)
		}
	}
	return fs.String("config", os.Getenv("PRESENCED_CONFIG"), "optional TOML file with the server's settings (env PRESENCED_CONFIG)")
}

// register adds the setting's flag: a switch is a boolean flag, so that
// "--signup" needs no value and does not swallow the next argument.
func (s Setting) register(fs *flag.FlagSet) {
	if alias, ok := repeatable[s.Key]; ok {
		l := &listFlag{}
		fs.Var(l, s.Flag(), s.Help+" (env "+s.Env()+")")
		if alias != "" {
			fs.Var(l, alias, "the same as --"+s.Flag())
		}
		return
	}
	if s.Switch {
		fs.Bool(s.Flag(), s.Default == "true", s.Help+" (env "+s.Env()+")")
		return
	}
	fs.String(s.Flag(), s.Default, s.Help+" (env "+s.Env()+")")
}

// Load builds the configuration: defaults, then the TOML file, then the
// environment, then the flags set on the command line.
func Load(fs *flag.FlagSet, file string, env func(string) string) (Config, error) {
	values := map[string]string{}
	for _, s := range Settings {
		values[s.Key] = s.Default
	}
	if file != "" {
		var raw map[string]any
		if _, err := toml.DecodeFile(file, &raw); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", file, err)
		}
		for k, v := range raw {
			if _, ok := values[k]; !ok {
				return Config{}, fmt.Errorf("config file %s: unknown setting %q", file, k)
			}
			switch v := v.(type) {
			case []map[string]any: // an array of tables
				b, err := json.Marshal(v)
				if err != nil {
					return Config{}, fmt.Errorf("config file %s: %s: %w", file, k, err)
				}
				values[k] = string(b)
			case []any:
				var parts []string
				for _, p := range v {
					parts = append(parts, fmt.Sprint(p))
				}
				values[k] = strings.Join(parts, ",")
			default:
				values[k] = fmt.Sprint(v)
			}
		}
	}
	for _, s := range Settings {
		if v := env(s.Env()); v != "" {
			values[s.Key] = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		k := strings.ReplaceAll(f.Name, "-", "_")
		for key, alias := range repeatable {
			if alias != "" && f.Name == alias {
				k = key
			}
		}
		if _, ok := values[k]; ok {
			values[k] = f.Value.String()
		}
	})
	var c Config
	for _, s := range Settings {
		if err := s.set(&c, values[s.Key]); err != nil {
			return Config{}, &SettingError{Key: s.Key, Value: values[s.Key], Err: err}
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return Config{}, fmt.Errorf("tls_cert and tls_key go together")
	}
	return c, nil
}
