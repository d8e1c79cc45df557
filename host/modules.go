package host

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	builtins "github.com/weirproxy/weir/plugins-src"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/modules"
	"github.com/weirproxy/weir/host/internal/proxy"
)

// moduleSource is the plugin loader's fetching side: it resolves module
// references through host/internal/modules (one Fetcher per distinct
// weir.modules setting), keeps what each plugin slot serves for the admin
// API, and counts load failures.
//
// A plugin slot is a plugin's scope plus its module reference without
// tag, digest or pin: `oci://reg/auth:v1` and `oci://reg/auth:v2` on the
// same route are the same slot, so when v2 cannot be fetched or compiled
// the plugin keeps serving v1.
type moduleSource struct {
	log *slog.Logger

	mu      sync.Mutex
	fetcher *modules.Fetcher
	key     string
	gcStop  chan struct{}
	creds   *modules.Credentials

	errMu    sync.Mutex
	lastErr  map[string]slotError // by slot: the last failed load
	failures atomic.Uint64
}

type slotError struct {
	plugin, err string
	at          time.Time
}

// moduleInfo describes the module a running plugin was built from.
type moduleInfo struct {
	Ref            string    `json:"ref"`
	Digest         string    `json:"digest"`
	Format         string    `json:"format,omitempty"`
	ManifestDigest string    `json:"manifest_digest,omitempty"`
	FromCache      bool      `json:"from_cache"`
	LoadedAt       time.Time `json:"loaded_at"`
}

// fetchResult is the outcome of resolving one plugin name.
type fetchResult struct {
	ref modules.Ref
	mod *modules.Module
	err error
	// remote: a fetch or compile failure degrades to the previous module
	// or the failure policy instead of rejecting the config.
	remote bool
}

const (
	defaultCacheTTL   = 24 * time.Hour
	cacheSweepEvery   = time.Hour
	maxParallelFetchs = 4
)

func (m *moduleSource) getFetcher(mc config.Modules) (*modules.Fetcher, error) {
	raw, _ := json.Marshal(mc)
	key := string(raw)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fetcher != nil && m.key == key {
		return m.fetcher, nil
	}
	opts := modules.Options{
		CacheDir:     mc.CacheDir,
		Insecure:     mc.InsecureRegistries,
		DockerConfig: mc.DockerConfig,
		Timeout:      time.Duration(mc.FetchTimeout) * time.Millisecond,
		Retries:      mc.FetchRetries,
		Logger:       m.log,
	}
	if opts.CacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			opts.CacheDir = filepath.Join(d, "weir", "modules")
		}
	}
	if mc.CAFile != "" {
		pem, err := os.ReadFile(mc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("weir.modules.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("weir.modules.ca_file: %s holds no PEM certificate", mc.CAFile)
		}
		opts.RootCAs = pool
	}
	f, err := modules.New(opts)
	if err != nil {
		return nil, fmt.Errorf("weir.modules: %w", err)
	}
	if m.gcStop != nil {
		close(m.gcStop)
		m.gcStop = nil
	}
	if c := f.Cache(); c != nil {
		ttl := defaultCacheTTL
		if mc.CacheTTL > 0 {
			ttl = time.Duration(mc.CacheTTL) * time.Second
		}
		stop := make(chan struct{})
		m.gcStop = stop
		go m.sweep(c, ttl, stop)
	}
	m.fetcher, m.key = f, key
	return f, nil
}

// sweep garbage-collects the module cache hourly until stop closes.
func (m *moduleSource) sweep(c *modules.Cache, ttl time.Duration, stop chan struct{}) {
	t := time.NewTicker(cacheSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if n, err := c.GC(ttl); err != nil {
			m.log.Warn("module cache sweep", "dir", c.Dir(), "removed", n, "err", err)
		} else if n > 0 {
			m.log.Info("module cache sweep", "dir", c.Dir(), "removed", n)
		}
	}
}

func (m *moduleSource) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gcStop != nil {
		close(m.gcStop)
		m.gcStop = nil
	}
}

// setPullSecrets replaces the registry credentials handed to every
// fetch (before the docker config file).
func (m *moduleSource) setPullSecrets(c *modules.Credentials) {
	m.mu.Lock()
	m.creds = c
	m.mu.Unlock()
}

