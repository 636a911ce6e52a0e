// Package server assembles presenced: store, core, auth, transports, REST
// API and web page behind one HTTP listener, metrics and pprof behind the
// optional admin listener, with graceful shutdown.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/appreg"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/carddav"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/cluster"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/demo"
	"github.com/presenced/presenced/internal/identity"
	"github.com/presenced/presenced/internal/metrics"
	"github.com/presenced/presenced/internal/oauth"
	"github.com/presenced/presenced/internal/problem"
	"github.com/presenced/presenced/internal/roomtoken"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/postgres"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/store/sqlstore"
	"github.com/presenced/presenced/internal/transport/longpoll"
	"github.com/presenced/presenced/internal/transport/ws"
	"github.com/presenced/presenced/internal/web"
	"github.com/presenced/presenced/internal/webpush"
	"github.com/presenced/presenced/internal/wire"
	"github.com/presenced/presenced/internal/xmpp/c2s"
	"github.com/presenced/presenced/internal/xmpp/s2s"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// pushWorkers is how many Web Push notifications are sent at once.
const pushWorkers = 4

// Server is one presenced node.
type Server struct {
	Config  config.Config
	Log     *slog.Logger
	Store   store.Store
	Hub     *core.Hub
	Auth    *auth.Auth
	Web     *web.Web
	OAuth   *oauth.Provider  // apps' OAuth 2.1 / OpenID Connect provider (docs/apps.md)
	Push    *webpush.Service // wakes devices by Web Push (docs/push.md)
	Metrics *metrics.Registry

	handler   http.Handler
	key       []byte
	clock     clock.Clock
	XMPP      *c2s.Server
	S2S       *s2s.Server // federation, when s2s_addr or s2s_routes is set (docs/federation.md)
	s2sAddr   string      // bound s2s listener
	xmppAddrs []string    // bound XMPP listeners, STARTTLS first
	adminAddr string      // bound admin listener (metrics, pprof), if configured
	ready     atomic.Bool
	wsLive    atomic.Int64
	wsWrites  atomic.Int64 // write(2)s of events to WebSocket sessions
	pollsHeld atomic.Int64
	unlock    func() error // releases the data directory's lock
	closeOnce sync.Once

	// Identities are the external OpenID Connect providers people sign in
	// with (docs/operations.md).
	Identities *identity.Set
	// Cluster joins this node to the others serving the domain, when the
	// nats setting is given (internal/cluster); nil: a single node.
	Cluster *cluster.Node
}

// DBFile and KeyFile are the names of the files in the data directory.
const (
	DBFile  = "presenced.db"
	KeyFile = "secret.key"
)

// OpenStore opens (creating) the data directory and its database, without
// the server's lock: the benchmarks prepare accounts with it before they
// start a server. The account commands use OpenExistingStore.
func OpenStore(ctx context.Context, dataDir string) (*sqlite.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, DBFile))
}

// deriveKey is a key for one purpose, from the server secret.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// S2SAddr is the bound s2s listener's address ("" when off).
func (s *Server) S2SAddr() string { return s.s2sAddr }

