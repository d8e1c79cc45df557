// Package host is Weir's runtime: it turns a configuration into a running
// proxy, and keeps it running across reloads.
//
// A Server owns three listeners (proxy, admin, status, with Kong's default
// ports 8000, 8001 and 8100), the upstream connection pools, and the
// current snapshot. Every configuration change, whatever its source (the
// file, SIGHUP, the file watcher, POST /config, later the Kubernetes
// controller), goes through [Server.Apply]: decode → normalize → validate →
// build beside the running snapshot → start its health checks → swap
// atomically → retire the old one. A config that fails any step changes
// nothing.
package host

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/admin"
	"github.com/weirproxy/weir/host/internal/h1server"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/internal/tlsacme"
)

// DefaultConfig is the embedded configuration `weir run` serves when no
// file is given: one route answering with a description of the request.
//
//go:embed default.yaml
var DefaultConfig []byte

// Default listen addresses (Kong's ports).
const (
	DefaultProxyListen  = "0.0.0.0:8000"
	DefaultAdminListen  = "127.0.0.1:8001"
	DefaultStatusListen = "0.0.0.0:8100"
	DefaultHTTPSListen  = "0.0.0.0:8443"
)

// Options configure a Server. Listen addresses here override the config
// file; empty ones fall back to the file, then to the defaults.
type Options struct {
	// ConfigPath is the declarative config file; "" serves DefaultConfig.
	ConfigPath   string
	ProxyListen  string
	AdminListen  string
	StatusListen string
	Logger       *slog.Logger
	// Version is reported by the admin API.
	Version string

	// HTTPSListen is the TLS proxy listener; "off" disables it.
	HTTPSListen string
	// ACMERenewCheckInterval is how often ACME certificates are checked
	// for renewal (default 10 minutes; tests shorten it).
	ACMERenewCheckInterval time.Duration
	// KubeConfig is the Kubernetes client config for
	// weir.acme.storage type kubernetes when the storage names no
	// kubeconfig file (`weir ingress` passes its own); nil: in-cluster.
	KubeConfig *rest.Config
}

// Server is a running Weir.
type Server struct {
	opts Options
	log  *slog.Logger
	tr   *proxy.Transport
	h    *proxy.Handler
	pl   *pluginLoader
	// callouts serves plugins' proxy_http_call; it reads s.h, which is
	// set before any plugin can call out (plugins are started first, but
	// their callouts only happen on requests).
	callouts *calloutDispatcher

	mu      sync.Mutex // serializes Apply
	cfg     atomic.Pointer[config.Config]
	raw     []byte // bytes of the config in service (for file-change detection)
	started time.Time

	reloadsOK, reloadsFailed atomic.Uint64
	lastReloadErr            atomic.Pointer[string]
	ready                    atomic.Bool
	connsAccepted            atomic.Uint64
	connsActive              atomic.Int64

	retiredMu sync.Mutex
	retired   []*retirement

	proxySrv                   *h1server.Server
	adminSrv, statusSrv        *http.Server
	proxyLn, adminLn, statusLn net.Listener
	watchStop                  chan struct{}
	watchDone                  chan struct{}

	// obs owns metrics, tracing and the access log (observability.go).
	obs *observer
	// tm picks the HTTPS listener's certificates and runs ACME.
	tm      *tlsacme.Manager
	httpsLn net.Listener

	// delta indexes the snapshot in service for ApplyConfigDelta.
	delta deltaState
}

