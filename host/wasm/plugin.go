package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/weirproxy/weir/abi"
)

// PluginOptions configures a plugin: a module plus its configuration.
type PluginOptions struct {
	// Name identifies the plugin in logs, errors and the plugin_name
	// property. Required.
	Name string
	// RootID is the plugin_root_id property (Envoy root_id).
	RootID string
	// VMID keys shared data and queues (plugin_vm_id). Plugins with the
	// same VMID share them.
	VMID string
	// VMConfig is passed to proxy_on_vm_start.
	VMConfig []byte
	// Config is passed verbatim to proxy_on_configure.
	Config []byte
	// PoolSize is the number of instances; 0 means GOMAXPROCS.
	PoolSize int
	// MemoryLimitPages caps each instance's memory (64 KiB pages); 0 means
	// abi.DefaultMemoryPages. Capped at abi.MaxMemoryPages.
	MemoryLimitPages uint32
	// CallTimeout bounds one guest callback; 0 means
	// abi.DefaultCallbackDeadline.
	CallTimeout time.Duration
	// StartTimeout bounds the start-up sequence of one instance; 0 means
	// abi.DefaultStartDeadline.
	StartTimeout time.Duration
	// RestartBackoff is the first delay between failed attempts to replace
	// a broken instance; it doubles per failure up to 30s. 0 means 1s (as
	// Envoy's FAIL_RELOAD). The first attempt is immediate.
	RestartBackoff time.Duration
	// FailOpen records the failure policy for the caller: when a stream
	// call returns ErrPluginFailed, skip the plugin (true) or fail the
	// request (false, the default). The host itself does not act on it.
	FailOpen bool
	// Env is the whole WASI environment of the guest (never the host's).
	Env map[string]string
	// Logger receives guest logs and stdout/stderr; nil uses the engine's.
	Logger *slog.Logger
	// Callouts sends proxy_http_call requests; nil makes proxy_http_call
	// answer UNIMPLEMENTED.
	Callouts CalloutDispatcher
}

// maxRestartBackoff caps the delay between replacement attempts.
const maxRestartBackoff = 30 * time.Second

// Plugin is a module with its configuration, run by a pool of started
// instances. Streams are pinned to one instance. A Plugin is safe for
// concurrent use.
type Plugin struct {
	// Traps counts instances that trapped or timed out.
	Traps Counter
	// Timeouts counts the subset of Traps caused by the call deadline.
	Timeouts Counter
	// Restarts counts replacement instances started after a failure.
	Restarts Counter
	// Ticks counts proxy_on_tick calls (every instance).
	Ticks Counter

	e        *Engine
	m        *Module
	opts     PluginOptions
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stubs    sync.Map // import name → struct{}: logged once
	metrics  metrics

	mu        sync.Mutex
	pool      []*instance
	pending   int // replacements in flight
	closed    bool
	onRestart func() // test hook, called after a replacement joined the pool
	// config is the plugin configuration new instances start with:
	// opts.Config until Reconfigure replaces it.
	config []byte
	// tickPeriod is the latest proxy_set_tick_period_milliseconds period
	// (ns) any instance set; see TickPeriod.
	tickPeriod atomic.Int64
}

// NewPlugin starts a plugin: it creates the plugin's runtime (memory
// limit, WASI, env), then PoolSize instances, each running _initialize or
// _start, proxy_on_context_create, proxy_on_vm_start and
// proxy_on_configure. It fails fast on the first instance's error (e.g.
// the plugin rejecting its configuration). Cancelling ctx stops the
// start-up between steps; each instance's start-up is bounded by
// StartTimeout.
func (e *Engine) NewPlugin(ctx context.Context, m *Module, opts PluginOptions) (*Plugin, error) {
	if m == nil {
		return nil, errors.New("wasm: NewPlugin: nil module")
	}
	if opts.Name == "" {
		return nil, errors.New("wasm: NewPlugin: empty plugin name")
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = runtime.GOMAXPROCS(0)
	}
	if opts.MemoryLimitPages == 0 {
		opts.MemoryLimitPages = abi.DefaultMemoryPages
	}
	opts.MemoryLimitPages = min(opts.MemoryLimitPages, abi.MaxMemoryPages)
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = abi.DefaultCallbackDeadline
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = abi.DefaultStartDeadline
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = e.log
	}
	p := &Plugin{e: e, m: m, opts: opts, log: log.With("plugin", opts.Name), config: opts.Config}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.rt = wazero.NewRuntimeWithConfig(ctx, e.runtimeConfig(opts.MemoryLimitPages, m.checked))
	if err := p.setupHost(ctx); err != nil {
		p.cancel()
		_ = p.rt.Close(ctx)
		return nil, err
	}
	for range opts.PoolSize {
		in, err := p.newInstance(ctx)
		if err != nil {
			_ = p.Close(ctx)
			return nil, err
		}
		p.pool = append(p.pool, in)
	}
	return p, nil
}

