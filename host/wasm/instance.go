package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/abi"
)

// callback indexes the guest exports the host calls.
type callback int

const (
	cbContextCreate callback = iota
	cbVMStart
	cbConfigure
	cbDone
	cbLog
	cbDelete
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbTick
	cbQueueReady
	cbHTTPCallResponse
	numCallbacks
)

var callbackNames = [numCallbacks]string{
	abi.ExportOnContextCreate, abi.ExportOnVMStart, abi.ExportOnConfigure,
	abi.ExportOnDone, abi.ExportOnLog, abi.ExportOnDelete,
	abi.ExportOnRequestHeaders, abi.ExportOnRequestBody, abi.ExportOnRequestTrailers,
	abi.ExportOnResponseHeaders, abi.ExportOnResponseBody, abi.ExportOnResponseTrailers,
	abi.ExportOnTick, abi.ExportOnQueueReady, abi.ExportOnHTTPCallResponse,
}

// phase tells host functions which start-up callback is running (for the
// 0.1.0 proxy_get_configuration).
type phase uint8

const (
	phaseOther phase = iota
	phaseVMStart
	phaseConfigure
)

type effectKind uint8

const (
	effectContinue effectKind = iota + 1
	effectClose
	effectLocalResponse
)

// effect is a stream effect requested by the guest during a call and
// delivered to the StreamHost after the call returns.
type effect struct {
	kind effectKind
	// stream identifies the requesting stream during the call; host is
	// captured with it, so a delivery after Done (and a reuse of the
	// HTTPStream's storage) cannot reach another request's host.
	stream *HTTPStream
	host   StreamHost
	st     abi.StreamType
	lr     *localResponse
}

type localResponse struct {
	status     int
	details    string
	body       []byte
	headers    [][2]string
	grpcStatus int32
}

// calloutResult is the HTTP callout response being delivered.
type calloutResult struct {
	resp CalloutResponse
}

// skippable reports whether a call of callback cb whose body is the
// no-op nf has the result the host assumes when cb is not exported:
// nothing for the void stream callbacks, true for proxy_on_done and
// Continue for the HTTP callbacks. Start-up and root callbacks are always
// called.
func skippable(cb callback, nf noop) bool {
	switch cb {
	case cbContextCreate, cbLog, cbDelete:
		return !nf.hasResult
	case cbDone:
		return nf.hasResult && nf.result != 0
	case cbRequestHeaders, cbRequestBody, cbRequestTrailers,
		cbResponseHeaders, cbResponseBody, cbResponseTrailers:
		return nf.hasResult && nf.result == int32(abi.ActionContinue)
	}
	return false
}

// instKey is the context key of the instance (see callContext).
type instKey struct{}

// instance is one wasm module instance of a plugin with its root context.
// Guest calls are serialized by mu; every field below mu is guarded by it.
type instance struct {
	p     *Plugin
	mod   api.Module
	ctx   *callContext // the context of every guest call
	wd    *watchdog
	stop  api.MutableGlobal // the stop flag of an instrumented module
	fns   [numCallbacks]api.Function
	alloc api.Function
	abi   abi.Version

	active atomic.Int32 // pinned streams
	broken atomic.Bool
	done   chan struct{} // closed when the instance is discarded

	mu         sync.Mutex
	stack      [16]uint64 // params and results of one call (≥ any callback's)
	allocStack [1]uint64
	rootID     uint32
	nextID     uint32
	streams    map[uint32]*HTTPStream
	effective  *HTTPStream // nil: the root context
	phase      phase
	fault      error // set by a host function when the guest allocator failed
	effects    []effect
	scratch    []byte
	strs       strCache
	segs       []string // property path segments (hGetProperty, hSetProperty)
	callout    *calloutResult
	nextToken  uint32
	tickCh     chan time.Duration
	closed     bool
	// config is the plugin configuration this instance was configured
	// with (PLUGIN_CONFIGURATION; see Plugin.Reconfigure).
	config []byte
	// configErr is the last error the guest logged while configuring.
	configErr string
}

// rootContextID is the root context id of every instance (one root per
// instance); stream ids start after it.
const rootContextID = 1