// fetchAll resolves every enabled plugin's module reference, several at
// a time, before anything is compiled or swapped: a reload costs the
// slowest fetch, not their sum, and the running snapshot serves
// meanwhile.
func (m *moduleSource) fetchAll(cfg *config.Config) map[string]*fetchResult {
	out := map[string]*fetchResult{}
	policy, _ := modules.ParsePullPolicy(cfg.Weir.Modules.PullPolicy)
	var todo []*fetchResult
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if cp.Enabled != nil && !*cp.Enabled || out[cp.Name] != nil {
			continue
		}
		r := &fetchResult{}
		out[cp.Name] = r
		if !modules.IsRef(cp.Name) {
			r.err = fmt.Errorf("unknown plugin %q: not a Weir built-in (built-ins: %s); reference a module with file:///path/to/plugin.wasm, oci://registry/repo:tag or https://host/plugin.wasm#sha256=...",
				cp.Name, strings.Join(builtins.Names(), ", "))
			continue
		}
		r.ref, r.err = modules.ParseRef(cp.Name)
		if r.err == nil {
			r.remote = r.ref.Remote()
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return out
	}
	f, err := m.getFetcher(cfg.Weir.Modules)
	if err != nil {
		for _, r := range todo {
			r.err, r.remote = err, false // a settings error rejects the config
		}
		return out
	}
	m.mu.Lock()
	creds := m.creds
	m.mu.Unlock()
	sem := make(chan struct{}, maxParallelFetchs)
	var wg sync.WaitGroup
	for _, r := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			r.mod, r.err = f.Fetch(context.Background(), r.ref, modules.FetchOptions{Policy: policy, Credentials: creds})
			if r.err == nil && r.remote {
				m.log.Info("plugin module fetched", "ref", r.ref.String(), "digest", r.mod.Digest, "format", r.mod.Format,
					"from_cache", r.mod.FromCache, "duration", time.Since(start).Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	return out
}

// slotOf returns a plugin's slot (see moduleSource).
func slotOf(cp *config.Plugin, ref modules.Ref) string {
	id := cp.Name
	if ref.Scheme != "" {
		id = ref.Slot()
	}
	if cp.InstanceName != "" {
		id = "instance=" + cp.InstanceName
	}
	return fmt.Sprintf("service=%s route=%s consumer=%s %s", cp.Service, cp.Route, cp.Consumer, id)
}

// failed records a module that could not be loaded for slot, and returns
// what serves instead: the slot's previous plugin, else a placeholder
// that applies the failure policy (503 when closed, skipped when open).
func (m *moduleSource) failed(cp *config.Plugin, slot string, err error, prev *proxy.Snapshot, set map[string]*proxy.Plugin) *proxy.Plugin {
	m.failures.Add(1)
	m.errMu.Lock()
	if m.lastErr == nil {
		m.lastErr = map[string]slotError{}
	}
	m.lastErr[slot] = slotError{plugin: cp.Name, err: err.Error(), at: time.Now().UTC()}
	m.errMu.Unlock()
	if prev != nil {
		if p := prev.PluginSlots[slot]; p != nil && p.Wasm != nil {
			for k, q := range prev.Plugins {
				if q == p {
					set[k] = p
					break
				}
			}
			m.log.Error("plugin module could not be loaded; the previous module keeps serving", "plugin", cp.Name, "err", err)
			return p
		}
	}
	policy := "closed: its routes answer 503"
	if cp.FailPolicy == "open" {
		policy = "open: skipped on its routes"
	}
	m.log.Error("plugin module could not be loaded and no previous module serves; fail_policy "+policy, "plugin", cp.Name, "err", err)
	p := &proxy.Plugin{Name: cp.Name, FailOpen: cp.FailPolicy == "open", Unavailable: err.Error()}
	set["unavailable\x00"+slot] = p
	return p
}

// loaded records the module a new plugin runs.
func (m *moduleSource) loaded(p *proxy.Plugin, slot string, r *fetchResult) {
	m.errMu.Lock()
	delete(m.lastErr, slot)
	m.errMu.Unlock()
	if r == nil || r.mod == nil {
		return
	}
	moduleInfos.Store(p, &moduleInfo{Ref: r.ref.String(), Digest: r.mod.Digest, Format: string(r.mod.Format),
		ManifestDigest: r.mod.ManifestDigest, FromCache: r.mod.FromCache, LoadedAt: time.Now().UTC()})
}

// moduleInfos maps each running *proxy.Plugin to its *moduleInfo (for
// GET /modules); closePlugins deletes a plugin's entry when it closes it.
var moduleInfos sync.Map

// prune forgets the load errors of slots a new config no longer has.
func (m *moduleSource) prune(slots map[string]*proxy.Plugin) {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	for slot := range m.lastErr {
		if _, ok := slots[slot]; !ok {
			delete(m.lastErr, slot)
		}
	}
}

// forget drops what is recorded about a closed plugin.
func (m *moduleSource) forget(p *proxy.Plugin) { moduleInfos.Delete(p) }

// needsRefresh reports whether applying cfg again, unchanged, could load
// different modules: an oci:// tag pulled Always, or a slot whose last
// load failed (a reload retries it).
func (m *moduleSource) needsRefresh(cfg *config.Config) bool {
	m.errMu.Lock()
	failed := len(m.lastErr) > 0
	m.errMu.Unlock()
	if failed {
		return true
	}
	policy, _ := modules.ParsePullPolicy(cfg.Weir.Modules.PullPolicy)
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if cp.Enabled != nil && !*cp.Enabled || !modules.IsRef(cp.Name) {
			continue
		}
		if r, err := modules.ParseRef(cp.Name); err == nil && r.Mutable() && policy.Effective(r) == modules.PullAlways {
			return true
		}
	}
	return false
}

// ModuleStatus is one plugin slot in GET /modules.
type ModuleStatus struct {
	// Plugin is the plugin name (module reference) of the running plugin.
	Plugin string `json:"plugin"`
	Slot   string `json:"slot"`
	// Serving: "module" (a loaded module), "unavailable" (none could be
	// loaded; the failure policy applies).
	Serving  string      `json:"serving"`
	FailOpen bool        `json:"fail_open"`
	Module   *moduleInfo `json:"module,omitempty"`
	// LastError is the last failed load for this slot (cleared by a
	// successful one), with the plugin name that failed and when.
	LastError       string     `json:"last_error,omitempty"`
	LastErrorPlugin string     `json:"last_error_plugin,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
}

// ModuleStatuses reports, per plugin slot of the running snapshot, the
// module serving it and the last load failure.
func (s *Server) ModuleStatuses() []ModuleStatus {
	snap := s.h.Snapshot()
	m := &s.pl.src
	m.errMu.Lock()
	defer m.errMu.Unlock()
	var out []ModuleStatus
	for slot, p := range snap.PluginSlots {
		st := ModuleStatus{Plugin: p.Name, Slot: slot, Serving: "module", FailOpen: p.FailOpen}
		if p.Wasm == nil {
			st.Serving = "unavailable"
		}
		if v, ok := moduleInfos.Load(p); ok {
			st.Module = v.(*moduleInfo)
		}
		if e, ok := m.lastErr[slot]; ok {
			at := e.at
			st.LastError, st.LastErrorPlugin, st.LastErrorAt = e.err, e.plugin, &at
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// ModuleLoadFailures counts plugin modules that could not be fetched,
// verified or compiled since the server started (for the metrics
// endpoint: weir_plugin_module_load_failures_total).
func (s *Server) ModuleLoadFailures() uint64 { return s.pl.src.failures.Load() }

// SetPullSecrets sets the registry credentials used for oci:// modules,
// before weir.modules.docker_config: each argument is the
// `.dockerconfigjson` value of a kubernetes.io/dockerconfigjson Secret
// (the ingress controller passes the Secrets it is given). They apply
// from the next config load.
func (s *Server) SetPullSecrets(dockerConfigJSON ...[]byte) error {
	var all []*modules.Credentials
	for i, b := range dockerConfigJSON {
		c, err := modules.CredentialsFromDockerConfigJSON(b)
		if err != nil {
			return fmt.Errorf("pull secret %d: %w", i, err)
		}
		all = append(all, c)
	}
	s.pl.src.setPullSecrets(modules.MergeCredentials(all...))
	return nil
}

// modulesHandler serves GET /modules on the admin port and passes
// everything else to next.
func (s *Server) modulesHandler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /modules", func(w http.ResponseWriter, r *http.Request) {
		st := s.ModuleStatuses()
		if st == nil {
			st = []ModuleStatus{}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"data": st, "load_failures_total": s.ModuleLoadFailures()})
	})
	mux.Handle("/", next)
	return mux
}
