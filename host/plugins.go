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
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/counters"
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
	l.src.close()
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
		key, slot := "", ""
		var res *fetchResult
		var bm builtinModule
		isBuiltin := false
		if b, ok, berr := resolveBuiltin(cp); berr != nil {
			return nil, nil, nil, fmt.Errorf("plugins[%d] (plugin %q): %w", i, cp.Name, berr)
		} else if ok {
			bm, isBuiltin = b, true
			key = pluginKey(cp, bm.digest)
		} else {
			res = fetched[cp.Name]
			slot = slotOf(cp, res.ref)
			if res.err != nil {
				if !res.remote {
					return nil, nil, nil, fmt.Errorf("%s: %w", where, res.err)
				}
				p := l.src.failed(cp, slot, res.err, prev, set)
				slots[slot], byIndex[i] = p, p
				continue
			}
			sum := sha256.Sum256(res.mod.Wasm)
			key = pluginKey(cp, hex.EncodeToString(sum[:]))
		}
		store, serr := l.counterStore(cp)
		if serr != nil {
			return nil, nil, nil, fmt.Errorf("plugins[%d] (plugin %q): %w", i, cp.Name, serr)
		}
		if p := set[key]; p != nil {
			byIndex[i] = scoped(p, cp, store)
			if !isBuiltin {
				slots[slot] = p
				l.src.loaded(p, slot, nil) // clears the slot's last load error
			}
			continue
		}
		if prev != nil && prev.Plugins[key] != nil {
			p := prev.Plugins[key]
			set[key], byIndex[i] = p, scoped(p, cp, store)
			if !isBuiltin {
				slots[slot] = p
				l.src.loaded(p, slot, nil)
			}
			continue
		}
		var raw []byte
		if isBuiltin {
			var rerr error
			if raw, rerr = bm.load(); rerr != nil {
				return nil, nil, nil, fmt.Errorf("%s: %w", where, rerr)
			}
		} else {
			raw = res.mod.Wasm
		}
		eng, eerr := l.getEngine()
		if eerr != nil {
			return nil, nil, nil, fmt.Errorf("%s: wasm engine: %w", where, eerr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		mod, cerr := eng.Compile(ctx, cp.Name, raw)
		if cerr != nil {
			cancel()
			if !isBuiltin && res.remote {
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
		set[key], byIndex[i] = p, scoped(p, cp, store)
		if !isBuiltin {
			slots[slot] = p
			l.src.loaded(p, slot, res)
		}
	}
	l.src.prune(slots)
	return byIndex, set, slots, nil
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
		if keep != nil && keep.Plugins[k] == p || p.Wasm == nil {
			continue
		}
		moduleInfos.Delete(p)
		p.Wasm.Close(context.Background())
	}
}
