package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
	"github.com/weirproxy/weir/host/wasm"
)

// Options configures a conformance run. The zero value is usable: the
// plugin gets an empty configuration and no scenario is checked.
type Options struct {
	// Name names the module in the report (e.g. its file name).
	Name string
	// Config is the plugin configuration for the whole run (module.start,
	// lifecycle, robustness). nil: the first scenario file's config.
	Config []byte
	// InvalidConfig, if set, is a configuration the plugin must refuse
	// (module.rejects-invalid-config). nil: the first scenario file's
	// invalid_config.
	InvalidConfig []byte
	// Scenarios are the parsed scenario files (LoadScenarios).
	Scenarios []*ScenarioFile
	// Streams scales the stream-count checks: lifecycle.sequential and
	// robustness.random-inputs run Streams streams, robustness.memory-leak
	// Streams warm-up streams then LeakBatches batches of Streams. 0 means
	// 32.
	Streams int
	// LatencyBudget is the p99 budget of one callback (robustness.latency).
	// 0 means 10ms.
	LatencyBudget time.Duration
	// ResumeTimeout bounds how long a paused stream waits for
	// proxy_continue_stream. 0 means 2s.
	ResumeTimeout time.Duration
	// CallTimeout is the per-callback deadline (a longer call traps). 0
	// means abi.DefaultCallbackDeadline.
	CallTimeout time.Duration
	// TickWait bounds how long lifecycle.tick waits for two ticks. 0
	// means 2s.
	TickWait time.Duration
	// Seed seeds the random inputs; 0 means 1 (runs are reproducible).
	Seed int64
	// CacheDir, if set, keeps compiled modules on disk between runs.
	CacheDir string
	// FailRecommended makes Run report failed recommended checks as test
	// errors too (by default they are logged).
	FailRecommended bool
}

// LeakBatches is the number of measured batches of robustness.memory-leak;
// the check fails when memory grows in at least LeakGrowthBatches of them.
const (
	LeakBatches       = 6
	LeakGrowthBatches = 4
)

