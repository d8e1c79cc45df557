package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loadConfig routes /load to addr through a service and route named after
// gen, so two generations differ in names as well as in target.
func loadConfig(gen, addr string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
  - name: svc-%[1]s
    url: http://%[2]s
    routes: [{name: route-%[1]s, paths: [/load]}]
`, gen, addr)
}

type statusBody struct {
	Server struct {
		ConnectionsAccepted uint64 `json:"connections_accepted"`
		ConnectionsActive   int64  `json:"connections_active"`
		TotalRequests       uint64 `json:"total_requests"`
	} `json:"server"`
	ConfigurationHash string `json:"configuration_hash"`
	Reloads           struct {
		Succeeded uint64 `json:"succeeded"`
		Failed    uint64 `json:"failed"`
		LastError string `json:"last_error"`
	} `json:"reloads"`
	Ready   bool   `json:"ready"`
	Version string `json:"version"`
}

func TestE2EReloadUnderLoad(t *testing.T) {
	a := newBackend(t, "gen-a", nil)
	b := newBackend(t, "gen-b", nil)
	cfgA, cfgB := loadConfig("a", a.Addr()), loadConfig("b", b.Addr())
	srv := startWeir(t, cfgA)
	admin := newClient(t)

	var (
		stop     atomic.Bool
		failures atomic.Int64
		total    atomic.Int64
		seenMu   sync.Mutex
		seen     = map[string]int{}
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			for !stop.Load() {
				resp, err := c.Get(proxyURL(srv) + "/load")
				total.Add(1)
				if err != nil {
					failures.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				body, _ := io.ReadAll(resp.Body) // to EOF, so the connection is reused
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					msg := fmt.Sprintf("status %d", resp.StatusCode)
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				seenMu.Lock()
				seen[string(body)]++
				seenMu.Unlock()
			}
		}()
	}

	const reloads = 20
	tick := time.NewTicker(100 * time.Millisecond) // ~2s of load
	var slowest time.Duration
	for i := range reloads {
		<-tick.C
		start := time.Now()
		cfg := cfgB
		if i%2 == 1 {
			cfg = cfgA
		}
		if i%4 < 2 {
			r := postConfig(t, admin, srv, cfg)
			if r.Status != http.StatusCreated {
				t.Errorf("reload %d via POST /config: status %d: %s", i, r.Status, r.Body)
			}
		} else if err := srv.Apply([]byte(cfg)); err != nil {
			t.Errorf("reload %d via Apply: %v", i, err)
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("%d reloads, slowest %v", reloads, slowest)
	tick.Stop()
	stop.Store(true)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %s", n, total.Load(), *firstErr.Load())
	}
	if seen["gen-a"] == 0 || seen["gen-b"] == 0 {
		t.Errorf("answers by backend %v: both configurations should have served", seen)
	}
	if slowest > time.Second {
		t.Errorf("slowest reload took %v", slowest)
	}
	if total.Load() < 100 {
		t.Errorf("only %d requests in ~2s: the load was too light to mean anything", total.Load())
	}
	var st statusBody
	getJSON(t, admin, adminURL(srv)+"/status", 200, &st)
	if st.Reloads.Succeeded != reloads || st.Reloads.Failed != 0 {
		t.Errorf("status reloads %+v, want %d succeeded, 0 failed", st.Reloads, reloads)
	}

	// The last reload (i=19) applied cfgA.
	var routes struct {
		Data []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	getJSON(t, admin, adminURL(srv)+"/routes", 200, &routes)
	if len(routes.Data) != 1 || routes.Data[0].Name != "route-a" {
		t.Errorf("routes after the reloads: %+v, want [route-a]", routes.Data)
	}
}

// configErrorBody is Kong's 400 body for POST /config.
type configErrorBody struct {
	Code            int               `json:"code"`
	Name            string            `json:"name"`
	Message         string            `json:"message"`
	Fields          map[string]string `json:"fields"`
	FlattenedErrors []struct {
		Entity string `json:"entity"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	} `json:"flattened_errors"`
}