func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	in := &instance{
		p:       p,
		abi:     p.m.ABI,
		rootID:  rootContextID,
		nextID:  rootContextID,
		streams: make(map[uint32]*HTTPStream),
		done:    make(chan struct{}),
	}
	in.strs.init()
	p.mu.Lock()
	in.config = p.config
	p.mu.Unlock()
	in.ctx = &callContext{in: in}
	checked := p.m.checked
	if checked {
		in.ctx.done = make(chan struct{})
	}
	in.wd = newWatchdog(in.onDeadline)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&logWriter{log: p.log, err: false}).
		WithStderr(&logWriter{log: p.log, err: true}).
		WithRandSource(randReader{}).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep()
	for k, v := range p.opts.Env {
		cfg = cfg.WithEnv(k, v)
	}
	// One deadline covers instantiation and the whole start sequence. An
	// instrumented module runs no guest code while it is instantiated
	// (its start section became startFuncExport), and its stop flag only
	// exists afterwards; a checked one may run its start function.
	var token uint64
	if checked {
		token, _ = in.wd.arm(p.opts.StartTimeout)
	}
	mod, err := p.rt.InstantiateModule(in.ctx, p.compiled, cfg)
	if err != nil {
		if checked && in.wd.disarm(token) {
			err = deadlineError(p.opts.StartTimeout, err)
		}
		in.wd.stop()
		return nil, fmt.Errorf("plugin %q: instantiate: %w", p.opts.Name, err)
	}
	in.mod = mod
	if !checked {
		g, ok := mod.ExportedGlobal(stopGlobalExport).(api.MutableGlobal)
		if !ok {
			in.wd.stop()
			_ = mod.Close(context.Background())
			return nil, fmt.Errorf("plugin %q: instantiate: instrumented module lacks %s", p.opts.Name, stopGlobalExport)
		}
		in.stop = g
		token, _ = in.wd.arm(p.opts.StartTimeout)
	}
	for i, n := range callbackNames {
		if nf, ok := p.m.noops[n]; ok && skippable(callback(i), nf) {
			continue // as if not exported: the same result, no call
		}
		in.fns[i] = mod.ExportedFunction(n)
	}
	if in.alloc = mod.ExportedFunction(abi.ExportOnMemoryAllocate); in.alloc == nil {
		in.alloc = mod.ExportedFunction(abi.ExportMalloc)
	}
	err = in.start(ctx)
	if in.wd.disarm(token) {
		err = fmt.Errorf("plugin %q: start: %w: %w", p.opts.Name, ErrPluginFailed, deadlineError(p.opts.StartTimeout, err))
	}
	if err != nil {
		in.wd.stop()
		_ = mod.Close(context.Background())
		return nil, err
	}
	return in, nil
}

// onDeadline is the watchdog's action when a call overruns: raise the
// stop flag (the guest traps at its next check) or, for a checked
// module, cancel the call context (wazero closes the module).
func (in *instance) onDeadline() {
	if in.stop != nil {
		in.stop.Set(1)
	}
	if in.ctx.done != nil {
		close(in.ctx.done)
	}
}

// deadlineError is the error of a call that overran its deadline; err is
// what the call returned (wazero's stack trace where the guest stopped),
// possibly nil when the call returned just as the deadline fired.
func deadlineError(limit time.Duration, err error) error {
	if err == nil {
		return fmt.Errorf("call deadline %v exceeded: %w", limit, context.DeadlineExceeded)
	}
	return fmt.Errorf("call deadline %v exceeded: %w; guest stopped: %w", limit, context.DeadlineExceeded, err)
}

// start runs the start-up sequence: the former start section, then
// _initialize (then main) or _start, then proxy_on_context_create(root,
// 0), proxy_on_vm_start and proxy_on_configure. The caller has armed the
// watchdog. ctx only cancels it between steps.
func (in *instance) start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	name := in.p.opts.Name
	call := func(fn string, args ...uint64) (uint64, bool, error) {
		if err := ctx.Err(); err != nil {
			return 0, false, fmt.Errorf("plugin %q: %s: %w", name, fn, err)
		}
		f := in.mod.ExportedFunction(fn)
		if f == nil {
			return 0, false, nil
		}
		n := copy(in.stack[:], args)
		clear(in.stack[n:])
		in.fault = nil
		err := f.CallWithStack(in.ctx, in.stack[:])
		if err == nil && in.fault != nil {
			err = in.fault
		}
		if err != nil {
			return 0, true, fmt.Errorf("plugin %q: %s failed: %w: %w", name, fn, ErrPluginFailed, err)
		}
		return in.stack[0], true, nil
	}
	if in.p.m.hasStart {
		if _, _, err := call(startFuncExport); err != nil {
			return err
		}
	}
	if in.mod.ExportedFunction(abi.ExportInitialize) != nil {
		if _, _, err := call(abi.ExportInitialize); err != nil {
			return err
		}
		if f := in.mod.ExportedFunction(abi.ExportMain); f != nil && len(f.Definition().ParamTypes()) == 2 {
			if _, _, err := call(abi.ExportMain, 0, 0); err != nil {
				return err
			}
		}
	} else if _, _, err := call(abi.ExportStart); err != nil {
		return err
	}
	if err := in.declaredCallbacks(call); err != nil {
		return err
	}
	if _, _, err := call(abi.ExportOnContextCreate, rootContextID, 0); err != nil {
		return err
	}
	in.phase = phaseVMStart
	r, ok, err := call(abi.ExportOnVMStart, rootContextID, uint64(len(in.p.opts.VMConfig)))
	in.phase = phaseOther
	if err != nil {
		return err
	}
	if ok && uint32(r) == 0 {
		return fmt.Errorf("plugin %q rejected its VM configuration (%s returned false)", name, abi.ExportOnVMStart)
	}
	in.phase = phaseConfigure
	r, ok, err = call(abi.ExportOnConfigure, rootContextID, uint64(len(in.config)))
	in.phase = phaseOther
	if err != nil {
		return err
	}
	if ok && uint32(r) == 0 {
		if in.configErr != "" {
			return fmt.Errorf("plugin %q rejected its configuration: %s", name, in.configErr)
		}
		return fmt.Errorf("plugin %q rejected its configuration (%s returned false)", name, abi.ExportOnConfigure)
	}
	return nil
}

