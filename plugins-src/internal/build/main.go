// Command build compiles the built-in plugins in plugins-src/*/ to wasm and
// writes each as plugin.wasm.zst (zstd, best compression, single-threaded,
// so the output is deterministic). With -check it rebuilds into memory and
// fails if a committed module differs from what its sources produce.
//
// A plugin directory (one holding plugin.json) is built by the language
// its sources are in:
//
//   - Go (*.go, package main): GOOS=wasip1 -buildmode=c-shared -trimpath
//     -buildvcs=false -ldflags=-buildid=, with the Go toolchain pinned by
//     plugins-src/go-version.txt (passed as GOTOOLCHAIN; the go command
//     fetches it from the module proxy when needed).
//   - C (plugin.c): clang --target=wasm32-wasi --sysroot=/usr
//     -mexec-model=reactor with the C SDK (sdk/c), as sdk/c's examples are
//     built (Debian 12: go tool task sdk-c:install).
//   - AssemblyScript (assembly/index.ts): asc from sdk/assemblyscript's
//     pinned npm packages (package-lock.json; go tool task sdk-as:deps), with
//     the flags of sdk/assemblyscript's examples.
//
// A missing C or AssemblyScript toolchain is an error naming the task that
// installs it. With -allow-missing, the plugins whose toolchain is missing
// are listed as not built / not verified (on stderr) and the rest still
// are; the Go toolchain is never optional.
//
// Run from the repository root:
//
//	go run ./plugins-src/internal/build [-check] [-allow-missing] [plugin ...]
package main

import (
	"bytes"
	"errors"
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
	allowMissing := flag.Bool("allow-missing", false, "skip (and list) plugins whose C or AssemblyScript toolchain is not installed")
	flag.Parse()
	if err := run(*check, *allowMissing, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "plugins-src build:", err)
		os.Exit(1)
	}
}

// errMissing marks a toolchain that is not installed.
var errMissing = errors.New("toolchain not installed")

// Language names as in plugin.json's "language".
const (
	langGo = "go"
	langC  = "c"
	langAS = "assemblyscript"
)

// language tells which toolchain builds dir ("" when there are no sources).
func language(dir string) string {
	if g, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(g) > 0 {
		return langGo
	}
	if _, err := os.Stat(filepath.Join(dir, "plugin.c")); err == nil {
		return langC
	}
	if _, err := os.Stat(filepath.Join(dir, "assembly", "index.ts")); err == nil {
		return langAS
	}
	return ""
}

func run(check, allowMissing bool, only []string) error {
	gv, err := os.ReadFile("plugins-src/go-version.txt")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	toolchain := strings.TrimSpace(string(gv))
	manifests, err := filepath.Glob("plugins-src/*/plugin.json")
	if err != nil {
		return err
	}
	sort.Strings(manifests)
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var failed, missing []string
	for _, m := range manifests {
		dir := filepath.Dir(m)
		name := filepath.Base(dir)
		if len(want) > 0 && !want[name] {
			continue
		}
		delete(want, name)
		lang := language(dir)
		var raw []byte
		switch lang {
		case langGo:
			raw, err = buildGo(dir, toolchain)
		case langC:
			raw, err = buildC(dir)
		case langAS:
			raw, err = buildAS(dir)
		default:
			return fmt.Errorf("%s: no sources (main.go, plugin.c or assembly/index.ts)", name)
		}
		if errors.Is(err, errMissing) {
			if !allowMissing {
				return fmt.Errorf("%s: %w (or pass -allow-missing to build/verify the other plugins only)", name, err)
			}
			missing = append(missing, name+" ("+lang+")")
			continue
		}
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
		fmt.Printf("%-24s %-14s %8d bytes wasm, %8d bytes zstd\n", name, lang, len(raw), len(z))
	}
	for n := range want {
		return fmt.Errorf("no plugin %q (no plugins-src/%s/plugin.json)", n, n)
	}
	if len(missing) > 0 {
		verb := "NOT built"
		if check {
			verb = "NOT verified"
		}
		fmt.Fprintf(os.Stderr, "plugins-src build: %s (toolchain missing): %s\n", verb, strings.Join(missing, ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("committed modules differ from their sources (run go tool task builtins:build and commit): %s",
			strings.Join(failed, ", "))
	}
	return nil
}

// buildGo compiles a Go plugin with the pinned toolchain.
func buildGo(dir, toolchain string) ([]byte, error) {
	return buildTo(func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
			"-ldflags=-buildid=", "-o", out, "./"+filepath.ToSlash(dir))
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOTOOLCHAIN="+toolchain)
		return cmd
	})
}

// buildC compiles plugin.c with the C SDK, as sdk/c/Taskfile.yml builds
// the SDK's examples.
func buildC(dir string) ([]byte, error) {
	if _, err := exec.LookPath("clang"); err != nil {
		return nil, fmt.Errorf("clang: %w: run go tool task sdk-c:install", errMissing)
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/crt1-reactor.o"); err != nil {
		return nil, fmt.Errorf("wasi-libc (/usr/lib/wasm32-wasi): %w: run go tool task sdk-c:install", errMissing)
	}
	return buildTo(func(out string) *exec.Cmd {
		return exec.Command("clang", "--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor",
			"-std=c11", "-O2", "-Wall", "-Wextra", "-Wl,--strip-debug", "-Isdk/c/include",
			"sdk/c/src/proxy_wasm.c", filepath.Join(dir, "plugin.c"), "-o", out)
	})
}

// asFlags are sdk/assemblyscript's ASC_FLAGS (Taskfile.yml, as_test.go).
var asFlags = []string{"--use", "abort=abort_proc_exit", "--runtime", "half", "-O", "--noAssert"}

// buildAS compiles assembly/index.ts with sdk/assemblyscript's pinned asc.
func buildAS(dir string) ([]byte, error) {
	const sdk = "sdk/assemblyscript"
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node: %w: run go tool task deps:node sdk-as:deps", errMissing)
	}
	asc := filepath.Join(sdk, "node_modules", "assemblyscript", "bin", "asc")
	if _, err := os.Stat(asc); err != nil {
		return nil, fmt.Errorf("%s (npm packages): %w: run go tool task sdk-as:deps", asc, errMissing)
	}
	rel := func(p string) string { return filepath.Join("..", "..", p) }
	return buildTo(func(out string) *exec.Cmd {
		args := append([]string{filepath.Join("node_modules", "assemblyscript", "bin", "asc"),
			rel(filepath.Join(dir, "assembly", "index.ts")), "-b", out}, asFlags...)
		cmd := exec.Command("node", args...)
		cmd.Dir = sdk
		return cmd
	})
}

// buildTo runs the command mk makes for a temporary output file and
// returns what it wrote.
func buildTo(mk func(out string) *exec.Cmd) ([]byte, error) {
	tmp, err := os.CreateTemp("", "weir-plugin-*.wasm")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := mk(tmp.Name())
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
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
