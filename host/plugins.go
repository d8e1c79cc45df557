package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/wasm"
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

	// src fetches module references (file://, https://, oci://).
	src moduleSource
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
	l.src.close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine != nil {
		l.engine.Close(ctx)
		l.engine = nil
	}
}

// pluginKey identifies a plugin instance for reuse across reloads.
func pluginKey(p *config.Plugin, digest string) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(p.Name), []byte(digest), compactJSON(p.Config), []byte(p.RootID),
		compactJSON(p.VMConfig), []byte(p.FailPolicy), limitsKey(p.Limits)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// limitsKey encodes a plugin's limits for pluginKey.
func limitsKey(l *config.PluginLimits) []byte {
	if l == nil {
		return nil
	}
	return fmt.Appendf(nil, "%d/%d/%d/%d", l.Instances, l.MemoryMB, l.CallTimeoutMS, l.StartTimeoutMS)
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
//
// Module references are all fetched first (see moduleSource.fetchAll).
// A remote module (oci://, https://) that cannot be fetched, verified or
// compiled does not reject the config: its slot keeps the previous
// snapshot's plugin, or without one gets a placeholder applying the
// plugin's fail_policy; the failure is logged, counted and shown by GET
// /modules. Local (file://) modules and built-in names stay config errors.
func (l *pluginLoader) buildPlugins(cfg *config.Config, prev *proxy.Snapshot) (byIndex []*proxy.Plugin, set, slots map[string]*proxy.Plugin, err error) {
	byIndex = make([]*proxy.Plugin, len(cfg.Plugins))
	set = map[string]*proxy.Plugin{}
	slots = map[string]*proxy.Plugin{}
	var started []*proxy.Plugin
	defer func() {
		if err != nil {
			for _, p := range started {
				p.Wasm.Close(context.Background())
				l.src.forget(p)
			}
		}
	}()
	fetched := l.src.fetchAll(cfg)
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if cp.Enabled != nil && !*cp.Enabled {
			continue
		}
		where := fmt.Sprintf("plugins[%d] (plugin %q): name", i, cp.Name)
		res := fetched[cp.Name]
		slot := slotOf(cp, res.ref)
		if res.err != nil {
			if !res.remote {
				return nil, nil, nil, fmt.Errorf("%s: %w", where, res.err)
			}
			p := l.src.failed(cp, slot, res.err, prev, set)
			slots[slot], byIndex[i] = p, p
			continue
		}
		raw := res.mod.Wasm
		sum := sha256.Sum256(raw)
		key := pluginKey(cp, hex.EncodeToString(sum[:]))
		if p := set[key]; p != nil {
			slots[slot], byIndex[i] = p, p
			continue
		}
		if prev != nil && prev.Plugins[key] != nil {
			p := prev.Plugins[key]
			set[key], slots[slot], byIndex[i] = p, p, p
			l.src.loaded(p, slot, nil)
			continue
		}
		eng, eerr := l.getEngine()
		if eerr != nil {
			return nil, nil, nil, fmt.Errorf("%s: wasm engine: %w", where, eerr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		mod, cerr := eng.Compile(ctx, cp.Name, raw)
		if cerr != nil {
			cancel()
			if res.remote {
				p := l.src.failed(cp, slot, cerr, prev, set)
				slots[slot], byIndex[i] = p, p
				continue
			}
			return nil, nil, nil, fmt.Errorf("%s: %w", where, cerr)
		}
		var cfgBytes []byte
		if len(cp.Config) > 0 && string(cp.Config) != "null" {
			cfgBytes = compactJSON(cp.Config)
		}
		var vmBytes []byte
		if len(cp.VMConfig) > 0 && string(cp.VMConfig) != "null" {
			vmBytes = compactJSON(cp.VMConfig)
		}
		var lim config.PluginLimits // zero: the host defaults
		if cp.Limits != nil {
			lim = *cp.Limits
		}
		wp, perr := eng.NewPlugin(ctx, mod, wasm.PluginOptions{
			Name:     cp.Name,
			RootID:   cp.RootID,
			VMID:     cp.RootID,
			VMConfig: vmBytes,
			Config:   cfgBytes,
			FailOpen: cp.FailPolicy == "open",
			Logger:   l.log, // the wasm host adds the plugin name
			Callouts: l.callouts,

			PoolSize:         lim.Instances,
			MemoryLimitPages: uint32(lim.MemoryMB) * (1 << 20 / abi.WasmPageSize),
			CallTimeout:      time.Duration(lim.CallTimeoutMS) * time.Millisecond,
			StartTimeout:     time.Duration(lim.StartTimeoutMS) * time.Millisecond,
		})
		cancel()
		if perr != nil {
			return nil, nil, nil, fmt.Errorf("plugins[%d] (plugin %q): config: %w", i, cp.Name, perr)
		}
		p := &proxy.Plugin{Name: cp.Name, Wasm: wp, FailOpen: cp.FailPolicy == "open"}
		started = append(started, p)
		set[key], slots[slot], byIndex[i] = p, p, p
		l.src.loaded(p, slot, res)
	}
	l.src.prune(slots)
	return byIndex, set, slots, nil
}

// routePlugins resolves the plugins that run on a route, as Kong does:
// for each plugin name the most specific instance wins (route+service,
// then route, then service, then global) and instances are never merged;
// the chain is ordered by priority (higher first), then by name.
// Consumer-scoped instances apply once a consumer is authenticated,
// which arrives with the authentication plugins.
func routePlugins(cfg *config.Config, byIndex []*proxy.Plugin, cr *config.Route) []*proxy.Plugin {
	type pick struct {
		spec, prio int
		name       string
		p          *proxy.Plugin
	}
	best := map[string]pick{}
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if byIndex[i] == nil || cp.Consumer != "" {
			continue
		}
		routeMatch := cp.Route != "" && (cp.Route == cr.Name || (cr.ID != "" && cp.Route == cr.ID))
		svcMatch := cp.Service != "" && cp.Service == cr.Service
		spec := -1
		switch {
		case cp.Route != "" && cp.Service != "":
			if routeMatch && svcMatch {
				spec = 3
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
		if b, ok := best[cp.Name]; ok && b.spec >= spec {
			continue
		}
		prio := 0
		if cp.Priority != nil {
			prio = *cp.Priority
		}
		best[cp.Name] = pick{spec: spec, prio: prio, name: cp.Name, p: byIndex[i]}
	}
	picks := make([]pick, 0, len(best))
	for _, b := range best {
		picks = append(picks, b)
	}
	sort.Slice(picks, func(i, j int) bool {
		if picks[i].prio != picks[j].prio {
			return picks[i].prio > picks[j].prio
		}
		return picks[i].name < picks[j].name
	})
	out := make([]*proxy.Plugin, len(picks))
	for i, p := range picks {
		out[i] = p.p
	}
	return out
}

// closePlugins closes the plugins of old that keep is not using.
func closePlugins(old, keep *proxy.Snapshot) {
	for k, p := range old.Plugins {
		if keep != nil && keep.Plugins[k] == p || p.Wasm == nil {
			continue
		}
		moduleInfos.Delete(p)
		p.Wasm.Close(context.Background())
	}
}