// Open builds a server from its configuration.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	// config.Load refuses these with its bounds; a configuration built in
	// code must not bring them either (a zero heartbeat closes every
	// WebSocket at its first read, a zero grace ends every long-poll
	// session between polls).
	if cfg.Heartbeat <= 0 {
		return nil, &config.SettingError{Key: "heartbeat", Value: cfg.Heartbeat.String(), Err: fmt.Errorf("must be positive (%w)", config.ErrOutOfRange)}
	}
	if cfg.Grace <= 0 {
		return nil, &config.SettingError{Key: "grace", Value: cfg.Grace.String(), Err: fmt.Errorf("must be positive (%w)", config.ErrOutOfRange)}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var st *sqlstore.DB
	if cfg.Store != "" {
		st, err = postgres.Open(ctx, cfg.Store)
	} else {
		st, err = OpenStore(ctx, cfg.DataDir)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	key, err := loadKey(ctx, st, cfg.DataDir)
	if err != nil {
		st.Close()
		unlock()
		return nil, err
	}
	clk := clock.Real{}
	s := &Server{Config: cfg, Log: log, Store: st, Metrics: metrics.NewRegistry(), key: key, clock: clk, unlock: unlock}
	limits := core.DefaultLimits
	limits.CoalesceAfter = cfg.CoalesceAfter
	if cfg.SessionRate > 0 {
		limits.RequestsPerSecond, limits.RequestBurst = cfg.SessionRate, cfg.SessionBurst
	}
	vapid, err := webpush.LoadKeys(ctx, st, cfg.DataDir)
	if err != nil {
		st.Close()
		unlock()
		return nil, err
	}
	subject := cfg.PushSubject
	if subject == "" {
		subject = "mailto:postmaster@" + cfg.Domain
	}
	s.Push = &webpush.Service{Store: st, Keys: vapid, Subject: subject, AllowPrivate: cfg.PushAllowPrivate, Clock: clk, Log: log}
	var router core.Router // nil: this process's sessions only
	var peers core.Peers
	federates := cfg.S2SAddr != "" || cfg.S2STLSAddr != "" || len(cfg.S2SRoutes) > 0
	if len(cfg.NATS) > 0 { // one node of a cluster (docs/architecture.md, "Cluster")
		id := cfg.NodeID
		if id == "" {
			id = cluster.DefaultNodeID()
		}
		if s.Cluster, err = cluster.New(cluster.Config{URLs: strings.Join(cfg.NATS, ","), NodeID: id, Namespace: cluster.NamespaceFor(cfg.Domain),
			Replicas: registryReplicas(cfg.NATS), DeadAfter: cfg.NodeDeadAfter, Grace: cfg.Grace, ResumeFor: max(cfg.Grace, cfg.MaxGrace), Log: log, Federates: federates}); err != nil {
			st.Close()
			unlock()
			return nil, &config.SettingError{Key: "node_id", Value: id, Err: err}
		}
		router, peers = s.Cluster, s.Cluster
	}
	if federates {
		tlsCfg, err := s.xmppTLS(ctx)
		if err != nil {
			st.Close()
			unlock()
			return nil, fmt.Errorf("s2s: %w", err)
		}
		roots, err := s2sRoots(cfg.S2SCAFile)
		if err != nil {
			st.Close()
			unlock()
			return nil, &config.SettingError{Key: "s2s_ca_file", Value: cfg.S2SCAFile, Err: err}
		}
		s.S2S = s2s.New(s2s.Config{Domain: cfg.Domain, Domains: cfg.ServedDomains(), TLS: tlsCfg, Secret: deriveKey(key, "s2s dialback"), Dialback: cfg.S2SDialback,
			Routes: cfg.S2SRoutes, AllowPrivate: cfg.S2SAllowPrivate, RootCAs: roots, Block: cfg.S2SBlock, Allow: cfg.S2SAllow, Rate: cfg.S2SRate, Burst: cfg.S2SBurst, Log: log}, nil)
		// in a cluster, what is not for another domain goes to the
		// cluster router (this node's sessions and the other nodes'):
		// every node federates itself (docs/architecture.md, "A cluster
		// federates")
		router = s.S2S.Router()
	}
	s.Hub = core.New(core.Config{Domain: cfg.Domain, Domains: cfg.ServedDomains(), Grace: cfg.Grace, Limits: limits, Handles: core.NewHandles(key), Waker: s.Push,
		Offline:    core.OfflineConfig{TTL: cfg.OfflineTTL, Messages: cfg.OfflineMessages, Bytes: cfg.OfflineBytes, HistoryTTL: cfg.HistoryTTL, HistoryMax: cfg.HistoryMax},
		RoomTokens: roomtoken.Verifier{Audience: func() string { return s.OAuth.Issuer() }}, Peers: peers}, st, clk, router, log)
	if s.S2S != nil {
		s.S2S.SetLocal(s.Hub.LocalRouter())
		if s.Cluster != nil {
			s.S2S.SetLocal(s.Cluster) // Attach (below) gives it the hub's LocalRouter
		}
		s.S2S.SetCore(s.Hub)
	}
	if s.Cluster != nil {
		s.Cluster.Attach(s.Hub)
		if err := s.Cluster.Start(ctx); err != nil {
			st.Close()
			unlock()
			return nil, &config.SettingError{Key: "nats", Value: strings.Join(cfg.NATS, ","), Err: err}
		}
	}
	s.Auth = &auth.Auth{Store: st, Clock: clk, Hasher: auth.NewHasher(auth.DefaultParams, cfg.HashWorkers, 32), TokenTTL: cfg.TokenTTL,
		Throttle: auth.NewThrottle(clk), Domain: cfg.Domain}
	s.XMPP = &c2s.Server{Hub: s.Hub, Auth: s.Auth, AllowPlaintext: cfg.XMPPPlaintext, Secret: key, Log: log,
		Limits: xmlstream.DefaultLimits, ResumeWindow: cfg.XMPPResumeWindow, Clock: clk, Register: cfg.XMPPRegister}
	s.Web = &web.Web{Auth: s.Auth, Key: key, Secure: cfg.TLSCert != "", Signup: cfg.Signup, Domains: cfg.ServedDomains(), Log: log}
	if cfg.PublicURL != "" {
		if err := oauth.CheckIssuer(cfg.PublicURL); err != nil {
			st.Close()
			unlock()
			return nil, &config.SettingError{Key: "public_url", Value: cfg.PublicURL, Err: err}
		}
	}
	s.Identities = identity.New(&identity.Set{Store: st, Sessions: s.Web, Log: log, BaseURL: func() string { return s.OAuth.Issuer() }}, cfg.IdentityProviders)
	if s.OAuth, err = oauth.New(ctx, &oauth.Provider{Store: st, Grants: s.Hub, Sessions: s.Web, Clock: clk, Log: log, Secret: key, KeyDir: cfg.DataDir,
		Identities: s.Identities, Picker: s.Hub}); err != nil {
		st.Close()
		unlock()
		return nil, err
	}
	s.Auth.AppTokens = s.OAuth
	s.XMPP.Issuer = s.OAuth.Issuer // named in OAUTHBEARER's error challenge
	s.handler = s.routes()
	s.registerMetrics()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	proto := &wire.Server{Hub: s.Hub, Auth: s.Auth, Grace: s.Config.Grace, MaxGrace: s.Config.MaxGrace, Heartbeat: s.Config.Heartbeat}
	mux.Handle("GET /v1/ws", &ws.Handler{Proto: proto, Authenticate: s.wsAccount, OriginAllowed: s.originAllowed, Log: s.Log, Live: &s.wsLive, Writes: &s.wsWrites, WriteDelay: s.Config.WSWriteDelay})
	mux.Handle("/v1/poll", &longpoll.Handler{Proto: proto, Live: &s.pollsHeld})
	mux.HandleFunc("GET /xmpp-websocket", s.XMPP.ServeWebSocket) // RFC 7395
	mux.HandleFunc("/http-bind", s.XMPP.ServeBOSH)               // XEP-0124, XEP-0206
	(&api.API{Hub: s.Hub, Auth: s.Auth, Log: s.Log, Signup: s.Config.Signup, Authenticate: s.authenticate, Metrics: s.Metrics,
		Apps: &appreg.Registry{Store: s.Store, Now: s.clock.Now}, Push: s.Push}).Routes(mux)
	s.Web.Routes(mux)
	s.OAuth.Routes(mux)
	s.Identities.Routes(mux)
	if s.Config.Demos {
		demo.Routes(mux) // registered as apps once the issuer is known (registerDemos)
	}
	dav := &carddav.Handler{Hub: s.Hub, Auth: s.Auth, Log: s.Log} // docs/contacts.md
	mux.Handle(carddav.Prefix, dav)
	mux.Handle("/.well-known/carddav", dav)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			problem.Write(w, core.CodeBusy, "not ready")
			return
		}
		if s.Cluster != nil && !s.Cluster.Healthy() {
			problem.Write(w, core.CodeBusy, "not connected to NATS")
			return
		}
		if p, ok := s.Store.(pinger); ok && s.Config.Store != "" { // a server of its own, not the embedded file
			ctx, cancel := context.WithTimeout(r.Context(), readyzStoreTimeout)
			defer cancel()
			if err := p.Ping(ctx); err != nil {
				problem.Write(w, core.CodeBusy, "the store does not answer")
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	// No /metrics here: it is on the admin listener (adminRoutes).
	mux.Handle("GET /openapi.json", api.OpenAPI())
	return withAPICORS(problemMux{mux})
}

// registryReplicas is how many copies of the session registry a NATS
// cluster keeps: three when three servers or more are listed (a NATS
// cluster, where one server may go), else one.
func registryReplicas(urls []string) int {
	if len(urls) >= 3 {
		return 3
	}
	return 1
}

// pinger is a store that can say whether its server answers.
type pinger interface{ Ping(context.Context) error }

// readyzStoreTimeout bounds /readyz's wait for the store: a load balancer
// asking must get an answer, and a store this slow is not ready.
const readyzStoreTimeout = 2 * time.Second

// problemMux answers requests that match no route as problems (RFC 9457),
// the one error shape of the API, where http.ServeMux answers 404 and 405
// in plain text.
type problemMux struct{ *http.ServeMux }

func (m problemMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := m.Handler(r); pattern != "" {
		m.ServeMux.ServeHTTP(w, r)
		return
	}
	// no pattern: a 404, a 405 or a redirect (a path to clean); let the
	// mux say which without writing its plain text
	rec := &headerRecorder{h: http.Header{}}
	m.ServeMux.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		problem.Write(w, core.CodeNotFound, "no such resource: "+r.URL.Path+" (see /openapi.json)")
	case http.StatusMethodNotAllowed:
		allow := rec.h.Get("Allow")
		w.Header().Set("Allow", allow)
		problem.WriteStatus(w, http.StatusMethodNotAllowed, core.CodeInvalid, r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
	default:
		m.ServeMux.ServeHTTP(w, r)
	}
}

// headerRecorder keeps the status and headers a handler writes and drops
// its body.
type headerRecorder struct {
	h      http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *headerRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// adminRoutes are the operator's endpoints: metrics and pprof. They are
// served only on the opt-in admin listener, never on the public one: the
// session gauges move when an invisible user connects and the delivery
// counters when one changes status, so whoever can read them learns what
// the privacy policy hides from everybody (docs/privacy.md). A separate
// listener, rather than a credential on the public port, keeps the public
// attack surface free of them and needs no secret in Prometheus' config;
// operators reach it on loopback or a private network.
func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// authenticate resolves a REST request's caller: a bearer token, or the web
// session cookie (then state-changing requests need the CSRF header).
func (s *Server) authenticate(r *http.Request) (*store.Token, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		t, err := s.Auth.VerifySession(r.Context(), auth.BearerToken(h)) // an app's too: the API says which routes take it
		if errors.Is(err, store.ErrUnavailable) {
			return nil, err // 503 busy: the token may be good, a client must not sign out
		}
		if err != nil {
			return nil, core.Errorf(core.CodeUnauthorized, "invalid or expired token")
		}
		return &t, nil
	}
	t := s.Web.CookieToken(r)
	if t != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.Web.CheckCSRF(r) {
		return nil, core.Errorf(core.CodeUnauthorized, "cookie-authenticated requests need the X-CSRF-Token header")
	}
	return t, nil
}

// wsAccount is the token a WebSocket upgrade proves by cookie (one by
// header is verified with the hello: ws.Handler). A cookie suffices here
// because the upgrade's Origin is checked.
func (s *Server) wsAccount(r *http.Request) *store.Token { return s.Web.CookieToken(r) }

// originAllowed admits the server's own origin and the configured ones.
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	if u, err := url.Parse(origin); err == nil && u.Host == r.Host {
		return true
	}
	return slices.Contains(s.Config.AllowedOrigins, origin)
}

// sessionTransports are the transport names sessions are opened with
// (core.SessionOptions.Transport): "ws" and "longpoll" by the JSON
// transports through wire.Server.NewConn, "xmpp" by internal/xmpp/c2s for
// TCP, WebSocket and BOSH alike. The core cannot list them, so a transport
// missing here silently drops out of presenced_sessions; the server test
// TestSessionsMetricCoversEveryTransport checks that the series add up to
// presenced_sessions_total.
var sessionTransports = []string{"ws", "longpoll", "xmpp"}

func (s *Server) registerMetrics() {
	m, hm := s.Metrics, s.Hub.Metrics()
	for _, t := range sessionTransports {
		n := hm.SessionsOf(t)
		m.GaugeFunc("presenced_sessions", "Sessions by transport, including those in their grace period.", func() float64 { return float64(n.Load()) }, "transport", t)
	}
	m.GaugeFunc("presenced_websockets", "Open WebSocket connections.", func() float64 { return float64(s.wsLive.Load()) })
	m.CounterFunc("presenced_ws_event_writes_total", "Writes of events to WebSocket sessions (several events may share one).", func() float64 { return float64(s.wsWrites.Load()) })
	m.GaugeFunc("presenced_sessions_total", "Sessions known to the hub, including those in their grace period.", func() float64 { return float64(hm.Sessions.Load()) })
	m.GaugeFunc("presenced_polls_held", "Long-poll requests waiting for events.", func() float64 { return float64(s.pollsHeld.Load()) })
	m.CounterFunc("presenced_events_delivered_total", "Events handed to transports.", func() float64 { return float64(hm.Delivered.Load()) })
	m.CounterFunc("presenced_presence_coalesced_total", "Presence updates merged into an unsent one for a slow reader.", func() float64 { return float64(hm.Coalesced.Load()) })
	m.CounterFunc("presenced_queue_drops_total", "Sessions disconnected because their outbox overflowed.", func() float64 { return float64(hm.QueueDrops.Load()) })
	if f := s.S2S; f != nil { // federation's outbound traffic
		m.CounterFunc("presenced_s2s_stanzas_out_total", "Stanzas written to other domains' servers.", func() float64 { return float64(f.Stats().StanzasOut) })
		m.CounterFunc("presenced_s2s_writes_total", "Writes to other domains' servers (stanzas queued for one domain share them).", func() float64 { return float64(f.Stats().Writes) })
		m.CounterFunc("presenced_s2s_bounced_total", "Messages returned to their senders because another domain's queue was full (remote-server-timeout).", func() float64 { return float64(f.Stats().Bounced) })
		m.GaugeFunc("presenced_s2s_queued", "Stanzas waiting for other domains' servers, all domains together (each domain's queue is bounded).", func() float64 { return float64(f.Stats().Queued) })
	}
	if c := s.Cluster; c != nil { // this node's traffic with the others
		cm := c.Metrics()
		for _, x := range []struct {
			name, help string
			v          *atomic.Uint64
		}{
			{"presenced_cluster_routed_out_total", "Bus messages of events published to other nodes.", &cm.RoutedOut},
			{"presenced_cluster_routed_in_total", "Bus messages of events from other nodes delivered here.", &cm.RoutedIn},
			{"presenced_cluster_dropped_total", "Events to other nodes dropped: a node's queue full or the registry at its bound.", &cm.Dropped},
			{"presenced_cluster_bad_in_total", "Bus messages refused as malformed.", &cm.BadIn},
			{"presenced_cluster_sent_out_total", "Messages handed to another node's hub.", &cm.SentOut},
			{"presenced_cluster_received_in_total", "Messages from other nodes' sessions delivered here.", &cm.ReceivedIn},
			{"presenced_cluster_nodes_dead_total", "Nodes declared dead (not heard for the dead-after period).", &cm.NodesDead},
			{"presenced_cluster_adopted_total", "Sessions of other nodes (dead or shutting down) resumed here.", &cm.Adopted},
		} {
			v := x.v
			m.CounterFunc(x.name, x.help, func() float64 { return float64(v.Load()) })
		}
	}
	m.GaugeFunc("presenced_goroutines", "Goroutines.", func() float64 { return float64(runtime.NumGoroutine()) })
	m.GaugeFunc("presenced_heap_bytes", "Bytes of allocated heap objects.", func() float64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc)
	})
	m.GaugeFunc("presenced_stack_bytes", "Bytes of goroutine stacks.", func() float64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.StackInuse)
	})
}