// New loads and builds the initial configuration. It does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	raw := DefaultConfig
	if opts.ConfigPath != "" {
		b, err := os.ReadFile(opts.ConfigPath)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	cfg, err := Prepare(raw)
	if err != nil {
		if opts.ConfigPath != "" {
			return nil, fmt.Errorf("%s: %w", opts.ConfigPath, err)
		}
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	certs, err := tlsacme.BuildCerts(cfg.Certificates, time.Now())
	if err != nil {
		return nil, err
	}
	tm, err := tlsacme.New(tlsacme.Options{Logger: opts.Logger, RenewCheckInterval: opts.ACMERenewCheckInterval, KubeStorage: opts.kubeStorage})
	if err != nil {
		return nil, err
	}
	tm.SetCerts(certs)
	tm.Apply(cfg) // recorded; ACME starts once the listeners are bound
	s := &Server{opts: opts, log: opts.Logger, tr: proxy.NewTransport(), started: time.Now(), tm: tm}
	s.pl = &pluginLoader{log: s.log}
	s.pl.src.log = s.log
	s.callouts = newCalloutDispatcher(func() *proxy.Snapshot {
		if s.h == nil {
			return nil // a plugin calling out while it starts, before the first snapshot serves
		}
		return s.h.Snapshot()
	}, s.log)
	s.pl.callouts = s.callouts
	snap, err := build(cfg, cfg.Hash(), nil, s.log, s.pl)
	if err != nil {
		s.tr.Close()
		s.pl.close(context.Background())
		return nil, err
	}
	s.obs = newObserver(s)
	commit, _, err := s.obs.decorate(cfg, snap, nil)
	if err != nil {
		closePlugins(snap, nil)
		s.tr.Close()
		s.pl.close(context.Background())
		return nil, err
	}
	commit()
	startBalancers(snap)
	s.h = proxy.NewHandler(snap, s.tr, s.log)
	s.cfg.Store(cfg)
	s.raw = raw
	return s, nil
}

// Prepare parses, normalizes and validates a declarative config.
func Prepare(raw []byte) (*config.Config, error) {
	cfg, err := config.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Certificates are parsed too, so that `weir validate` and the
	// admin API reject a bad PEM or a mismatched key as a reload would.
	if _, err := tlsacme.BuildCerts(cfg.Certificates, time.Now()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Apply replaces the running configuration with raw, or returns why it
// cannot; on error the running configuration keeps serving untouched.
func (s *Server) Apply(raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.apply(raw)
	if err != nil {
		s.reloadsFailed.Add(1)
		msg := err.Error()
		s.lastReloadErr.Store(&msg)
		s.log.Error("configuration rejected; the running one keeps serving", "err", err)
		return err
	}
	s.reloadsOK.Add(1)
	s.obs.lastReloadOK.Store(time.Now().UnixNano())
	s.lastReloadErr.Store(nil)
	return nil
}

func (s *Server) apply(raw []byte) error {
	cfg, err := Prepare(raw)
	if err != nil {
		return err
	}
	return s.applyPrepared(cfg, raw)
}

// ApplyConfig is Apply for a configuration built in memory (the
// Kubernetes translator): it skips decoding; normalize, validate, build
// and swap are the same, and so is the outcome on error. cfg and its
// lists are normalized in place (their entries replaced by normalized
// copies) and must not be used by the caller afterwards; the routes,
// services, upstreams and targets they pointed to are never written to
// and stay the caller's, which may share them with later configurations.
func (s *Server) ApplyConfig(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := cfg.Normalize()
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		err = s.applyPrepared(cfg, nil)
	}
	if err != nil {
		s.reloadsFailed.Add(1)
		msg := err.Error()
		s.lastReloadErr.Store(&msg)
		s.log.Error("configuration rejected; the running one keeps serving", "err", err)
		return err
	}
	s.reloadsOK.Add(1)
	s.lastReloadErr.Store(nil)
	return nil
}

func (s *Server) applyPrepared(cfg *config.Config, raw []byte) error {
	old := s.h.Snapshot()
	hash := cfg.Hash()
	if hash == old.Hash && !s.pl.src.needsRefresh(cfg) {
		s.raw = raw
		s.log.Info("configuration unchanged; nothing to do")
		return nil
	}
	warnListenChanges(s.log, s.cfg.Load(), cfg)
	// Certificates are parsed before anything is built: a bad one
	// rejects the whole config, and the running set keeps serving.
	certs, err := tlsacme.BuildCerts(cfg.Certificates, time.Now())
	if err != nil {
		return err
	}
	snap, err := build(cfg, hash, old, s.log, s.pl)
	if err != nil {
		return err
	}
	commit, _, err := s.obs.decorate(cfg, snap, old)
	if err != nil {
		closePlugins(snap, old)
		return err
	}
	commit()
	startBalancers(snap)
	s.h.Swap(snap)
	s.tm.SetCerts(certs)
	if err := s.tm.Apply(cfg); err != nil {
		s.log.Error("ACME settings could not be applied; certificates already obtained keep serving", "err", err)
	}
	s.cfg.Store(cfg)
	s.raw = raw
	// The old snapshot serves the requests that loaded it until they end;
	// only its background work (health checks) stops now, and its HTTP/2
	// clients after a grace period.
	stopBalancers(old, snap)
	time.AfterFunc(2*time.Minute, func() { closeH2(old) })
	// Plugins the new snapshot dropped serve the requests still running
	// on the old one; they are closed after the same grace period.
	s.retire(old, snap)
	s.log.Info("configuration applied", "routes", len(snap.Routes), "services", len(snap.Services), "upstreams", len(snap.Balancers))
	return nil
}

func warnListenChanges(log *slog.Logger, old, nw *config.Config) {
	if old == nil {
		return
	}
	if old.Weir.ProxyListen != nw.Weir.ProxyListen || old.Weir.AdminListen != nw.Weir.AdminListen || old.Weir.StatusListen != nw.Weir.StatusListen ||
		old.Weir.HTTPSListen != nw.Weir.HTTPSListen {
		log.Warn("listen addresses changed in the config; they take effect on restart")
	}
}

func startBalancers(s *proxy.Snapshot) {
	for _, b := range s.Balancers {
		b.Start()
	}
}

func stopBalancers(old, keep *proxy.Snapshot) {
	for name, b := range old.Balancers {
		if keep != nil && keep.Balancers[name] == b {
			continue
		}
		b.Stop()
	}
}

func closeH2(s *proxy.Snapshot) {
	for _, svc := range s.Services {
		svc.CloseIdle()
	}
}

// Reload re-reads the config file (SIGHUP). Without a file it is a no-op.
func (s *Server) Reload() error {
	if s.opts.ConfigPath == "" {
		s.log.Info("reload requested; serving the embedded default, nothing to reload")
		return nil
	}
	b, err := os.ReadFile(s.opts.ConfigPath)
	if err != nil {
		s.reloadsFailed.Add(1)
		s.log.Error("reload: cannot read config file; the running config keeps serving", "err", err)
		return err
	}
	return s.Apply(b)
}

// listenAddr picks an address: option (flag/env) > config file > default.
func pick(opt, file, def string) string {
	if opt != "" {
		return opt
	}
	if file != "" {
		return file
	}
	return def
}

// Start opens the listeners and serves in the background.
func (s *Server) Start() error {
	cfg := s.cfg.Load()
	proxyAddr := pick(s.opts.ProxyListen, cfg.Weir.ProxyListen, DefaultProxyListen)
	adminAddr := pick(s.opts.AdminListen, cfg.Weir.AdminListen, DefaultAdminListen)
	statusAddr := pick(s.opts.StatusListen, cfg.Weir.StatusListen, DefaultStatusListen)
	httpsAddr := pick(s.opts.HTTPSListen, cfg.Weir.HTTPSListen, DefaultHTTPSListen)

	var err error
	if s.proxyLn, err = net.Listen("tcp", proxyAddr); err != nil {
		return fmt.Errorf("proxy listener: %w", err)
	}
	if s.adminLn, err = listenOptional(adminAddr); err != nil {
		s.proxyLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	if s.statusLn, err = listenOptional(statusAddr); err != nil {
		s.proxyLn.Close()
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		return fmt.Errorf("status listener: %w", err)
	}
	if s.httpsLn, err = listenOptional(httpsAddr); err != nil {
		for _, l := range []net.Listener{s.proxyLn, s.adminLn, s.statusLn} {
			if l != nil {
				l.Close()
			}
		}
		return fmt.Errorf("https listener: %w", err)
	}

	// HTTP/1.x is served by Weir's own server; connections opening with
	// the HTTP/2 preface (h2c, gRPC without TLS) go to net/http's.
	h2 := new(http.Protocols)
	h2.SetUnencryptedHTTP2(true)
	// ACME HTTP-01 validations are answered before routing.
	handler := &challengeHandler{tm: s.tm, next: s.h}
	s.proxySrv = &h1server.Server{
		Handler: handler,
		// TLS connections that chose h2 through ALPN.
		H2: &http.Server{
			Handler:   handler,
			ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			ConnState: s.connState,
		},
		H2C: &http.Server{
			Handler:   handler,
			Protocols: h2,
			ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			ConnState: s.connState,
		},
		IdleTimeout:    75 * time.Second, // nginx's keepalive_timeout
		MaxHeaderBytes: 64 << 10,
		ConnState:      s.connState,
		Logger:         s.log,
	}
	go func() {
		if err := s.proxySrv.Serve(s.proxyLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", "proxy", "err", err)
		}
	}()
	var httpsBound net.Addr
	if s.httpsLn != nil {
		httpsBound = s.httpsLn.Addr()
		tln := tls.NewListener(s.httpsLn, s.tm.TLSConfig())
		go func() {
			if err := s.proxySrv.Serve(tln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener stopped", "listener", "https", "err", err)
			}
		}()
	}
	if err := s.tm.Listening(s.proxyLn.Addr(), httpsBound); err != nil {
		s.log.Error("ACME could not start; configured certificates serve", "err", err)
	}

	a := admin.New(s, s.log)
	if s.adminLn != nil {
		s.adminSrv = &http.Server{Handler: s.modulesHandler(a.AdminHandler()), ReadHeaderTimeout: 10 * time.Second}
		go s.serve(s.adminSrv, s.adminLn, "admin")
	}
	if s.statusLn != nil {
		s.statusSrv = &http.Server{Handler: a.StatusHandler(), ReadHeaderTimeout: 10 * time.Second}
		go s.serve(s.statusSrv, s.statusLn, "status")
	}
	s.ready.Store(true)
	s.log.Info("weir started", "proxy", s.proxyLn.Addr().String(), "https", addrString(s.httpsLn), "admin", addrString(s.adminLn), "status", addrString(s.statusLn))
	return nil
}

// listenOptional listens unless addr is "off" (Kong's way to disable a
// listener).
func listenOptional(addr string) (net.Listener, error) {
	if addr == "off" {
		return nil, nil
	}
	return net.Listen("tcp", addr)
}

func addrString(l net.Listener) string {
	if l == nil {
		return "off"
	}
	return l.Addr().String()
}

func (s *Server) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("listener stopped", "listener", name, "err", err)
	}
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.connsAccepted.Add(1)
		s.connsActive.Add(1)
	case http.StateHijacked, http.StateClosed:
		s.connsActive.Add(-1)
	}
}

