package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/counters"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/wasm"
	builtins "github.com/weirproxy/weir/plugins-src"
)

// pluginLoader turns plugin entries into running wasm plugins. It owns
// the process's one wasm engine (created on first use, with a persistent
// compilation cache) and reuses a previous snapshot's plugin when its
// module, configuration and options are unchanged, so a reload does not
// restart warm instances.
type pluginLoader struct {
	log      *slog.Logger
	callouts wasm.CalloutDispatcher

	mu     sync.Mutex
	engine *wasm.Engine
	// counters are the plugins' counter stores: one local store for the
	// loader's life (counts survive reloads) and Redis clients by
	// connection settings, shared by entries and reloads.
	local *counters.Local
	redis map[string]*counters.Redis
}

func (l *pluginLoader) getEngine() (*wasm.Engine, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine != nil {
		return l.engine, nil
	}
	dir := ""
	if d, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(d, "weir", "wasm-cache")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			dir = "" // fall back to an in-memory cache
		}
	}
	e, err := wasm.NewEngine(wasm.EngineOptions{CacheDir: dir, Logger: l.log})
	if err != nil {
		return nil, err
	}
	l.engine = e
	return e, nil
}

func (l *pluginLoader) close(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine != nil {
		l.engine.Close(ctx)
		l.engine = nil
	}
	for k, r := range l.redis {
		r.Close()
		delete(l.redis, k)
	}
}

// readModule resolves a module reference to module bytes. Names without
// a scheme are built-ins (resolveModule); an unknown one is a
// configuration error, never silently skipped (a Kong file asking for a
// plugin Weir lacks must not serve unprotected). oci:// and https://
// references arrive with a later issue.
func readModule(name string) ([]byte, error) {
	if !strings.Contains(name, "://") {
		return nil, fmt.Errorf("unknown plugin %q: not a Weir built-in (built-ins: %s); reference a module with file:///path/to/plugin.wasm",
			name, strings.Join(builtins.Names(), ", "))
	}
	u, err := url.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("module reference %q: %v", name, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("module reference %q: file URLs name a local absolute path (file:///...)", name)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("module reference %q: the path must be absolute", name)
		}
		return os.ReadFile(u.Path)
	case "oci", "https", "http":
		return nil, fmt.Errorf("module reference %q: %s:// modules are not supported yet; use file://", name, u.Scheme)
	}
	return nil, fmt.Errorf("module reference %q: unknown scheme %q", name, u.Scheme)
}

// pluginKey identifies a plugin instance for reuse across reloads.
func pluginKey(p *config.Plugin, digest string) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(p.Name), []byte(digest), compactJSON(p.Config), []byte(p.RootID),
		compactJSON(p.VMConfig), []byte(p.FailPolicy)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func compactJSON(b json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// buildPlugins starts (or reuses) every enabled plugin of cfg and returns
// them by index in cfg.Plugins (nil for skipped ones), plus the set by
// reuse key. On error, the plugins it started are closed again.
func (l *pluginLoader) buildPlugins(cfg *config.Config, prev *proxy.Snapshot) (byIndex []*proxy.Plugin, set map[string]*proxy.Plugin, err error) {
	byIndex = make([]*proxy.Plugin, len(cfg.Plugins))
	set = map[string]*proxy.Plugin{}
	var started []*proxy.Plugin
	defer func() {
		if err != nil {
			for _, p := range started {
				p.Wasm.Close(context.Background())
			}
		}
	}()
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if cp.Enabled != nil && !*cp.Enabled {
			continue
		}
		where := fmt.Sprintf("plugins[%d] (plugin %q): name", i, cp.Name)
		src, rerr := resolveModule(cp)
		if rerr != nil {
			return nil, nil, fmt.Errorf("plugins[%d] (plugin %q): %w", i, cp.Name, rerr)
		}
		key := pluginKey(cp, src.digest)
		store, serr := l.counterStore(cp)
		if serr != nil {
			return nil, nil, fmt.Errorf("plugins[%d] (plugin %q): %w", i, cp.Name, serr)
		}
		if p := set[key]; p != nil {
			byIndex[i] = scoped(p, cp, store)
			continue
		}
		if prev != nil && prev.Plugins[key] != nil {
			p := prev.Plugins[key]
			set[key], byIndex[i] = p, scoped(p, cp, store)
			continue
		}
		raw, rerr := src.load()
		if rerr != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, rerr)
		}
		eng, eerr := l.getEngine()
		if eerr != nil {
			return nil, nil, fmt.Errorf("%s: wasm engine: %w", where, eerr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		mod, cerr := eng.Compile(ctx, cp.Name, raw)
		if cerr != nil {
			cancel()
			return nil, nil, fmt.Errorf("%s: %w", where, cerr)
		}
		var cfgBytes []byte
		if len(cp.Config) > 0 && string(cp.Config) != "null" {
			cfgBytes = compactJSON(cp.Config)
		}
		var vmBytes []byte
		if len(cp.VMConfig) > 0 && string(cp.VMConfig) != "null" {
			vmBytes = compactJSON(cp.VMConfig)
		}
		wp, perr := eng.NewPlugin(ctx, mod, wasm.PluginOptions{
			Name:     cp.Name,
			RootID:   cp.RootID,
			VMID:     cp.RootID,
			VMConfig: vmBytes,
			Config:   cfgBytes,
			FailOpen: cp.FailPolicy == "open",
			Logger:   l.log.With("plugin", cp.Name),
			Callouts: l.callouts,
		})
		cancel()
		if perr != nil {
			return nil, nil, fmt.Errorf("plugins[%d] (plugin %q): config: %w", i, cp.Name, perr)
		}
		p := &proxy.Plugin{Name: cp.Name, Wasm: wp, FailOpen: cp.FailPolicy == "open"}
		started = append(started, p)
		set[key], byIndex[i] = p, scoped(p, cp, store)
	}
	return byIndex, set, nil
}