// declaredCallbacks applies the plugin's weir_implemented_callbacks (a
// Weir extension, abi.ExportWeirImplementedCallbacks): the per-stream
// callbacks it leaves out are not called. An export of another signature
// is ignored, as other hosts ignore it.
func (in *instance) declaredCallbacks(call func(string, ...uint64) (uint64, bool, error)) error {
	f := in.mod.ExportedFunction(abi.ExportWeirImplementedCallbacks)
	if f == nil {
		return nil
	}
	d := f.Definition()
	if len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 1 || d.ResultTypes()[0] != api.ValueTypeI32 {
		return nil
	}
	r, _, err := call(abi.ExportWeirImplementedCallbacks)
	if err != nil {
		return err
	}
	set := abi.CallbackSet(uint32(r))
	for bit, name := range abi.CallbackSetExports {
		if set&bit == 0 {
			in.fns[callbackByName[name]] = nil
		}
	}
	return nil
}

// callbackByName is the callback of each export name.
var callbackByName = func() map[string]callback {
	m := make(map[string]callback, len(callbackNames))
	for i, n := range callbackNames {
		m[n] = callback(i)
	}
	return m
}()

// invoke calls callback cb with args under the plugin's per-call deadline.
// The caller holds in.mu. exported is false (and err nil) when the guest
// does not export cb. A trap or timeout marks the instance broken and
// returns an error wrapping ErrPluginFailed. It allocates nothing.
func (in *instance) invoke(cb callback, args ...uint64) (res uint64, exported bool, err error) {
	return in.invokeFn(in.fns[cb], callbackNames[cb], args...)
}

// invokeFn is invoke for guest function f (nil: not exported) named name,
// with at most len(in.stack) parameters.
func (in *instance) invokeFn(f api.Function, name string, args ...uint64) (res uint64, exported bool, err error) {
	if in.closed || in.broken.Load() {
		return 0, false, in.brokenError()
	}
	if f == nil {
		return 0, false, nil
	}
	n := copy(in.stack[:], args)
	clear(in.stack[n:])
	in.fault = nil
	limit := in.p.opts.CallTimeout
	token, ok := in.wd.arm(limit)
	if !ok {
		return 0, false, in.brokenError()
	}
	err = f.CallWithStack(in.ctx, in.stack[:])
	if in.wd.disarm(token) {
		err = deadlineError(limit, err)
	} else if err == nil && in.fault != nil {
		err = in.fault
	}
	if err != nil {
		in.fail(name, err)
		return 0, true, fmt.Errorf("plugin %q: %s: %w: %w", in.p.opts.Name, name, ErrPluginFailed, err)
	}
	return in.stack[0], true, nil
}

func (in *instance) brokenError() error {
	return fmt.Errorf("plugin %q: %w: instance is broken", in.p.opts.Name, ErrPluginFailed)
}

// fail marks the instance broken (caller holds in.mu), counts it, logs
// the guest error (with wazero's stack trace) and has the plugin replace it.
func (in *instance) fail(fn string, err error) {
	if in.broken.Swap(true) {
		return
	}
	in.p.Traps.inc()
	if in.wd.fired() || errors.Is(err, context.DeadlineExceeded) || isDeadline(err) {
		in.p.Timeouts.inc()
	}
	in.p.log.Error("wasm plugin instance failed; replacing it", "function", fn, "error", err) // p.log names the plugin
	in.discard()
	in.p.replace(in)
}

