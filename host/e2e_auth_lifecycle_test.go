package host_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirproxy/weir/host"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestE2ECredentialsNeverLogged runs good and bad credentials through
// every auth plugin with the log at debug level and checks no secret, key,
// password or token reaches the log.
func TestE2ECredentialsNeverLogged(t *testing.T) {
	be := newBackend(t, "b1", nil)
	cfg := `
_format_version: "3.0"
consumers:
  - username: alice
    keyauth_credentials: [{key: KEY-SECRET-1234}]
    basicauth_credentials: [{username: alice-login, password: PASS-SECRET-5678}]
    jwt_secrets: [{key: alice-iss, secret: JWT-SECRET-9012}]
services:
  - name: api
    url: http://` + be.Addr() + `
    routes:
      - {name: k, paths: [/k], plugins: [{name: key-auth}]}
      - {name: b, paths: [/b], plugins: [{name: basic-auth}]}
      - {name: j, paths: [/j], plugins: [{name: jwt}]}
`
	path := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := host.New(host.Options{
		ConfigPath: path, ProxyListen: "127.0.0.1:0", HTTPSListen: "off", AdminListen: "127.0.0.1:0", StatusListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	c := newClient(t)
	base := proxyURL(srv)
	tok := signJWT(t, "HS256", []byte("JWT-SECRET-9012"), map[string]any{"iss": "alice-iss"})
	bad := signJWT(t, "HS256", []byte("WRONG-JWT-SECRET-3456"), map[string]any{"iss": "alice-iss"})
	for _, rq := range []struct {
		path string
		hdr  []string
		want int
	}{
		{"/k/x", []string{"apikey", "KEY-SECRET-1234"}, 200},
		{"/k/x", []string{"apikey", "KEY-WRONG-4321"}, 401},
		{"/b/x", []string{"Authorization", basic("alice-login", "PASS-SECRET-5678")}, 200},
		{"/b/x", []string{"Authorization", basic("alice-login", "PASS-WRONG-8765")}, 401},
		{"/j/x", []string{"Authorization", "Bearer " + tok}, 200},
		{"/j/x", []string{"Authorization", "Bearer " + bad}, 401},
	} {
		if r := send(t, c, http.MethodGet, base+rq.path, "", rq.hdr...); r.Status != rq.want {
			t.Fatalf("%s: %d, want %d", rq.path, r.Status, rq.want)
		}
	}
	out := logs.String()
	if out == "" {
		t.Fatal("no logs captured at all: the check would be vacuous")
	}
	for _, secret := range []string{"KEY-SECRET-1234", "KEY-WRONG-4321", "PASS-SECRET-5678", "PASS-WRONG-8765",
		"JWT-SECRET-9012", tok, bad, strings.Split(tok, ".")[2]} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a credential %q", secret)
		}
	}
}

// TestE2EReloadCredentialsAndCounters: a reload rotates credentials at
// once (old key refused, new key accepted) while local rate-limiting
// counters carry over (a reload is not a way around a limit).
func TestE2EReloadCredentialsAndCounters(t *testing.T) {
	be := newBackend(t, "b1", nil)
	cfg := func(key string) string {
		return `
_format_version: "3.0"
consumers:
  - username: alice
    keyauth_credentials: [{key: ` + key + `}]
services:
  - name: api
    url: http://` + be.Addr() + `
    routes:
      - name: r
        paths: [/r]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: {hour: 3}
`
	}
	srv := startWeir(t, cfg("old-key"))
	c := newClient(t)
	base := proxyURL(srv)
	avoidWindowEdge(t, time.Hour, 30*time.Second)
	for i := 0; i < 2; i++ {
		if r := send(t, c, http.MethodGet, base+"/r/x", "", "apikey", "old-key"); r.Status != 200 {
			t.Fatalf("before reload %d: %d", i, r.Status)
		}
	}
	if err := srv.Apply([]byte(cfg("new-key"))); err != nil {
		t.Fatal(err)
	}
	expectKong(t, "old key after reload", send(t, c, http.MethodGet, base+"/r/x", "", "apikey", "old-key"), 401, "Unauthorized")
	r := send(t, c, http.MethodGet, base+"/r/x", "", "apikey", "new-key")
	if r.Status != 200 || r.Header.Get("X-RateLimit-Remaining-Hour") != "0" {
		t.Fatalf("new key: %d, remaining %q (want the 3rd of 3: counters survive reloads)", r.Status, r.Header.Get("X-RateLimit-Remaining-Hour"))
	}
	expectKong(t, "4th", send(t, c, http.MethodGet, base+"/r/x", "", "apikey", "new-key"), 429, "API rate limit exceeded")
}