// lifecycleInterval is how often the lifecycle log is read.
const lifecycleInterval = 200 * time.Millisecond

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts connections on ln until ctx ends, then shuts down
// gracefully: clients are told to reconnect and nobody sees anybody leave.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn)}
	if s.Config.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.Config.TLSCert, s.Config.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	}
	s.setIssuer(ln)
	s.registerDemos(ctx)
	if s.Config.AdminAddr != "" {
		// bound here, not in the goroutine, so that a taken or malformed
		// address stops the start instead of silently leaving the operator
		// without metrics
		aln, err := net.Listen("tcp", s.Config.AdminAddr)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		s.adminAddr = aln.Addr().String()
		go s.serveAdmin(ctx, aln)
	}
	if err := s.serveXMPP(ctx); err != nil {
		return fmt.Errorf("xmpp: %w", err)
	}
	if s.S2S != nil {
		defer s.S2S.Close()
		if s.Config.S2SAddr != "" {
			sln, err := net.Listen("tcp", s.Config.S2SAddr)
			if err != nil {
				return fmt.Errorf("s2s listener: %w", err)
			}
			s.s2sAddr = sln.Addr().String()
			go s.S2S.Serve(sln)
		}
		if s.Config.S2STLSAddr != "" {
			sln, err := net.Listen("tcp", s.Config.S2STLSAddr)
			if err != nil {
				return fmt.Errorf("s2s direct TLS listener: %w", err)
			}
			go s.S2S.ServeDirectTLS(sln)
		}
	}
	// the sweep ends with Serve, however it returns: the store closes next
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	every(sweepCtx, s.clock, tokenSweepInterval, s.deleteExpiredTokens)
	every(sweepCtx, s.clock, tokenSweepInterval, s.sweepStored)
	// account deletions, password changes and revocations made by any
	// process sharing the store (the CLI, later other nodes) end sessions
	go func() {
		if err := s.Hub.Follow(sweepCtx, lifecycleInterval); err != nil {
			s.Log.Error("follow the lifecycle log", "err", err)
		}
	}()
	go s.Push.Run(sweepCtx, pushWorkers)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.ready.Store(true)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)
	s.Log.Info("shutting down: telling clients to reconnect")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Hub.Shutdown(sctx)
	// WebSocket connections are hijacked, so hs.Shutdown does not wait for
	// them: wait until each has sent its goaway and closed.
	for s.wsLive.Load() > 0 && sctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	err := hs.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// setIssuer gives the OAuth provider its issuer: public_url, else the
