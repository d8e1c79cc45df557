package host

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/counters"
	"github.com/weirproxy/weir/host/internal/proxy"
	builtins "github.com/weirproxy/weir/plugins-src"
)

// builtinModule is a resolved built-in plugin module: its digest (the
// reuse key) and the embedded plugin, decompressed only when it must be
// compiled.
type builtinModule struct {
	digest  string
	builtin *builtins.Plugin
}

func (m builtinModule) load() ([]byte, error) { return m.builtin.Module() }

// resolveBuiltin finds the built-in an entry names (ok false when the
// name is not a built-in): its config is checked against the plugin's
// schema and its scope against no_consumer. Errors name the entry's field.
func resolveBuiltin(cp *config.Plugin) (m builtinModule, ok bool, err error) {
	bp, ok := builtins.Lookup(cp.Name)
	if !ok {
		return builtinModule{}, false, nil
	}
	if cp.Consumer != "" && bp.Manifest.NoConsumer {
		return builtinModule{}, true, fmt.Errorf("consumer: plugin %q cannot be scoped to a consumer (as in Kong)", cp.Name)
	}
	if err := bp.ValidateConfig(cp.Config); err != nil {
		return builtinModule{}, true, err
	}
	d, err := bp.Digest()
	if err != nil {
		return builtinModule{}, true, fmt.Errorf("name: built-in module: %w", err)
	}
	return builtinModule{digest: d, builtin: bp}, true, nil
}

// pluginPriority is the entry's priority, else the built-in's Kong
// priority, else 0.
func pluginPriority(cp *config.Plugin) int {
	if cp.Priority != nil {
		return *cp.Priority
	}
	if bp, ok := builtins.Lookup(cp.Name); ok {
		return bp.Manifest.Priority
	}
	return 0
}

// scoped returns the per-entry view of a running plugin: the same wasm
// plugin, with the entry's scope (which namespaces its counters, as Kong
// keys rate-limiting counters by the plugin's route and service).
func scoped(p *proxy.Plugin, cp *config.Plugin, store counters.Store) *proxy.Plugin {
	return &proxy.Plugin{Name: p.Name, Wasm: p.Wasm, FailOpen: p.FailOpen, Unavailable: p.Unavailable,
		Metrics: p.Metrics, Scope: cp.Route + "|" + cp.Service, Counters: store}
}

// localCounters returns the loader's in-memory counter store.
func (l *pluginLoader) localCounters() *counters.Local {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local == nil {
		l.local = counters.NewLocal()
	}
	return l.local
}

// counterConfig is the part of a plugin config that selects its counter
// store, in Kong's rate-limiting shape: policy "redis" with a redis
// object, or the deprecated flat redis_* fields.
type counterConfig struct {
	Policy string `json:"policy"`
	Redis  *struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Username string `json:"username"`
		Password string `json:"password"`
		Database int    `json:"database"`
		Timeout  int    `json:"timeout"`
	} `json:"redis"`
	RedisHost     string `json:"redis_host"`
	RedisPort     int    `json:"redis_port"`
	RedisUsername string `json:"redis_username"`
	RedisPassword string `json:"redis_password"`
	RedisDatabase int    `json:"redis_database"`
	RedisTimeout  int    `json:"redis_timeout"`
}

// counterStore picks the counter store of a plugin entry: Redis for
// policy "redis" (Kong's cluster-wide policy; one client per connection
// settings), else the loader's local store. Other plugins ignore it.
func (l *pluginLoader) counterStore(cp *config.Plugin) (counters.Store, error) {
	local := l.localCounters()
	if len(cp.Config) == 0 {
		return local, nil
	}
	var cc counterConfig
	if json.Unmarshal(cp.Config, &cc) != nil || cc.Policy != "redis" {
		return local, nil
	}
	o := counters.RedisOptions{}
	host, port, timeout := cc.RedisHost, cc.RedisPort, cc.RedisTimeout
	o.Username, o.Password, o.Database = cc.RedisUsername, cc.RedisPassword, cc.RedisDatabase
	if r := cc.Redis; r != nil && r.Host != "" {
		host, port, timeout = r.Host, r.Port, r.Timeout
		o.Username, o.Password, o.Database = r.Username, r.Password, r.Database
	}
	if host == "" {
		return nil, fmt.Errorf("config.redis.host: required when config.policy is redis")
	}
	if port == 0 {
		port = 6379
	}
	if timeout == 0 {
		timeout = 2000
	}
	o.Address = net.JoinHostPort(host, strconv.Itoa(port))
	o.Timeout = time.Duration(timeout) * time.Millisecond
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%d", o.Address, o.Username, o.Password, o.Database, timeout)))
	k := hex.EncodeToString(h[:])
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.redis[k]; r != nil {
		return r, nil
	}
	if l.redis == nil {
		l.redis = map[string]*counters.Redis{}
	}
	r := counters.NewRedis(o)
	l.redis[k] = r
	return r, nil
}
