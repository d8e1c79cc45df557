// Package registrytest runs a real OCI registry (the CNCF distribution
// registry, built by `go tool task deps:registry` into .testbin/) on
// 127.0.0.1 for tests, with filesystem storage in a temporary directory
// and optional htpasswd basic auth.
package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a running registry process.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of oci:// references.
	Host string
	// Root is the storage directory (for tests that tamper with blobs).
	Root   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Options configure Start.
type Options struct {
	// Username and Password, when set, require basic auth (htpasswd).
	Username, Password string
}

// Binary finds the registry binary: $PATH, then .testbin/ at the module
// root. The test fails when it is missing.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("registry"); err == nil {
		return p
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".testbin", "registry")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Fatal("the distribution registry binary is missing: run `go tool task deps:registry` (installs .testbin/registry)")
	return ""
}

// Start runs a registry until the test ends.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "storage")
	port := freePort(t)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n", root, port)
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htp := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htp, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: weir-test\n    path: %s\n", htp)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Registry{Host: "127.0.0.1:" + strconv.Itoa(port), Root: root}
	r.cmd = exec.Command(bin, "serve", cfgPath)
	r.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	out := &logBuffer{}
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start registry: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		r.cmd.Wait()
		close(exited)
	}()
	r.exited = exited
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("registry output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-exited:
			t.Fatalf("registry exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s not ready after 20s: %v", r.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the registry (idempotent): tests use it to take the
// registry down.
func (r *Registry) Stop() {
	r.cmd.Process.Kill()
	<-r.exited
}

// BlobPath is where the registry stores the blob with digest
// "sha256:<hex>".
func (r *Registry) BlobPath(digest string) string {
	h := digest[len("sha256:"):]
	return filepath.Join(r.Root, "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logBuffer keeps the registry's output, shown when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
