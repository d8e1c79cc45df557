// Package conformance checks that a proxy-wasm plugin will behave in Weir
// (and in any proxy-wasm host) before it ships. It is the engine behind
// `weir conformance PLUGIN.wasm` and a Go API for plugin tests.
//
// The suite is a catalog of named checks (Catalog), each with an id such
// as "module.abi-version", a description and a Severity; running it
// (Check) gives each a Verdict with evidence that says what to fix. The
// checks run the module on Weir's real plugin host (package host/wasm:
// the same engine, instrumentation, deadlines and host functions as the
// proxy), one instance per plugin so streams share its memory:
//
//   - module: the binary (abi/wasmbin) and what the host needs from it
//     (ABI marker, allocator, callback signatures, imports, memory), the
//     start sequence with the configuration, refusing an invalid one;
//   - lifecycle: streams in phase order, in sequence, interleaved;
//     proxy_on_configure re-run; ticks;
//   - http: the author's scenarios (ScenarioFile, see README.md), one
//     check per scenario: scripted input per phase, body chunking,
//     callout answers, and expectations on headers, bodies, local
//     responses, pauses, callouts, logs, properties and metrics;
//   - robustness: random, oversized, empty, 1-byte-chunked and non-UTF-8
//     inputs without a trap; leak detection from the instance's memory
//     pages over many streams; p50/p99 latency per callback;
//   - portability: Weir-only extensions, Envoy-only features, ABI 0.1.0.
//
// Only required checks decide Report.OK (and the command's exit status).
// Run reports every check as a subtest of a Go test:
//
//	func TestConformance(t *testing.T) {
//		wasm, _ := os.ReadFile("plugin.wasm")
//		scen, err := conformance.LoadScenarios("conformance.yaml")
//		if err != nil {
//			t.Fatal(err)
//		}
//		conformance.Run(t, wasm, conformance.Options{Scenarios: []*conformance.ScenarioFile{scen}})
//	}
package conformance