// setupHost instantiates WASI (also as wasi_unstable) and the env module,
// then compiles the guest in the plugin's runtime (a cache hit).
func (p *Plugin) setupHost(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fmt.Errorf("plugin %q: wasi: %w", p.opts.Name, err)
	}
	b := p.rt.NewHostModuleBuilder(abi.ModuleWASIUnstable)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("plugin %q: %s: %w", p.opts.Name, abi.ModuleWASIUnstable, err)
	}
	if _, err := p.buildEnv().Instantiate(ctx); err != nil {
		return fmt.Errorf("plugin %q: env: %w", p.opts.Name, err)
	}
	cm, err := p.rt.CompileModule(ctx, p.m.wasm)
	if err != nil {
		return fmt.Errorf("plugin %q: compile: %w", p.opts.Name, err)
	}
	p.compiled = cm
	return nil
}

// Name returns the plugin name.
func (p *Plugin) Name() string { return p.opts.Name }

// FailOpen reports the plugin's failure policy (PluginOptions.FailOpen).
func (p *Plugin) FailOpen() bool { return p.opts.FailOpen }

// Healthy returns the number of healthy instances in the pool.
func (p *Plugin) Healthy() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pool)
}

// Close stops the plugin: background work, instances and the runtime.
// Streams still open fail with ErrClosed or ErrPluginFailed.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pool := p.pool
	p.pool = nil
	p.mu.Unlock()
	p.cancel()
	for _, in := range pool {
		in.mu.Lock()
		in.discard()
		in.mu.Unlock()
	}
	p.wg.Wait()
	return p.rt.Close(ctx)
}

// goBackground runs f on a goroutine tracked by Close; it returns false
// (and does not run f) once the plugin is closed.
func (p *Plugin) goBackground(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// replace removes a broken instance from the pool and starts a fresh one
// in the background, retrying with exponential backoff.
func (p *Plugin) replace(broken *instance) {
	p.mu.Lock()
	for i, in := range p.pool {
		if in == broken {
			p.pool = append(p.pool[:i], p.pool[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	p.goBackground(func() {
		delay := time.Duration(0)
		for {
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-p.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			in, err := p.newInstance(p.ctx)
			if err == nil {
				p.mu.Lock()
				if p.closed {
					p.mu.Unlock()
					in.mu.Lock()
					in.discard()
					in.mu.Unlock()
					return
				}
				p.Restarts.inc() // before the pool shows it (TestMemoryPages)
				p.pool = append(p.pool, in)
				hook := p.onRestart
				p.mu.Unlock()
				p.log.Info("wasm plugin instance replaced")
				if hook != nil {
					hook()
				}
				return
			}
			if p.ctx.Err() != nil {
				return
			}
			if delay == 0 {
				delay = p.opts.RestartBackoff
			} else {
				delay = min(2*delay, maxRestartBackoff)
			}
			p.log.Error("wasm plugin instance restart failed", "error", err, "retry_in", delay)
		}
	})
}

// pick returns the healthy instance with the fewest streams and pins one
// stream to it.
func (p *Plugin) pick() (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var best *instance
	for _, in := range p.pool {
		if in.broken.Load() {
			continue
		}
		if best == nil || in.active.Load() < best.active.Load() {
			best = in
		}
	}
	if best == nil {
		return nil, fmt.Errorf("plugin %q: %w: no healthy instance", p.opts.Name, ErrPluginFailed)
	}
	best.active.Add(1)
	return best, nil
}

// isDeadline reports whether err is wazero's deadline-exceeded exit.
func isDeadline(err error) bool {
	var ee *sys.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == sys.ExitCodeDeadlineExceeded
}

// logWriter sends guest stdout (INFO) and stderr (ERROR) to the logger,
// one record per write, trimmed and truncated to abi.MaxLogMessageBytes.
type logWriter struct {
	log *slog.Logger
	err bool
}

func (w *logWriter) Write(b []byte) (int, error) {
	n := len(b)
	if len(b) > abi.MaxLogMessageBytes {
		b = b[:abi.MaxLogMessageBytes]
	}
	msg := strings.TrimRight(string(b), "\n")
	if w.err {
		w.log.Error(msg, "source", "stderr")
	} else {
		w.log.Info(msg, "source", "stdout")
	}
	return n, nil
}

// randReader is crypto/rand for WASI random_get.
type randReader struct{}

func (randReader) Read(b []byte) (int, error) { return rand.Read(b) }

// goBackgroundTracked runs f (which calls p.wg.Done itself) unless the
// plugin is closed.
func (p *Plugin) goBackgroundTracked(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go f()
	return true
}
