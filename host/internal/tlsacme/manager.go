// Package tlsacme serves Weir's HTTPS listener certificates: the ones in
// the configuration (selected by SNI, exact names and wildcards), a
// generated default one, and automatic ones from an ACME CA through
// certmagic (HTTP-01 answered on the proxy listener, TLS-ALPN-01 on the
// HTTPS listener, on-demand issuance guarded by an allow list, renewal,
// OCSP stapling).
//
// A [Manager] lives as long as the server. Each configuration builds a
// [Certs] beside the running one ([BuildCerts]: a bad certificate is an
// error naming it and its field) and swaps it in whole; the ACME side is
// rebuilt only when weir.acme changes, and otherwise told which names to
// manage.
//
// Certificate precedence for a handshake: an ACME TLS-ALPN-01 validation
// gets the challenge certificate; then a configured certificate for the
// name; then a managed (or allowed on-demand) ACME certificate; then the
// default certificate.
package tlsacme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/weirproxy/weir/host/config"
)

// Options configure a Manager.
type Options struct {
	Logger *slog.Logger
	// RenewCheckInterval is how often certificates are checked for
	// renewal. Default certmagic's (10 minutes); tests shorten it.
	RenewCheckInterval time.Duration
	// KubeStorage makes the storage for weir.acme.storage.type
	// kubernetes; nil makes that type an error.
	KubeStorage func(s *config.ACMEStorage) (certmagic.Storage, error)
}

// Manager selects certificates for the HTTPS listener and runs ACME.
type Manager struct {
	opts  Options
	log   *slog.Logger
	def   *tls.Certificate
	certs atomic.Pointer[Certs]
	acme  atomic.Pointer[acmeState]

	mu        sync.Mutex // serializes Apply and Close
	httpAddr  net.Addr   // proxy listener (HTTP-01)
	tlsAddr   net.Addr   // HTTPS listener (TLS-ALPN-01)
	pending   *config.Config
	listening bool
}

// New makes a Manager with a fresh self-signed default certificate.
func New(opts Options) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	def, err := SelfSigned()
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	return &Manager{opts: opts, log: opts.Logger, def: def}, nil
}

// Default returns the certificate served when nothing else matches.
func (m *Manager) Default() *tls.Certificate { return m.def }

// SetCerts swaps in a set of configured certificates.
func (m *Manager) SetCerts(c *Certs) {
	for _, w := range c.Warnings {
		m.log.Warn("certificate", "warning", w)
	}
	m.certs.Store(c)
}

// TLSConfig returns the HTTPS listener's config: TLS 1.2 and 1.3, ALPN
// h2, http/1.1 and acme-tls/1 (TLS-ALPN-01), certificates chosen per
// handshake by GetCertificate.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1", acmeTLS1},
		GetCertificate: m.GetCertificate,
	}
}

const acmeTLS1 = "acme-tls/1"

// GetCertificate implements tls.Config.GetCertificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := m.acme.Load()
	if slices.Contains(hello.SupportedProtos, acmeTLS1) {
		// Only a validation server offers acme-tls/1, and offers nothing
		// else (RFC 8737 §3).
		if st == nil || !st.tlsALPN {
			return nil, errors.New("tls-alpn-01 is not enabled")
		}
		return st.cm.GetCertificate(hello)
	}
	if c := m.certs.Load().Lookup(hello); c != nil {
		return c, nil
	}
	if st != nil && hello.ServerName != "" {
		name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
		if st.names[name] || st.allowed(name) {
			c, err := st.cm.GetCertificate(hello)
			if err == nil {
				return c, nil
			}
			m.log.Debug("no ACME certificate for the name (yet); serving the default", "sni", name, "err", err)
		}
	}
	return m.def, nil
}

// HandleHTTPChallenge answers an ACME HTTP-01 validation request and
// reports whether it did; other requests go on to the proxy. It costs a
// pointer load when ACME is off and a path prefix test when on.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	st := m.acme.Load()
	if st == nil || !st.http01 || !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		return false
	}
	return st.issuer.HandleHTTPChallenge(w, r)
}

