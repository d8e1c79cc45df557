package config

import "fmt"

// PluginLimits are a wasm plugin's optional resource limits (the Weir
// field "limits" of a plugin entry). Zero values mean the host defaults
// (abi.Default*); every limit is capped so a config cannot switch the
// sandbox off.
type PluginLimits struct {
	// Instances is the size of the plugin's instance pool; 0 means one
	// per CPU (GOMAXPROCS).
	Instances int `json:"instances,omitempty"`
	// MemoryMB caps each instance's linear memory; 0 means 64.
	MemoryMB int `json:"memory_mb,omitempty"`
	// CallTimeoutMS bounds one callback (CPU deadline); 0 means 1000.
	CallTimeoutMS int `json:"call_timeout_ms,omitempty"`
	// StartTimeoutMS bounds one instance's start-up (_initialize,
	// proxy_on_vm_start, proxy_on_configure); 0 means 30000.
	StartTimeoutMS int `json:"start_timeout_ms,omitempty"`
}

// Caps on PluginLimits.
const (
	maxPluginInstances      = 256
	maxPluginMemoryMB       = 1024 // abi.MaxMemoryBytes
	maxPluginCallTimeoutMS  = 60_000
	maxPluginStartTimeoutMS = 600_000
)

// checkPluginLimits reports out-of-range limits, naming the field.
func checkPluginLimits(rep *reporter, l *PluginLimits) {
	if l == nil {
		return
	}
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"limits.instances", l.Instances, maxPluginInstances},
		{"limits.memory_mb", l.MemoryMB, maxPluginMemoryMB},
		{"limits.call_timeout_ms", l.CallTimeoutMS, maxPluginCallTimeoutMS},
		{"limits.start_timeout_ms", l.StartTimeoutMS, maxPluginStartTimeoutMS},
	} {
		if f.v < 0 || f.v > f.limit {
			rep.add(f.name, fmt.Sprintf("%d out of range (0 for the default, at most %d)", f.v, f.limit))
		}
	}
}
