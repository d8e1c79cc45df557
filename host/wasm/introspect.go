package wasm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weirproxy/weir/abi"
)

// This file holds accessors that tools observing a plugin need (the
// conformance suite: leak detection, re-configuration, ticks). They are
// not used on the request path.

// MemoryPages returns the linear memory size, in 64 KiB pages
// (abi.WasmPageSize), of each healthy instance in pool order. A growing
// size over many streams on one instance is how a leak shows: wasm memory
// never shrinks. It waits for calls running on each instance.
func (p *Plugin) MemoryPages() []uint32 {
	p.mu.Lock()
	pool := append([]*instance(nil), p.pool...)
	p.mu.Unlock()
	out := make([]uint32, 0, len(pool))
	for _, in := range pool {
		in.mu.Lock()
		if !in.closed && !in.broken.Load() {
			if mem := in.mod.Memory(); mem != nil {
				out = append(out, mem.Size()/abi.WasmPageSize)
			}
		}
		in.mu.Unlock()
	}
	return out
}

// TickPeriod returns the latest period a plugin instance set with
// proxy_set_tick_period_milliseconds (0: none, or ticking disabled).
// Plugin.Ticks counts the proxy_on_tick calls.
func (p *Plugin) TickPeriod() time.Duration { return time.Duration(p.tickPeriod.Load()) }

// Reconfigure runs proxy_on_configure again on the root context of every
// healthy instance with config (as Envoy does when a plugin's
// configuration changes but its VM is kept), and starts later replacement
// instances with it. Weir itself starts a new Plugin on a configuration
// change; the conformance suite uses Reconfigure to check that a plugin
// tolerates the re-run. It fails if an instance traps (the instance is
// replaced, as for any trap) or returns false; instances already
// reconfigured keep the new configuration.
func (p *Plugin) Reconfigure(ctx context.Context, config []byte) error {
	config = append([]byte(nil), config...)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.config = config
	pool := append([]*instance(nil), p.pool...)
	p.mu.Unlock()
	var errs []error
	for _, in := range pool {
		if err := ctx.Err(); err != nil {
			return err
		}
		in.mu.Lock()
		in.config = config
		in.effective = nil
		in.phase = phaseConfigure
		r, ok, err := in.invoke(cbConfigure, rootContextID, uint64(len(config)))
		in.phase = phaseOther
		var buf [4]effect
		effects := in.takeEffects(buf[:0])
		in.mu.Unlock()
		deliver(effects)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok && uint32(r) == 0:
			errs = append(errs, fmt.Errorf("plugin %q rejected its configuration (%s returned false)", p.opts.Name, abi.ExportOnConfigure))
		}
	}
	return errors.Join(errs...)
}
