// Command build compiles the built-in plugins in plugins-src/*/ to wasm
// (GOOS=wasip1, -buildmode=c-shared, -trimpath, empty build id) and writes
// each as plugin.wasm.zst (zstd, best compression, single-threaded, so the
// output is deterministic). With -check it rebuilds into memory and fails
// if a committed module differs from what its sources produce.
//
// The Go toolchain is pinned by plugins-src/go-version.txt (passed as
// GOTOOLCHAIN), so every machine builds byte-identical modules; the go
// command fetches that toolchain from the module proxy when needed.
//
// Run from the repository root:
//
//	go run ./plugins-src/internal/build [-check] [plugin ...]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

func main() {
	check := flag.Bool("check", false, "verify the committed modules instead of writing them")
	flag.Parse()
	if err := run(*check, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "plugins-src build:", err)
		os.Exit(1)
	}
}

func run(check bool, only []string) error {
	gv, err := os.ReadFile("plugins-src/go-version.txt")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	toolchain := strings.TrimSpace(string(gv))
	dirs, err := filepath.Glob("plugins-src/*/plugin.json")
	if err != nil {
		return err
	}
	sort.Strings(dirs)
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var failed []string
	for _, m := range dirs {
		dir := filepath.Dir(m)
		name := filepath.Base(dir)
		if len(want) > 0 && !want[name] {
			continue
		}
		if g, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(g) == 0 {
			continue // not a Go plugin (C and AssemblyScript ones have their own build)
		}
		raw, err := build(dir, toolchain)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out := filepath.Join(dir, "plugin.wasm.zst")
		if check {
			old, err := os.ReadFile(out)
			if err != nil {
				failed = append(failed, name+" (no plugin.wasm.zst)")
				continue
			}
			d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
			oldRaw, err := d.DecodeAll(old, nil)
			d.Close()
			if err != nil || !bytes.Equal(oldRaw, raw) {
				failed = append(failed, name)
			}
			continue
		}
		z, err := compress(raw)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, z, 0o644); err != nil {
			return err
		}
		fmt.Printf("%-24s %8d bytes wasm, %8d bytes zstd\n", name, len(raw), len(z))
	}
	if len(failed) > 0 {
		return fmt.Errorf("committed modules differ from their sources (run go tool task plugins:build and commit): %s",
			strings.Join(failed, ", "))
	}
	return nil
}

func build(dir, toolchain string) ([]byte, error) {
	tmp, err := os.CreateTemp("", "weir-plugin-*.wasm")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
		"-ldflags=-buildid=", "-o", tmp.Name(), "./"+filepath.ToSlash(dir))
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOTOOLCHAIN="+toolchain)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return os.ReadFile(tmp.Name())
}

func compress(raw []byte) ([]byte, error) {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return e.EncodeAll(raw, nil), nil
}
