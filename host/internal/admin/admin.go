// Package admin serves Weir's admin API (port 8001 by default) and its
// status endpoints (port 8100), in the shapes Kong uses so existing
// scripts and probes keep working:
//
//	GET  /status                      server and config state
//	GET  /services, /routes, /upstreams, /consumers, /plugins
//	GET  /services/{name}, /routes/{name}, /upstreams/{name}
//	GET  /upstreams/{name}/health     health of each target
//	GET  /config                      the declarative config in service
//	POST /config                      replace it (Kong DB-less); 400 with every error
//	GET  /status/ready (status port)  200 when serving a config, else 503
//	GET  /metrics (status port)       Prometheus metrics
//	GET  /debug/pprof/...             Go's profiler
package admin

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/proxy"
)

// Backend is what the admin API needs from the server.
type Backend interface {
	Config() *config.Config
	Snapshot() *proxy.Snapshot
	Apply(raw []byte) error
	Ready() bool
	Stats() Stats
}

// Stats are the counters reported by GET /status.
type Stats struct {
	Version             string
	Started             time.Time
	ConnectionsAccepted uint64
	ConnectionsActive   int64
	TotalRequests       uint64
	ReloadsOK           uint64
	ReloadsFailed       uint64
	LastReloadError     string
}

// API serves the admin and status endpoints.
type API struct {
	b   Backend
	log *slog.Logger
}

// New returns the admin API over b.
func New(b Backend, log *slog.Logger) *API { return &API{b: b, log: log} }

// maxConfigBytes bounds POST /config bodies.
const maxConfigBytes = 64 << 20

// AdminHandler returns the admin port's handler.
func (a *API) AdminHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.root)
	m.HandleFunc("GET /status", a.status)
	m.HandleFunc("GET /config", a.getConfig)
	m.HandleFunc("POST /config", a.postConfig)
	m.HandleFunc("GET /services", list(a, func(c *config.Config) any { return c.Services }))
	m.HandleFunc("GET /routes", list(a, func(c *config.Config) any { return c.Routes }))
	m.HandleFunc("GET /upstreams", list(a, func(c *config.Config) any { return c.Upstreams }))
	m.HandleFunc("GET /targets", list(a, func(c *config.Config) any { return c.Targets }))
	m.HandleFunc("GET /plugins", list(a, func(c *config.Config) any { return c.Plugins }))
	m.HandleFunc("GET /consumers", list(a, func(c *config.Config) any { return redactConsumers(c.Consumers) }))
	m.HandleFunc("GET /services/{name}", a.getOne("service"))
	m.HandleFunc("GET /routes/{name}", a.getOne("route"))
	m.HandleFunc("GET /upstreams/{name}", a.getOne("upstream"))
	m.HandleFunc("GET /upstreams/{name}/health", a.health)
	// Go's profiler, as Caddy exposes it on its admin endpoint: the admin
	// listener is loopback-only by default.
	m.HandleFunc("GET /debug/pprof/", pprof.Index)
	m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
	})
	return m
}

// StatusHandler returns the status port's handler.
func (a *API) StatusHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /status/ready", func(w http.ResponseWriter, r *http.Request) {
		if !a.b.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"message": "ready"})
	})
	m.HandleFunc("GET /status", a.status)
	if mb, ok := a.b.(MetricsBackend); ok {
		m.Handle("GET /metrics", mb.MetricsHandler())
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
	})
	return m
}

// MetricsBackend is a Backend that serves Prometheus metrics: the
// status port then answers GET /metrics.
type MetricsBackend interface {
	MetricsHandler() http.Handler
}

func (a *API) root(w http.ResponseWriter, r *http.Request) {
	st := a.b.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"tagline": "Welcome to weir",
		"version": st.Version,
		"configuration": map[string]any{
			"database": "off",
			"role":     "traditional",
		},
	})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	st := a.b.Stats()
	snap := a.b.Snapshot()
	out := map[string]any{
		"database": map[string]any{"reachable": true},
		"server": map[string]any{
			"connections_accepted": st.ConnectionsAccepted,
			"connections_active":   st.ConnectionsActive,
			"total_requests":       st.TotalRequests,
		},
		"configuration_hash": hexHash(snap.Hash),
		"reloads": map[string]any{
			"succeeded":  st.ReloadsOK,
			"failed":     st.ReloadsFailed,
			"last_error": st.LastReloadError,
		},
		"uptime_seconds": int64(time.Since(st.Started).Seconds()),
		"ready":          a.b.Ready(),
		"version":        st.Version,
	}
	writeJSON(w, http.StatusOK, out)
}

