package wasm

import (
	"context"
	"os"
	"testing"
)

// BenchmarkInstantiateSDK measures what one more pool instance costs for
// each SDK's headers example: the time to instantiate and start it
// (_initialize, root context, on_vm_start, on_configure) and its linear
// memory after start-up (reported as guest-mem-bytes). The module is
// compiled once, outside the loop, as in Weir.
//
//	go test -run '^$' -bench InstantiateSDK -benchmem ./host/wasm
func BenchmarkInstantiateSDK(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"wat", "testdata/addheader.wasm"},
		{"go", "../../sdk/go/examples/headers/headers.wasm"},
		{"c", "../../sdk/c/examples/headers/headers.wasm"},
		{"assemblyscript", "../../sdk/assemblyscript/examples/headers/headers.wasm"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			wasm, err := os.ReadFile(tc.path)
			if err != nil {
				b.Fatal(err)
			}
			e, _ := newTestEngine(b)
			m, err := e.Compile(context.Background(), tc.name, wasm)
			if err != nil {
				b.Fatal(err)
			}
			p, err := e.NewPlugin(context.Background(), m, PluginOptions{Name: tc.name, PoolSize: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = p.Close(context.Background()) })
			b.ReportAllocs()
			var mem uint32
			for b.Loop() {
				in, err := p.newInstance(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				in.mu.Lock()
				mem = in.mod.Memory().Size()
				in.discard()
				in.mu.Unlock()
			}
			b.ReportMetric(float64(mem), "guest-mem-bytes")
		})
	}
}