// routePlugins resolves the plugins that run on a route, as Kong does
// (kong-ingress.md 6.2): for each plugin name the most specific instance
// wins and instances are never merged. Without a consumer the candidates
// are route+service, route, service, global; a consumer-scoped instance
// (route+service+consumer, route+consumer, service+consumer, consumer)
// replaces that pick for its consumer when it is more specific (Kong's
// order puts consumer alone between route+service and route). The chain
// is ordered by priority (higher first; a built-in's Kong priority when
// the entry gives none), then by name.
func routePlugins(cfg *config.Config, byIndex []*proxy.Plugin, cr *config.Route, ix *consumers.Index) []*proxy.Plugin {
	type pick struct {
		spec, prio int
		p          *proxy.Plugin
	}
	type slot struct {
		def  pick
		hasD bool
		byC  map[string]pick
		name string
	}
	slots := map[string]*slot{}
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if byIndex[i] == nil {
			continue
		}
		routeMatch := cp.Route != "" && (cp.Route == cr.Name || (cr.ID != "" && cp.Route == cr.ID))
		svcMatch := cp.Service != "" && cp.Service == cr.Service
		spec := -1
		switch {
		case cp.Route != "" && cp.Service != "":
			if routeMatch && svcMatch {
				spec = 4
			}
		case cp.Route != "":
			if routeMatch {
				spec = 2
			}
		case cp.Service != "":
			if svcMatch {
				spec = 1
			}
		default:
			spec = 0
		}
		if spec < 0 {
			continue
		}
		consumerID := ""
		if cp.Consumer != "" {
			c := ix.Resolve(cp.Consumer)
			if c == nil {
				continue // validated earlier; unreachable
			}
			consumerID = c.ID
			// route+service+consumer 7, route+consumer 6,
			// service+consumer 5, consumer 3.
			switch spec {
			case 4:
				spec = 7
			case 2:
				spec = 6
			case 1:
				spec = 5
			case 0:
				spec = 3
			}
		}
		sl := slots[cp.Name]
		if sl == nil {
			sl = &slot{name: cp.Name}
			slots[cp.Name] = sl
		}
		pk := pick{spec: spec, prio: pluginPriority(cp), p: byIndex[i]}
		if consumerID == "" {
			if !sl.hasD || sl.def.spec < spec {
				sl.def, sl.hasD = pk, true
			}
		} else {
			if sl.byC == nil {
				sl.byC = map[string]pick{}
			}
			if b, ok := sl.byC[consumerID]; !ok || b.spec < spec {
				sl.byC[consumerID] = pk
			}
		}
	}
	out := make([]*proxy.Plugin, 0, len(slots))
	prio := map[*proxy.Plugin]int{}
	for _, sl := range slots {
		var p *proxy.Plugin
		pr := 0
		if sl.hasD {
			p, pr = sl.def.p, sl.def.prio
		}
		for cid, pk := range sl.byC {
			if sl.hasD && pk.spec <= sl.def.spec {
				continue
			}
			if p == nil {
				p = &proxy.Plugin{Name: sl.name}
				pr = pk.prio
			} else if p.ByConsumer == nil {
				cp := *p
				p = &cp
			}
			if p.ByConsumer == nil {
				p.ByConsumer = map[string]*proxy.Plugin{}
			}
			p.ByConsumer[cid] = pk.p
		}
		if p == nil {
			continue
		}
		prio[p] = pr
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if prio[out[i]] != prio[out[j]] {
			return prio[out[i]] > prio[out[j]]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// closePlugins closes the plugins of old that keep is not using.
func closePlugins(old, keep *proxy.Snapshot) {
	for k, p := range old.Plugins {
		if keep != nil && keep.Plugins[k] == p {
			continue
		}
		p.Wasm.Close(context.Background())
	}
}