func hexHash(h [32]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 32) // Kong reports 32 hex digits
	for i := 0; i < 16; i++ {
		b[2*i], b[2*i+1] = digits[h[i]>>4], digits[h[i]&15]
	}
	return string(b)
}

func list(a *API, f func(*config.Config) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data := f(a.b.Config())
		writeJSON(w, http.StatusOK, map[string]any{"data": nonNil(data), "next": nil})
	}
}

func nonNil(v any) any {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return []any{}
	}
	return v
}

func (a *API) getOne(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		c := a.b.Config()
		var found any
		switch kind {
		case "service":
			for i := range c.Services {
				if c.Services[i].Name == name || c.Services[i].ID == name {
					found = c.Services[i]
				}
			}
		case "route":
			for i := range c.Routes {
				if c.Routes[i].Name == name || c.Routes[i].ID == name {
					found = c.Routes[i]
				}
			}
		case "upstream":
			for i := range c.Upstreams {
				if c.Upstreams[i].Name == name || c.Upstreams[i].ID == name {
					found = c.Upstreams[i]
				}
			}
		}
		if found == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
			return
		}
		writeJSON(w, http.StatusOK, found)
	}
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	snap := a.b.Snapshot()
	b := snap.Balancers[name]
	if b == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
		return
	}
	var data []map[string]any
	for _, t := range b.Health() {
		data = append(data, map[string]any{
			"target":   t.Target,
			"weight":   t.Weight,
			"health":   t.Health,
			"upstream": map[string]any{"name": name},
		})
	}
	if data == nil {
		data = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next": nil})
}

func (a *API) getConfig(w http.ResponseWriter, r *http.Request) {
	c := a.b.Config()
	y, err := yaml.Marshal(c)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"config": string(y)})
}

// postConfig replaces the config, accepting what Kong's POST /config
// accepts: a JSON or YAML body, a JSON object {"config": "<yaml text>"},
// or a form (urlencoded or multipart) with a `config` field.
func (a *API) postConfig(w http.ResponseWriter, r *http.Request) {
	raw, err := readConfigBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": err.Error()})
		return
	}
	if err := a.b.Apply(raw); err != nil {
		writeJSON(w, http.StatusBadRequest, configError(err))
		return
	}
	c := a.b.Config()
	writeJSON(w, http.StatusCreated, map[string]any{
		"services":  nonNil(c.Services),
		"routes":    nonNil(c.Routes),
		"upstreams": nonNil(c.Upstreams),
		"targets":   nonNil(c.Targets),
	})
}

func readConfigBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxConfigBytes)
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return []byte(r.PostForm.Get("config")), nil
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return nil, errors.New("multipart body has no `config` part")
			}
			if p.FormName() == "config" {
				return io.ReadAll(p)
			}
		}
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	// {"config": "<yaml or json text>"} is Kong's JSON wrapper.
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		var wrap struct {
			Config *string `json:"config"`
		}
		if json.Unmarshal(b, &wrap) == nil && wrap.Config != nil {
			return []byte(*wrap.Config), nil
		}
	}
	return b, nil
}

// configError is Kong's "invalid declarative configuration" body.
func configError(err error) map[string]any {
	out := map[string]any{
		"code":    14,
		"name":    "invalid declarative configuration",
		"message": "declarative config is invalid: " + err.Error(),
	}
	var ve config.ValidationErrors
	if errors.As(err, &ve) {
		fields := map[string]string{}
		var flat []map[string]any
		for _, fe := range ve {
			fields[fe.Path] = fe.Message
			flat = append(flat, map[string]any{
				"entity": fe.Entity,
				"errors": []map[string]any{{"field": fe.Path, "message": fe.Message}},
			})
		}
		out["fields"] = fields
		out["flattened_errors"] = flat
	}
	return out
}

func redactConsumers(cs []config.Consumer) []map[string]any {
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, map[string]any{"id": c.ID, "username": c.Username, "custom_id": c.CustomID, "tags": c.Tags})
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"An unexpected error occurred"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