func (o *Options) defaults() error {
	if o.Streams < 0 || o.LatencyBudget < 0 || o.ResumeTimeout < 0 || o.CallTimeout < 0 || o.TickWait < 0 {
		return errors.New("conformance: Options: Streams, LatencyBudget, ResumeTimeout, CallTimeout and TickWait must not be negative")
	}
	if o.Name == "" {
		o.Name = "plugin.wasm"
	}
	if o.Streams == 0 {
		o.Streams = 32
	}
	if o.LatencyBudget == 0 {
		o.LatencyBudget = 10 * time.Millisecond
	}
	if o.ResumeTimeout == 0 {
		o.ResumeTimeout = 2 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = abi.DefaultCallbackDeadline
	}
	if o.TickWait == 0 {
		o.TickWait = 2 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	for _, f := range o.Scenarios {
		if f == nil {
			return errors.New("conformance: Options.Scenarios: nil scenario file")
		}
		if o.Config == nil {
			o.Config = configBytes(f.Config)
		}
		if o.InvalidConfig == nil {
			o.InvalidConfig = configBytes(f.InvalidConfig)
		}
	}
	seen := map[string]string{}
	for _, f := range o.Scenarios {
		for _, s := range f.Scenarios {
			if prev, ok := seen[s.Name]; ok {
				return fmt.Errorf("conformance: scenario %q is defined in %s and %s", s.Name, prev, f.path)
			}
			seen[s.Name] = f.path
		}
	}
	return nil
}

// CheckInfo describes one check of the catalog.
type CheckInfo struct {
	ID          string
	Group       string
	Description string
	Severity    Severity
}

// ScenarioCheckPrefix starts the id of the check of each scenario:
// http.scenario.<name>.
const ScenarioCheckPrefix = "http.scenario."

// catalog lists the checks in report order (scenario checks follow
// http.scenarios).
var catalog = []CheckInfo{
	{"module.valid-wasm", "module", "The file is a WebAssembly binary module that compiles.", Required},
	{"module.abi-version", "module", "Exactly one proxy_abi_version_* export names a supported ABI version (0.1.0, 0.2.0, 0.2.1).", Required},
	{"module.required-exports", "module", "An allocator (proxy_on_memory_allocate or malloc) is exported, every exported proxy_on_* callback has the signature its ABI version defines, and proxy_on_context_create is exported.", Required},
	{"module.imports", "module", "Every import can be satisfied: proxy-wasm host functions with the right signature, WASI; other env imports are stubbed (listed) and answer UNIMPLEMENTED.", Required},
	{"module.memory-export", "module", "The module exports its linear memory as \"memory\" (the host reads and writes guest data through it).", Required},
	{"module.start", "module", "The start sequence (_initialize/_start, proxy_on_context_create(root), proxy_on_vm_start, proxy_on_configure) succeeds with the given configuration.", Required},
	{"module.rejects-invalid-config", "module", "Given an invalid configuration, proxy_on_configure returns false (a clean refusal, not a trap).", Recommended},
	{"module.instrumented", "module", "Weir could instrument the module for its cheap per-callback deadline checks.", Informational},
	{"lifecycle.stream-order", "lifecycle", "One stream through every phase in order (context create, request headers/body/trailers, response headers/body/trailers, done, log, delete) completes without a trap.", Required},
	{"lifecycle.sequential", "lifecycle", "Many streams one after another on one instance complete without a trap.", Required},
	{"lifecycle.interleaved", "lifecycle", "Several streams open at once on one instance, their callbacks interleaved and finished out of order, complete without a trap.", Required},
	{"lifecycle.reconfigure", "lifecycle", "proxy_on_configure runs again on a live instance (as Envoy does on a config change) and streams still work.", Recommended},
	{"lifecycle.tick", "lifecycle", "When the plugin sets a tick period, proxy_on_tick runs repeatedly without a trap.", Required},
	{"http.scenarios", "http", "At least one behaviour scenario was given (each runs as its own http.scenario.<name> check).", Informational},
	{"robustness.random-inputs", "robustness", "Streams with random headers, bodies, chunking, statuses and trailers (seeded) complete without a trap.", Required},
	{"robustness.oversized", "robustness", "Very large inputs (100 headers of 8 KiB, a 64 KiB header, 1 MiB bodies) complete without a trap.", Required},
	{"robustness.empty", "robustness", "Empty inputs (no body, an empty body, only pseudo-headers, empty header values) complete without a trap.", Required},
	{"robustness.chunked", "robustness", "Bodies in many 1-byte chunks (1000 per direction) complete without a trap.", Required},
	{"robustness.non-utf8", "robustness", "Header values and bodies with non-UTF-8 and NUL bytes complete without a trap.", Required},
	{"robustness.memory-leak", "robustness", "Instance memory does not keep growing over many streams (a leak per stream shows as growth in most batches).", Required},
	{"robustness.latency", "robustness", "Each callback's p99 latency is within the budget.", Recommended},
	{"portability.weir-extensions", "portability", "The plugin uses no Weir-only extension (weir.* foreign functions or properties); such plugins run only in Weir.", Informational},
	{"portability.envoy-only", "portability", "The plugin uses no Envoy-only foreign function or callback that Weir answers with UNIMPLEMENTED or never calls.", Informational},
	{"portability.abi-0.1.0", "portability", "The plugin uses no ABI 0.1.0-only host function (removed in 0.2.0) and does not target ABI 0.1.0.", Informational},
}

// Catalog returns the static checks in report order. Each scenario adds
// one more check, http.scenario.<name> (required).
func Catalog() []CheckInfo { return append([]CheckInfo(nil), catalog...) }

func lookup(id string) CheckInfo {
	for _, c := range catalog {
		if c.ID == id {
			return c
		}
	}
	return CheckInfo{ID: id, Group: "http", Severity: Required}
}

// run is one Check in progress.
type run struct {
	ctx    context.Context
	opts   Options
	module []byte
	bin    *wasmbin.Module
	eng    *wasm.Engine
	mod    *wasm.Module
	main   *harness
	lat    *latencies

	results map[string]Result
	order   []string // scenario check ids in order
	// skipWhy is the evidence for checks never run.
	skipWhy string

	ffCalls   map[string]bool
	propsRead map[string]bool
}

func (r *run) set(id string, v Verdict, evidence string, d time.Duration) {
	info := lookup(id)
	r.results[id] = Result{ID: id, Group: info.Group, Description: info.Description, Severity: info.Severity, Verdict: v, Evidence: evidence, Duration: d}
}

// timed runs f and records its result for id.
func (r *run) timed(id string, f func() (Verdict, string)) {
	t0 := time.Now()
	v, ev := f()
	r.set(id, v, ev, time.Since(t0))
}

// Check runs the whole suite against module. It returns an error only
// for unusable options or a cancelled ctx; everything wrong with the
// module is in the report.
func Check(ctx context.Context, module []byte, opts Options) (Report, error) {
	if err := opts.defaults(); err != nil {
		return Report{}, err
	}
	t0 := time.Now()
	sum := sha256.Sum256(module)
	rep := Report{Module: opts.Name, SHA256: hex.EncodeToString(sum[:]), LatencyBudget: opts.LatencyBudget}
	eng, err := wasm.NewEngine(wasm.EngineOptions{CacheDir: opts.CacheDir})
	if err != nil {
		return Report{}, fmt.Errorf("conformance: %w", err)
	}
	defer eng.Close(context.Background())
	r := &run{ctx: ctx, opts: opts, module: module, eng: eng, lat: &latencies{},
		results: map[string]Result{}, ffCalls: map[string]bool{}, propsRead: map[string]bool{}}
	for _, f := range opts.Scenarios {
		for _, s := range f.Scenarios {
			r.order = append(r.order, ScenarioCheckPrefix+s.Name)
		}
	}

	r.checkModule()
	if r.mod != nil {
		rep.ABI = r.mod.ABI.String()
		r.checkStart()
	}
	if r.main != nil {
		defer r.main.close()
		r.checkLifecycle()
		r.checkScenarios()
		r.checkRobustness()
	} else {
		// Scenario checks still show, skipped.
		r.checkScenarioCount()
	}
	r.checkPortability()
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("conformance: %w", err)
	}

	for _, c := range catalog {
		r.emit(&rep, c.ID)
		if c.ID == "http.scenarios" {
			for _, id := range r.order {
				r.emit(&rep, id)
			}
		}
	}
	if r.main != nil {
		rep.Latency = r.lat.summary()
	}
	rep.Duration = time.Since(t0)
	return rep, nil
}

