package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/abi"
)

// Errors returned by this package; test with errors.Is.
var (
	// ErrNotWasm: the bytes do not start with the WebAssembly magic "\0asm".
	ErrNotWasm = errors.New("wasm: not a WebAssembly module (missing \\0asm magic)")
	// ErrNoAllocator: the module exports neither proxy_on_memory_allocate
	// nor malloc, so the host cannot return data to it.
	ErrNoAllocator = errors.New("wasm: module exports neither proxy_on_memory_allocate nor malloc")
	// ErrPluginFailed: the plugin trapped, exceeded its deadline or memory,
	// or has no healthy instance. Apply the plugin's failure policy
	// (Plugin.FailOpen).
	ErrPluginFailed = errors.New("wasm: plugin failed")
	// ErrClosed: the engine, plugin or stream was closed.
	ErrClosed = errors.New("wasm: closed")
)

var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d}

// EngineOptions configures an Engine.
type EngineOptions struct {
	// CacheDir, if set, persists compiled machine code there
	// (wazero.NewCompilationCacheWithDir); "" keeps the cache in memory.
	CacheDir string
	// Logger receives engine and plugin logs; nil discards them.
	Logger *slog.Logger
}

// Engine compiles modules (once per sha256 digest) and creates plugins.
// It also holds the state proxy-wasm shares between plugins: shared data
// and shared queues, keyed by VM ID. An Engine is safe for concurrent use.
type Engine struct {
	log   *slog.Logger
	cache wazero.CompilationCache
	// rt and rtChecked compile modules to validate them and fill the
	// cache: rt instrumented modules (no wazero termination checks),
	// rtChecked the ones instrument cannot handle (wazero's checks, see
	// instrument.go). Each Plugin has its own runtime (per-plugin memory
	// limit and env module) with the same configuration.
	rt, rtChecked wazero.Runtime

	mu      sync.Mutex
	modules map[[32]byte]*Module
	closed  bool

	shared sharedState

	// noInstrument (tests) compiles every module as if instrument had
	// failed, to exercise wazero's termination checks.
	noInstrument bool
}

// NewEngine creates an Engine. Close it to release the compilation cache.
func NewEngine(opts EngineOptions) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %q: %w", opts.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	e := &Engine{
		log:     log,
		cache:   cache,
		modules: make(map[[32]byte]*Module),
	}
	e.shared.init()
	e.rt = wazero.NewRuntimeWithConfig(context.Background(), e.runtimeConfig(abi.MaxMemoryPages, false))
	e.rtChecked = wazero.NewRuntimeWithConfig(context.Background(), e.runtimeConfig(abi.MaxMemoryPages, true))
	return e, nil
}

// runtimeConfig is the configuration of every runtime of the engine: the
// optimizing compiler, the shared cache, a memory limit, and wazero's
// termination checks (context-done closing) only for modules that are not
// instrumented.
func (e *Engine) runtimeConfig(memPages uint32, checked bool) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(e.cache).
		WithCloseOnContextDone(checked).
		WithMemoryLimitPages(memPages)
}

// Close releases the engine's runtime and compilation cache. Close the
// plugins first; modules become unusable.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.modules = nil
	e.mu.Unlock()
	return errors.Join(e.rt.Close(ctx), e.rtChecked.Close(ctx), e.cache.Close(ctx))
}

// Import is one function a module imports.
type Import struct {
	Module, Name    string
	Params, Results []api.ValueType
}

// Module is a compiled, validated proxy-wasm module. It is immutable and
// may back any number of plugins.
type Module struct {
	// Name is the name given to Compile (for logs and errors).
	Name string
	// Digest is the sha256 of the wasm bytes.
	Digest [32]byte
	// ABI is the proxy-wasm ABI version from the proxy_abi_version_* export.
	ABI abi.Version
	// Imports lists the imported functions in declaration order.
	Imports []Import
	// Exports lists the exported function names.
	Exports []string

	// wasm is what plugins instantiate: the instrumented module, or the
	// original bytes when checked.
	wasm     []byte
	compiled wazero.CompiledModule
	exports  map[string]struct{}
	// checked: not instrumented; run under wazero's termination checks.
	checked bool
	// hasStart: the start section became the startFuncExport export.
	hasStart bool
	// noops are the exported functions whose bodies have no effect
	// (noop.go); instances skip such callbacks.
	noops map[string]noop
}