// live reports, without the lock, that the instance is neither broken
// nor discarded: a callback it does not export then answers the default
// without a call. (It may break right after; the caller's result is then
// the one it would have had just before.)
func (in *instance) live() bool {
	if in.broken.Load() {
		return false
	}
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// discard closes the module and stops the instance's timers (caller holds
// in.mu).
func (in *instance) discard() {
	if in.closed {
		return
	}
	in.closed = true
	close(in.done)
	in.wd.stop()
	in.p.e.shared.forget(in)
	_ = in.mod.Close(context.Background())
}

// takeEffects returns the pending effects, copied into buf when they fit
// (caller holds in.mu), and resets the list.
func (in *instance) takeEffects(buf []effect) []effect {
	buf = append(buf, in.effects...)
	clear(in.effects)
	in.effects = in.effects[:0]
	return buf
}

// deliver sends effects to their streams' hosts. Called without in.mu so
// a host may call back into the stream.
func deliver(effects []effect) {
	for i := range effects {
		e := &effects[i]
		h := e.host
		switch e.kind {
		case effectContinue:
			h.ContinueStream(e.st)
		case effectClose:
			h.CloseStream(e.st)
		case effectLocalResponse:
			h.SendLocalResponse(e.lr.status, e.lr.details, e.lr.body, e.lr.headers, e.lr.grpcStatus)
		}
		e.stream.deliveries.Add(-1)
	}
}

// drop discards effects that will not be delivered (the guest call
// failed, or the stream ended first).
func drop(effects []effect) {
	for i := range effects {
		effects[i].stream.deliveries.Add(-1)
	}
}

// allocate calls the guest allocator for size (> 0) bytes.
func (in *instance) allocate(ctx context.Context, size uint32) (uint32, bool) {
	in.allocStack[0] = uint64(size)
	if err := in.alloc.CallWithStack(ctx, in.allocStack[:]); err != nil {
		in.fault = fmt.Errorf("guest allocator: %w", err)
		return 0, false
	}
	ptr := uint32(in.allocStack[0])
	return ptr, ptr != 0
}

// copyOut hands data to the guest: it allocates len(data) bytes with the
// guest allocator, copies data in and writes (ptr, len) to the two
// out-pointers. Empty data writes (0, 0) without allocating.
func (in *instance) copyOut(ctx context.Context, mem api.Memory, data []byte, retPtr, retSize uint32) abi.Status {
	if !inBounds(mem, retPtr, 4) || !inBounds(mem, retSize, 4) {
		return abi.StatusInvalidMemoryAccess
	}
	if len(data) == 0 {
		if !mem.WriteUint32Le(retPtr, 0) || !mem.WriteUint32Le(retSize, 0) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}
	if uint64(len(data)) > abi.MaxMemoryBytes {
		return abi.StatusBadArgument
	}
	ptr, ok := in.allocate(ctx, uint32(len(data)))
	if !ok {
		return abi.StatusInternalFailure
	}
	if !mem.Write(ptr, data) || !mem.WriteUint32Le(retPtr, ptr) || !mem.WriteUint32Le(retSize, uint32(len(data))) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func inBounds(mem api.Memory, ptr, size uint32) bool {
	return uint64(ptr)+uint64(size) <= uint64(mem.Size())
}

// tickLoop runs proxy_on_tick on the root context every period until the
// instance is discarded. Periods arrive on in.tickCh (0 stops ticking).
func (in *instance) tickLoop() {
	defer in.p.wg.Done()
	var t *time.Ticker
	var c <-chan time.Time
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		select {
		case <-in.done:
			return
		case <-in.p.ctx.Done():
			return
		case d := <-in.tickCh:
			if t != nil {
				t.Stop()
				t, c = nil, nil
			}
			if d > 0 {
				t = time.NewTicker(d)
				c = t.C
			}
		case <-c:
			in.rootCall(cbTick, rootContextID)
			in.p.Ticks.inc()
		}
	}
}

// rootCall calls a root-context callback from a background goroutine
// (ticks, queues, callouts) and delivers the resulting effects.
func (in *instance) rootCall(cb callback, args ...uint64) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.effective = nil
	_, _, err := in.invoke(cb, args...)
	in.effective = nil
	var buf [4]effect
	effects := in.takeEffects(buf[:0])
	in.mu.Unlock()
	if err != nil {
		drop(effects)
		return
	}
	deliver(effects)
}