// ProxyAddr, AdminAddr and StatusAddr return the bound addresses (useful
// with port 0). Admin and status are nil when turned off.
func (s *Server) ProxyAddr() net.Addr { return s.proxyLn.Addr() }

// AdminAddr returns the admin listener's address, or nil.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// HTTPSAddr returns the HTTPS listener's address, or nil when off.
func (s *Server) HTTPSAddr() net.Addr {
	if s.httpsLn == nil {
		return nil
	}
	return s.httpsLn.Addr()
}

// StatusAddr returns the status listener's address, or nil.
func (s *Server) StatusAddr() net.Addr {
	if s.statusLn == nil {
		return nil
	}
	return s.statusLn.Addr()
}

// Shutdown stops accepting connections, marks the server not ready,
// waits for in-flight requests to finish (bounded by ctx), then closes
// upgraded connections, listeners and pools.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	s.StopWatching()
	var err error
	if s.proxySrv != nil {
		err = s.proxySrv.Shutdown(ctx)
	}
	s.h.CloseHijacked()
	s.tm.Close()
	for _, srv := range []*http.Server{s.adminSrv, s.statusSrv} {
		if srv != nil {
			srv.Close()
		}
	}
	snap := s.h.Snapshot()
	stopBalancers(snap, nil)
	closeH2(snap)
	s.tr.Close()
	s.retiredMu.Lock()
	for _, t := range s.retired {
		if t.timer.Stop() {
			closePlugins(t.old, t.keep)
		}
	}
	s.retired = nil
	s.retiredMu.Unlock()
	closePlugins(snap, nil)
	s.pl.close(context.Background())
	s.callouts.close()
	s.obs.close(ctx)
	return err
}