// Instrumented reports whether the module runs with Weir's deadline
// instrumentation (the normal case) rather than wazero's slower
// termination checks (a module the instrumentation could not rewrite).
func (m *Module) Instrumented() bool { return !m.checked }

// DigestHex returns the digest as lower-case hex.
func (m *Module) DigestHex() string { return hex.EncodeToString(m.Digest[:]) }

// Exported reports whether the module exports a function named name.
func (m *Module) Exported(name string) bool { _, ok := m.exports[name]; return ok }

// Compile validates and compiles wasm. Modules are cached by sha256 digest:
// compiling the same bytes again returns the same *Module (with the name of
// the first compile). Errors name the module and wrap ErrNotWasm,
// ErrNoAllocator or the abi version errors (abi.ErrNoABIVersion, …).
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	if !bytes.HasPrefix(wasm, wasmMagic) {
		return nil, fmt.Errorf("wasm: module %q: %w", name, ErrNotWasm)
	}
	digest := sha256.Sum256(wasm)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if m, ok := e.modules[digest]; ok {
		e.mu.Unlock()
		return m, nil
	}
	e.mu.Unlock()

	// Compile outside the lock: it can take seconds for large modules.
	m, err := e.compile(ctx, name, digest, wasm)
	if err != nil {
		return nil, err
	}
	cm := m.compiled
	for n := range cm.ExportedFunctions() {
		if n == startFuncExport && m.hasStart {
			continue
		}
		m.Exports = append(m.Exports, n)
		m.exports[n] = struct{}{}
	}
	sortStrings(m.Exports)
	for _, f := range cm.ImportedFunctions() {
		mod, n, _ := f.Import()
		m.Imports = append(m.Imports, Import{Module: mod, Name: n, Params: f.ParamTypes(), Results: f.ResultTypes()})
	}
	if m.ABI, err = abi.DetectVersion(m.Exports); err != nil {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	if !m.Exported(abi.ExportOnMemoryAllocate) && !m.Exported(abi.ExportMalloc) {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("wasm: module %q: %w", name, ErrNoAllocator)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		_ = cm.Close(ctx)
		return nil, ErrClosed
	}
	if prev, ok := e.modules[digest]; ok { // lost a race: keep the first
		_ = cm.Close(ctx)
		return prev, nil
	}
	e.modules[digest] = m
	return m, nil
}

// compile instruments and compiles wasm, falling back to the original
// bytes under wazero's termination checks when the instrumentation fails
// or produces a module wazero rejects.
func (e *Engine) compile(ctx context.Context, name string, digest [32]byte, wasm []byte) (*Module, error) {
	m := &Module{Name: name, Digest: digest, exports: make(map[string]struct{}), noops: noopExports(wasm)}
	ins, ierr := instrument(wasm)
	if e.noInstrument {
		ierr = fmt.Errorf("%w: disabled", errInstrument)
	}
	if ierr == nil {
		cm, err := e.rt.CompileModule(ctx, ins.wasm)
		if err == nil {
			m.wasm, m.compiled, m.hasStart = ins.wasm, cm, ins.hasStart
			return m, nil
		}
		ierr = fmt.Errorf("%w: compiling the instrumented module: %w", errInstrument, err)
	}
	own := bytes.Clone(wasm)
	cm, err := e.rtChecked.CompileModule(ctx, own)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: compile: %w", name, err)
	}
	e.log.Warn("wasm module not instrumented; using wazero's slower termination checks",
		"module", name, "reason", ierr)
	m.wasm, m.compiled, m.checked = own, cm, true
	return m, nil
}

// Counter is a monotonically increasing count, safe for concurrent use.
type Counter struct{ v atomic.Uint64 }

// Load returns the current count.
func (c *Counter) Load() uint64 { return c.v.Load() }

func (c *Counter) inc() { c.v.Add(1) }