// address HTTP listens on, when apps can use that (https, or http on
// loopback). Otherwise apps are off until public_url is set, and the log
// says so.
func (s *Server) setIssuer(ln net.Listener) {
	issuer := s.Config.PublicURL
	if issuer == "" {
		scheme := "http"
		if s.Config.TLSCert != "" {
			scheme = "https"
		}
		issuer = scheme + "://" + ln.Addr().String()
	}
	if err := s.OAuth.SetIssuer(strings.TrimSuffix(issuer, "/")); err != nil {
		s.Log.Warn("apps (OAuth) are off: set public_url to the https URL apps reach this server at", "err", err)
	}
}

// registerDemos registers the demo apps (internal/demo) for the issuer:
// their redirect URIs are its pages. Without an issuer apps are off, and
// so are the demos; a failure leaves the server running without them.
func (s *Server) registerDemos(ctx context.Context) {
	issuer := s.OAuth.Issuer()
	if !s.Config.Demos || issuer == "" {
		return
	}
	if err := demo.Register(ctx, s.Store, issuer, s.clock.Now()); err != nil {
		s.Log.Error("the demo apps could not be registered; /demo/ will not sign anyone in", "err", err)
		return
	}
	s.Log.Info("demo apps", "calls", issuer+demo.Prefix+"call/", "chat", issuer+demo.Prefix+"chat/")
}