// Listening tells the Manager where the proxy (HTTP-01) and HTTPS
// (TLS-ALPN-01) listeners are bound (nil: off), and starts ACME for the
// configuration given to Apply before.
func (m *Manager) Listening(httpAddr, tlsAddr net.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.httpAddr, m.tlsAddr, m.listening = httpAddr, tlsAddr, true
	if cfg := m.pending; cfg != nil {
		m.pending = nil
		return m.applyACME(cfg)
	}
	return nil
}

// Apply brings ACME in line with cfg: the certmagic setup is rebuilt
// when weir.acme changed, and the names to manage are updated. Before
// Listening it only records cfg.
func (m *Manager) Apply(cfg *config.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.listening {
		m.pending = cfg
		return nil
	}
	return m.applyACME(cfg)
}

// Close stops renewals and releases the ACME state.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.acme.Swap(nil); st != nil {
		st.stop()
	}
	m.listening = false
}

// ManagedNames returns the names ACME manages, sorted (for tests and
// the admin API).
func (m *Manager) ManagedNames() []string {
	st := m.acme.Load()
	if st == nil {
		return nil
	}
	var out []string
	for n := range st.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// acmeState is one certmagic setup, for one weir.acme.
type acmeState struct {
	key     string
	cache   *certmagic.Cache
	cm      *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	names   map[string]bool
	allow   []string
	http01  bool
	tlsALPN bool
	ctx     context.Context
	cancel  context.CancelFunc
}

func (st *acmeState) stop() {
	st.cancel()
	st.cache.Stop()
}

// allowed reports whether on-demand issuance may run for name.
func (st *acmeState) allowed(name string) bool {
	return allowMatch(st.allow, name)
}

func allowMatch(allow []string, name string) bool {
	for _, a := range allow {
		a = strings.ToLower(a)
		if a == name {
			return true
		}
		if rest, ok := strings.CutPrefix(a, "*."); ok {
			if i := strings.IndexByte(name, '.'); i > 0 && name[i+1:] == rest {
				return true
			}
		}
	}
	return false
}

// Names returns the names cfg asks ACME certificates for: weir.acme.hosts
// and the hosts of routes with acme: true, lower-case, without ports.
func Names(cfg *config.Config) []string {
	if cfg.Weir.ACME == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		h = strings.ToLower(h)
		if h == "" || strings.Contains(h, "*") || seen[h] {
			return
		}
		seen[h] = true
		out = append(out, h)
	}
	for _, h := range cfg.Weir.ACME.Hosts {
		add(h)
	}
	for i := range cfg.Routes {
		if cfg.Routes[i].ACME {
			for _, h := range cfg.Routes[i].Hosts {
				add(h)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (m *Manager) applyACME(cfg *config.Config) error {
	a := cfg.Weir.ACME
	old := m.acme.Load()
	if a == nil {
		if old != nil {
			m.acme.Store(nil)
			old.stop()
		}
		return nil
	}
	kb, _ := json.Marshal(struct {
		A          *config.ACME
		HTTP, TLS  string
		RenewCheck time.Duration
	}{a, addrString(m.httpAddr), addrString(m.tlsAddr), m.opts.RenewCheckInterval})
	key := string(kb)
	names := Names(cfg)
	if old != nil && old.key == key {
		var add []string
		var drop []certmagic.SubjectIssuer
		nm := map[string]bool{}
		for _, n := range names {
			nm[n] = true
			if !old.names[n] {
				add = append(add, n)
			}
		}
		for n := range old.names {
			if !nm[n] {
				drop = append(drop, certmagic.SubjectIssuer{Subject: n})
			}
		}
		st := *old
		st.names = nm
		m.acme.Store(&st)
		if len(drop) > 0 {
			old.cache.RemoveManaged(drop)
		}
		if len(add) > 0 {
			return old.cm.ManageAsync(old.ctx, add)
		}
		return nil
	}
	st, err := m.newACME(a, key, names)
	if err != nil {
		return fmt.Errorf("weir.acme: %w", err)
	}
	m.acme.Store(st)
	if old != nil {
		old.stop()
	}
	if len(names) > 0 {
		return st.cm.ManageAsync(st.ctx, names)
	}
	return nil
}

func (m *Manager) newACME(a *config.ACME, key string, names []string) (*acmeState, error) {
	zl := zapToSlog(m.log.Handler())
	st := &acmeState{key: key, names: map[string]bool{}, http01: true, tlsALPN: true}
	for _, n := range names {
		st.names[n] = true
	}
	if len(a.Challenges) > 0 {
		st.http01 = slices.Contains(a.Challenges, config.ChallengeHTTP01)
		st.tlsALPN = slices.Contains(a.Challenges, config.ChallengeTLSALPN01)
	}
	// Each challenge is answered on Weir's own listener, so it needs one.
	st.http01 = st.http01 && m.httpAddr != nil
	st.tlsALPN = st.tlsALPN && m.tlsAddr != nil
	if !st.http01 && !st.tlsALPN {
		return nil, errors.New("no challenge can be answered: http-01 needs the proxy listener and tls-alpn-01 the HTTPS listener")
	}
	storage, err := m.storage(a.Storage)
	if err != nil {
		return nil, err
	}
	var cm *certmagic.Config
	st.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return cm, nil },
		RenewCheckInterval: m.opts.RenewCheckInterval,
		Logger:             zl,
	})
	tmpl := certmagic.Config{
		RenewalWindowRatio: a.RenewalWindowRatio,
		Storage:            storage,
		Logger:             zl,
	}
	if od := a.OnDemand; od != nil && len(od.Allow) > 0 {
		st.allow = slices.Clone(od.Allow)
		allow := st.allow
		tmpl.OnDemand = &certmagic.OnDemandConfig{
			DecisionFunc: func(_ context.Context, name string) error {
				if !allowMatch(allow, strings.ToLower(name)) {
					return fmt.Errorf("%q is not on weir.acme.on_demand.allow", name)
				}
				return nil
			},
		}
	}
	cm = certmagic.New(st.cache, tmpl)
	iss := certmagic.ACMEIssuer{
		CA:                      a.Directory,
		Email:                   a.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    !st.http01,
		DisableTLSALPNChallenge: !st.tlsALPN,
		Logger:                  zl,
	}
	if iss.CA == "" {
		iss.CA = certmagic.LetsEncryptProductionCA
	}
	// certmagic binds the challenge port itself unless something already
	// listens there; pointing it at Weir's own listeners makes it find
	// them busy and leave the answers to Weir (HandleHTTPChallenge, and
	// GetCertificate for acme-tls/1).
	if h, p, ok := hostPort(m.httpAddr); ok {
		iss.ListenHost, iss.AltHTTPPort = h, p
	}
	if h, p, ok := hostPort(m.tlsAddr); ok {
		iss.AltTLSALPNPort = p
		if iss.ListenHost == "" {
			iss.ListenHost = h
		}
	}
	if a.CARoot != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(a.CARoot)) {
			return nil, errors.New("ca_root: no PEM certificate")
		}
		iss.TrustedRoots = pool
	}
	if e := a.EAB; e != nil {
		iss.ExternalAccount = &acme.EAB{KeyID: e.KeyID, MACKey: e.MACKey}
	}
	st.issuer = certmagic.NewACMEIssuer(cm, iss)
	cm.Issuers = []certmagic.Issuer{st.issuer}
	st.cm = cm
	st.ctx, st.cancel = context.WithCancel(context.Background())
	return st, nil
}

func (m *Manager) storage(s *config.ACMEStorage) (certmagic.Storage, error) {
	if s != nil && s.Type == "kubernetes" {
		if m.opts.KubeStorage == nil {
			return nil, errors.New("storage.type kubernetes is only available when Weir runs in Kubernetes")
		}
		return m.opts.KubeStorage(s)
	}
	path := ""
	if s != nil {
		path = s.Path
	}
	if path == "" {
		path = DefaultStoragePath()
	}
	return &certmagic.FileStorage{Path: path}, nil
}

// DefaultStoragePath is where ACME assets live by default:
// $XDG_DATA_HOME/weir/acme, else ~/.local/share/weir/acme.
func DefaultStoragePath() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "weir", "acme")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".", "weir-data", "acme")
	}
	return filepath.Join(home, ".local", "share", "weir", "acme")
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// hostPort splits a listener address; an unspecified IP becomes "" (all
// interfaces), as certmagic's ListenHost expects.
func hostPort(a net.Addr) (string, int, bool) {
	if a == nil {
		return "", 0, false
	}
	h, ps, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0, false
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, false
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = ""
	}
	return h, p, true
}
