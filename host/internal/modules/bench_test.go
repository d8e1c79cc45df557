package modules

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirproxy/weir/host/internal/modules/registrytest"
)

// BenchmarkFetch measures what a reload pays per module: a cache hit
// (IfNotPresent, verified on read), Always with an unchanged tag (one
// manifest request, then the cache) and a full pull from a registry on
// 127.0.0.1 (manifest + blob, verified), for the Go SDK's header example
// (about 3.4 MB).
func BenchmarkFetch(b *testing.B) {
	wasm, err := os.ReadFile(filepath.Join("..", "..", "..", "sdk", "go", "examples", "headers", "headers.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	reg := registrytest.Start(b, registrytest.Options{})
	f := newFetcher(b, Options{Insecure: []string{reg.Host}, CacheDir: b.TempDir()})
	ref := mustRef(b, "oci://"+reg.Host+"/bench/headers:v1")
	if _, err := f.Push(context.Background(), ref, wasm, PushOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		policy PullPolicy
	}{{"cached", PullIfNotPresent}, {"always-unchanged", PullAlways}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(wasm)))
			for b.Loop() {
				if _, err := f.Fetch(context.Background(), ref, FetchOptions{Policy: bc.policy}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("pull", func(b *testing.B) {
		b.SetBytes(int64(len(wasm)))
		for b.Loop() {
			if _, err := f.Pull(context.Background(), ref, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