// serveAdmin serves adminRoutes on ln until ctx ends.
func (s *Server) serveAdmin(ctx context.Context, ln net.Listener) {
	hs := &http.Server{Handler: s.adminRoutes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.Log.Error("admin listener", "err", err)
	}
}

// tokenSweepInterval is how often expired bearer tokens are deleted.
// Verify refuses them at once; the sweep ends the sessions opened with them
// (an expiry is logged as a revocation) and keeps them from piling up in
// the database (every sign-in adds one).
const tokenSweepInterval = time.Minute

func (s *Server) deleteExpiredTokens(ctx context.Context) {
	n, err := s.Auth.DeleteExpiredTokens(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.Log.Warn("deleting expired tokens", "err", err)
	case n > 0:
		s.Log.Debug("deleted expired tokens", "count", n)
	}
}

// sweepStored deletes expired stored messages and history past its time.
func (s *Server) sweepStored(ctx context.Context) {
	stored, history, err := s.Hub.SweepStored(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.Log.Warn("deleting expired stored messages and history", "err", err)
	case stored+history > 0:
		s.Log.Debug("deleted expired stored messages and history", "stored", stored, "history", history)
	}
}

// every runs f now, on a goroutine of its own so that the start does not
// wait, and then each interval on clk, until ctx ends. The next run is
// scheduled before f runs, so a fake clock advanced once f has been seen
// to run finds it.
func every(ctx context.Context, clk clock.Clock, interval time.Duration, f func(context.Context)) {
	var (
		mu   sync.Mutex
		next clock.Timer
		tick func()
	)
	tick = func() {
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			return
		}
		next = clk.AfterFunc(interval, tick)
		mu.Unlock()
		f(ctx)
	}
	context.AfterFunc(ctx, func() {
		mu.Lock()
		if next != nil {
			next.Stop()
		}
		mu.Unlock()
	})
	go tick()
}

// Close releases the store and then the data directory's lock.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.Cluster != nil {
			s.Cluster.Close()
		}
		err = s.Store.Close()
		if s.unlock != nil {
			err = errors.Join(err, s.unlock())
		}
	})
	return err
}