func (r *run) emit(rep *Report, id string) {
	res, ok := r.results[id]
	if !ok {
		info := lookup(id)
		why := r.skipWhy
		if why == "" {
			why = "not run"
		}
		res = Result{ID: id, Group: info.Group, Description: info.Description, Severity: info.Severity, Verdict: Skip, Evidence: why}
		if s := r.scenario(id); s != nil {
			res.Description = scenarioDescription(s)
		}
	}
	rep.Results = append(rep.Results, res)
}

// scenario returns the scenario whose check id is id.
func (r *run) scenario(id string) *Scenario {
	for _, f := range r.opts.Scenarios {
		for i := range f.Scenarios {
			if ScenarioCheckPrefix+f.Scenarios[i].Name == id {
				return &f.Scenarios[i]
			}
		}
	}
	return nil
}

// Run runs the suite from a Go test: each check becomes a subtest (when
// t is a *testing.T or *testing.B), failing for a failed required check
// (and a failed recommended one with Options.FailRecommended), skipped
// for a skipped check, with the evidence as the message. It returns the
// report for further assertions.
func Run(t testing.TB, module []byte, opts Options) Report {
	t.Helper()
	rep, err := Check(context.Background(), module, opts)
	if err != nil {
		t.Fatalf("conformance: %v", err)
		return rep
	}
	report := func(tb testing.TB, res Result) {
		tb.Helper()
		msg := fmt.Sprintf("%s (%s): %s\n%s", res.ID, res.Severity, res.Description, res.Evidence)
		switch res.Verdict {
		case Fail:
			if res.Severity == Required || opts.FailRecommended {
				tb.Error(msg)
			} else {
				tb.Log("FAILED (not required): " + msg)
			}
		case Skip:
			tb.Skip(msg)
		case Warn:
			tb.Log("WARN: " + msg)
		}
	}
	type runner interface {
		Run(string, func(*testing.T)) bool
	}
	sub, isRunner := t.(runner)
	for _, res := range rep.Results {
		if isRunner {
			sub.Run(res.ID, func(t *testing.T) { t.Helper(); report(t, res) })
		} else if res.Verdict == Fail {
			report(t, res)
		}
	}
	if !rep.OK() {
		var b strings.Builder
		_ = rep.WriteText(&b)
		t.Log("\n" + b.String())
	}
	return rep
}

// baseName is the name of the plugin as the suite starts it.
func (r *run) pluginName() string {
	n := strings.TrimSuffix(filepath.Base(r.opts.Name), ".wasm")
	if n == "" || n == "." {
		return "plugin"
	}
	return n
}
