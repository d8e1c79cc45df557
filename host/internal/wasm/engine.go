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
	// rt compiles modules to validate them and fill the cache; each Plugin
	// has its own runtime (per-plugin memory limit and env module).
	rt wazero.Runtime

	mu      sync.Mutex
	modules map[[32]byte]*Module
	closed  bool

	shared sharedState
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
	e.rt = wazero.NewRuntimeWithConfig(context.Background(), e.runtimeConfig(abi.MaxMemoryPages))
	return e, nil
}

// runtimeConfig is the configuration of every runtime of the engine: the
// optimizing compiler, the shared cache, context-done closing (deadlines),
// and a memory limit.
func (e *Engine) runtimeConfig(memPages uint32) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(e.cache).
		WithCloseOnContextDone(true).
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
	return errors.Join(e.rt.Close(ctx), e.cache.Close(ctx))
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

	wasm     []byte
	compiled wazero.CompiledModule
	exports  map[string]struct{}
}

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
	own := bytes.Clone(wasm)
	cm, err := e.rt.CompileModule(ctx, own)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: compile: %w", name, err)
	}
	m := &Module{Name: name, Digest: digest, wasm: own, compiled: cm, exports: make(map[string]struct{})}
	for n := range cm.ExportedFunctions() {
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

// Counter is a monotonically increasing count, safe for concurrent use.
type Counter struct{ v atomic.Uint64 }

// Load returns the current count.
func (c *Counter) Load() uint64 { return c.v.Load() }

func (c *Counter) inc() { c.v.Add(1) }