type retirement struct {
	old, keep *proxy.Snapshot
	timer     *time.Timer
}

// retire closes, after a grace period, the plugins of old that keep no
// longer uses.
func (s *Server) retire(old, keep *proxy.Snapshot) {
	if len(old.Plugins) == 0 {
		return
	}
	t := &retirement{old: old, keep: keep}
	s.retiredMu.Lock()
	defer s.retiredMu.Unlock()
	t.timer = time.AfterFunc(2*time.Minute, func() {
		s.retiredMu.Lock()
		for i, r := range s.retired {
			if r == t {
				s.retired = append(s.retired[:i], s.retired[i+1:]...)
				break
			}
		}
		s.retiredMu.Unlock()
		closePlugins(old, keep)
	})
	s.retired = append(s.retired, t)
}

// WatchFile polls the config file and applies it when its content
// changes. Polling (not inotify) survives editors that replace the file
// and Kubernetes ConfigMap symlink swaps. See docs/RATIONALE.md.
func (s *Server) WatchFile(interval time.Duration) {
	if s.opts.ConfigPath == "" || s.watchStop != nil {
		return
	}
	s.watchStop = make(chan struct{})
	s.watchDone = make(chan struct{})
	go func() {
		defer close(s.watchDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		var lastFailed []byte
		for {
			select {
			case <-s.watchStop:
				return
			case <-t.C:
			}
			b, err := os.ReadFile(s.opts.ConfigPath)
			if err != nil {
				continue // being replaced; try again next tick
			}
			s.mu.Lock()
			same := bytes.Equal(b, s.raw)
			s.mu.Unlock()
			if same || bytes.Equal(b, lastFailed) {
				continue
			}
			s.log.Info("config file changed; reloading", "file", s.opts.ConfigPath)
			if err := s.Apply(b); err != nil {
				lastFailed = b
			} else {
				lastFailed = nil
			}
		}
	}()
}

// StopWatching stops WatchFile's poller.
func (s *Server) StopWatching() {
	if s.watchStop == nil {
		return
	}
	select {
	case <-s.watchStop:
	default:
		close(s.watchStop)
	}
	<-s.watchDone
}

// --- admin.Backend ---

// Config returns the configuration in service.
func (s *Server) Config() *config.Config { return s.cfg.Load() }

// Snapshot returns the snapshot in service.
func (s *Server) Snapshot() *proxy.Snapshot { return s.h.Snapshot() }

// Ready reports whether the proxy is serving a configuration.
func (s *Server) Ready() bool { return s.ready.Load() }

// Stats returns counters for the admin /status endpoint.
func (s *Server) Stats() admin.Stats {
	st := admin.Stats{
		Version:             s.opts.Version,
		Started:             s.started,
		ConnectionsAccepted: s.connsAccepted.Load(),
		ConnectionsActive:   s.connsActive.Load(),
		ReloadsOK:           s.reloadsOK.Load(),
		ReloadsFailed:       s.reloadsFailed.Load(),
		TotalRequests:       s.h.Requests(),
	}
	if e := s.lastReloadErr.Load(); e != nil {
		st.LastReloadError = *e
	}
	return st
}