func TestE2EBadConfigRejected(t *testing.T) {
	a := newBackend(t, "gen-a", nil)
	srv := startWeir(t, loadConfig("a", a.Addr()))
	c := newClient(t)
	tests := []struct {
		name       string
		yaml       string
		wantFields []string // paths that must be named in `fields`
		wantInMsg  string   // and a text its message must hold
	}{
		{
			name: "unknown field",
			yaml: `_format_version: "3.0"
services:
  - name: s
    url: http://` + a.Addr() + `
    routes:
      - name: r
        paths: [/x]
        stirp_path: true
`,
			// Parse locates an unknown field at its object and names the
			// field in the message.
			wantFields: []string{"services[0].routes[0]"},
			wantInMsg:  "stirp_path",
		},
		{
			name: "bad regex",
			yaml: `_format_version: "3.0"
services:
  - name: s
    url: http://` + a.Addr() + `
    routes:
      - name: ok
        paths: [/ok]
      - name: r
        paths: ['/fine', '~/users/(\d+$']
`,
			wantFields: []string{"services[0].routes[1].paths[1]"},
			wantInMsg:  "regex",
		},
		{
			name: "several errors at once",
			yaml: `_format_version: "3.0"
services:
  - name: s
    url: http://` + a.Addr() + `
    routes:
      - name: r1
        paths: ['~/a/(']
      - name: r2
        paths: [/b]
        https_redirect_status_code: 303
`,
			wantFields: []string{"services[0].routes[0].paths[0]", "services[0].routes[1].https_redirect_status_code"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := postConfig(t, c, srv, tc.yaml)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
			}
			var body configErrorBody
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
			}
			if body.Name != "invalid declarative configuration" || body.Code != 14 {
				t.Errorf("name %q code %d, want Kong's %q 14", body.Name, body.Code, "invalid declarative configuration")
			}
			if !strings.HasPrefix(body.Message, "declarative config is invalid") {
				t.Errorf("message %q", body.Message)
			}
			for _, f := range tc.wantFields {
				if body.Fields[f] == "" {
					t.Errorf("fields %v do not name %s", body.Fields, f)
				} else if tc.wantInMsg != "" && !strings.Contains(body.Fields[f], tc.wantInMsg) {
					t.Errorf("fields[%s] = %q, want it to mention %q", f, body.Fields[f], tc.wantInMsg)
				}
			}
			if len(body.FlattenedErrors) < len(tc.wantFields) {
				t.Errorf("flattened_errors %+v: want at least %d", body.FlattenedErrors, len(tc.wantFields))
			}
			// The old configuration still serves.
			if got := get(t, c, proxyURL(srv)+"/load"); got.Status != 200 || string(got.Body) != "gen-a" {
				t.Errorf("after the rejected config: status %d body %q, want the old config's 200 gen-a", got.Status, got.Body)
			}
			var st statusBody
			getJSON(t, c, adminURL(srv)+"/status", 200, &st)
			if st.Reloads.Failed != uint64(i+1) || st.Reloads.LastError == "" {
				t.Errorf("status reloads %+v, want %d failed with a last_error", st.Reloads, i+1)
			}
		})
	}
}

func TestE2EPostConfigFormats(t *testing.T) {
	a := newBackend(t, "gen-a", nil)
	b := newBackend(t, "gen-b", nil)
	srv := startWeir(t, loadConfig("a", a.Addr()))
	c := newClient(t)
	wrapped, _ := json.Marshal(map[string]string{"config": loadConfig("b", b.Addr())})
	req, _ := http.NewRequest(http.MethodPost, adminURL(srv)+"/config", strings.NewReader(string(wrapped)))
	req.Header.Set("Content-Type", "application/json")
	if r := do(t, c, req); r.Status != http.StatusCreated {
		t.Fatalf(`{"config": ...}: status %d: %s`, r.Status, r.Body)
	}
	if r := get(t, c, proxyURL(srv)+"/load"); string(r.Body) != "gen-b" {
		t.Errorf("after the JSON-wrapped config: %q, want gen-b", r.Body)
	}
	form := "config=" + strings.ReplaceAll(strings.ReplaceAll(loadConfig("a", a.Addr()), "\n", "%0A"), " ", "+")
	form = strings.NewReplacer(":", "%3A", "/", "%2F", "[", "%5B", "]", "%5D", "{", "%7B", "}", "%7D", ",", "%2C", `"`, "%22").Replace(form)
	req, _ = http.NewRequest(http.MethodPost, adminURL(srv)+"/config", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, c, req); r.Status != http.StatusCreated {
		t.Fatalf("form: status %d: %s", r.Status, r.Body)
	}
	if r := get(t, c, proxyURL(srv)+"/load"); string(r.Body) != "gen-a" {
		t.Errorf("after the form config: %q, want gen-a", r.Body)
	}
}

