package host_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pebbleVersion is the Pebble release `go tool task deps:pebble` builds
// into .testbin/; its module holds the test CA (test/certs).
const pebbleVersion = "v2.10.1"

// pebble is a running Pebble ACME server with pebble-challtestsrv as its
// DNS resolver (every name resolves to 127.0.0.1).
type pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// MiniCA is the PEM root of Pebble's own HTTPS (trusted by Weir's
	// ACME client through weir.acme.ca_root).
	MiniCA string
	// Roots holds the root Pebble issues certificates under.
	Roots *x509.CertPool
	// Issued counts the certificates Pebble issued (from its log).
	Issued *atomic.Int32
}

// testBin finds a binary built by a Taskfile task in the repository's
// .testbin/, then on PATH; it fails the test naming the task otherwise.
func testBin(t testing.TB, name, task string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, ".testbin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s not found in .testbin/ or on PATH: run `go tool task %s`", name, task)
	return ""
}

// pebbleModuleDir returns the Pebble module's directory in the module
// cache (downloading it if needed), for its test certificates.
func pebbleModuleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/letsencrypt/pebble/v2@"+pebbleVersion).Output()
	if err != nil {
		t.Fatalf("locating the pebble module: %v", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("locating the pebble module: %v (%s)", err, out)
	}
	return m.Dir
}

// freePort returns a 127.0.0.1 TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freeDNSPort returns a 127.0.0.1 port that was free for both TCP and
// UDP a moment ago.
func freeDNSPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no 127.0.0.1 port free for both TCP and UDP in 100 tries")
	return 0
}

// dnsAnswers reports whether a DNS server on 127.0.0.1:port resolves a
// name over both UDP and TCP within d.
func dnsAnswers(port int, d time.Duration) bool {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ok := func(network string) bool {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, network, addr)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ips, err := r.LookupHost(ctx, "probe.weir.test")
		return err == nil && len(ips) > 0
	}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if ok("udp") && ok("tcp") {
			return true
		}
	}
	return false
}

// startProc runs a test server, logging its output into the test, and
// kills it at cleanup.
func startProc(t testing.TB, name string, env []string, args ...string) *testWriter {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	w := &testWriter{t: t, prefix: filepath.Base(name) + ": ", count: "Issued certificate serial"}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		w.stop()
	})
	return w
}

// startPebble starts pebble-challtestsrv (DNS only) and Pebble, whose
// validation authority connects to httpPort for HTTP-01 and tlsPort for
// TLS-ALPN-01 on 127.0.0.1: Weir's own listeners. validity is the
// lifetime of issued certificates.
func startPebble(t testing.TB, httpPort, tlsPort int, validity time.Duration) *pebble {
	t.Helper()
	pebbleBin := testBin(t, "pebble", "deps:pebble")
	chall := testBin(t, "pebble-challtestsrv", "deps:pebble")
	mod := pebbleModuleDir(t)
	// The DNS server listens on TCP and UDP: a port picked free for one
	// may be taken on the other, or by the time it binds, so it is
	// started again on another port until it answers on both.
	dnsPort := 0
	for attempt := 1; dnsPort == 0; attempt++ {
		port := freeDNSPort(t)
		startProc(t, chall, nil,
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-dnsserver", "127.0.0.1:"+strconv.Itoa(port),
			"-management", "127.0.0.1:"+strconv.Itoa(freePort(t)),
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
		if dnsAnswers(port, 10*time.Second) {
			dnsPort = port
		} else if attempt == 3 {
			t.Fatalf("pebble-challtestsrv did not answer DNS on TCP and UDP 127.0.0.1:%d (3 attempts)", port)
		}
	}

	acmePort, mgmtPort := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    filepath.Join(mod, "test/certs/localhost/cert.pem"),
		"privateKey":                     filepath.Join(mod, "test/certs/localhost/key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{"default": map[string]any{
			"description":    "test",
			"validityPeriod": int(validity / time.Second),
		}},
	}}
	path := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(path, []byte(mustJSON(t, cfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := startProc(t, pebbleBin, []string{
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no random badNonce
		"PEBBLE_AUTHZREUSE=0",      // every order is validated
	}, "-config", path, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort), "-strict=false")

	miniCA, err := os.ReadFile(filepath.Join(mod, "test/certs/pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(miniCA)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	p := &pebble{Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort), MiniCA: string(miniCA), Issued: &pw.counted}
	var root []byte
	eventually(t, 20*time.Second, "Pebble to serve its directory and root", func() bool {
		resp, err := c.Get(p.Directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		resp, err = c.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		root, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(root) {
		t.Fatalf("Pebble's root is not PEM: %q", root)
	}
	return p
}

// testWriter copies a process's output into the test log until the test
// ends.
type testWriter struct {
	t       testing.TB
	prefix  string
	mu      sync.Mutex
	stopped bool
	// count: lines containing it are counted in counted.
	count   string
	counted atomic.Int32
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			w.t.Log(w.prefix + l)
			if w.count != "" && strings.Contains(l, w.count) {
				w.counted.Add(1)
			}
		}
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// servedCert handshakes with addr for sni, verifying against roots, and
// returns the served leaf; nil with the error while it does not verify.
func servedCert(ctx context.Context, addr, sni string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &tls.Dialer{Config: &tls.Config{ServerName: sni, RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}