func TestE2EFileWatch(t *testing.T) {
	a := newBackend(t, "gen-a", nil)
	b := newBackend(t, "gen-b", nil)
	srv, path := startWeirFile(t, loadConfig("a", a.Addr()))
	srv.WatchFile(50 * time.Millisecond)
	c := newClient(t)

	// Replace the file the way editors and ConfigMaps do: write beside,
	// rename over.
	replace := func(text string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	replace(loadConfig("b", b.Addr()) + `  - name: watched
    url: http://` + b.Addr() + `
    routes: [{name: watched, paths: [/watched]}]
`)
	eventually(t, 5*time.Second, "the watcher to apply the new file (admin lists route watched)", func() bool {
		var routes struct {
			Data []struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		getJSON(t, c, adminURL(srv)+"/routes", 200, &routes)
		for _, r := range routes.Data {
			if r.Name == "watched" {
				return true
			}
		}
		return false
	})
	if r := get(t, c, proxyURL(srv)+"/watched"); r.Status != 200 || string(r.Body) != "gen-b" {
		t.Errorf("/watched: %d %q, want 200 gen-b", r.Status, r.Body)
	}

	// A broken file is rejected once and the running config keeps serving.
	replace("_format_version: \"3.0\"\nservices: [{name: x, url: 'http://'}]\n")
	var st statusBody
	eventually(t, 5*time.Second, "the broken file to be rejected", func() bool {
		getJSON(t, c, adminURL(srv)+"/status", 200, &st)
		return st.Reloads.Failed > 0
	})
	if r := get(t, c, proxyURL(srv)+"/watched"); r.Status != 200 {
		t.Errorf("after a broken file: /watched %d, want the old config's 200", r.Status)
	}
	srv.StopWatching()
	getJSON(t, c, adminURL(srv)+"/status", 200, &st)
	if st.Reloads.Failed != 1 {
		t.Errorf("the broken file was applied %d times, want once (not on every poll)", st.Reloads.Failed)
	}
}

func TestE2EReloadSIGHUP(t *testing.T) {
	a := newBackend(t, "gen-a", nil)
	b := newBackend(t, "gen-b", nil)
	srv, path := startWeirFile(t, loadConfig("a", a.Addr()))
	c := newClient(t)
	if r := get(t, c, proxyURL(srv)+"/load"); string(r.Body) != "gen-a" {
		t.Fatalf("initial: %q", r.Body)
	}
	if err := os.WriteFile(path, []byte(loadConfig("b", b.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if r := get(t, c, proxyURL(srv)+"/load"); string(r.Body) != "gen-b" {
		t.Errorf("after Reload: %q, want gen-b", r.Body)
	}
	if err := os.WriteFile(path, []byte("_format_version: \"3.0\"\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err == nil {
		t.Errorf("Reload of a broken file returned nil")
	}
	if r := get(t, c, proxyURL(srv)+"/load"); string(r.Body) != "gen-b" {
		t.Errorf("after a failed Reload: %q, want gen-b still", r.Body)
	}
	os.Remove(path)
	if err := srv.Reload(); err == nil {
		t.Errorf("Reload of a missing file returned nil")
	}
	var st statusBody
	getJSON(t, c, adminURL(srv)+"/status", 200, &st)
	if st.Reloads.Succeeded != 1 || st.Reloads.Failed != 2 {
		t.Errorf("status reloads %+v, want 1 succeeded and 2 failed", st.Reloads)
	}
}

func TestE2EGracefulShutdown(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("finished"))
	})
	srv := startWeir(t, loadConfig("a", slow.Addr()))
	addr := srv.ProxyAddr().String()
	c := newClient(t)

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.Get("http://" + addr + "/load")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var buf [64]byte
		n, _ := resp.Body.Read(buf[:])
		done <- result{status: resp.StatusCode, body: string(buf[:n])}
	}()
	eventually(t, 5*time.Second, "the slow request to reach the backend", func() bool { return slow.Hits.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(ctx) }()

	select {
	case r := <-done:
		if r.err != nil || r.status != 200 || r.body != "finished" {
			t.Errorf("in-flight request: status %d body %q err %v, want 200 finished", r.status, r.body, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request did not complete")
	}
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		nc.Close()
		t.Errorf("a new connection to the proxy was accepted after Shutdown")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Shutdown: %v, want connection refused", err)
	}
}
