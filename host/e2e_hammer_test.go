package host_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/weirproxy/weir/abi"
)

// TestE2EPluginHammer: many concurrent streams through a small instance
// pool, each pausing its request headers on an HTTP callout to a real
// backend (service "side", by name), resumed from
// proxy_on_http_call_response with a header carrying the callout's
// answer, and pausing its body until the end. Every response must carry
// its own request's id (no cross-talk between streams sharing an
// instance), and the callout backend must see every callout. Run it
// under -race.
func TestE2EPluginHammer(t *testing.T) {
	const (
		workers = 32
		perW    = 12
	)
	be := newBackend(t, "main", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Id", r.Header.Get("X-Id"))
		w.Header().Set("X-Echo-From-Callout", r.Header.Get("X-From-Callout"))
		w.Write(b)
	})
	var calloutsMu sync.Mutex
	callouts := map[string]int{}
	side := newBackend(t, "side", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calloutsMu.Lock()
		callouts[string(b)]++
		calloutsMu.Unlock()
		w.Write([]byte("cb:"))
		w.Write(b)
	})
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: side
    url: http://`+side.Addr()+`
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: r
        paths: [/]
        plugins:
          - name: "`+moduleRef(t, "host/testdata/probe.wasm")+`"
            limits: {instances: 3}
`)
	c := newClient(t)
	errs := make(chan error, workers*perW)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perW {
				id := fmt.Sprintf("w%d-r%d", w, i)
				body := strings.Repeat(id+";", 1+(w*perW+i)%500) // 1..500 repetitions: one or several reads
				req, _ := http.NewRequest("POST", proxyURL(srv)+"/h", strings.NewReader(body))
				req.Header.Set("X-Probe", abi.FuncHTTPCall)
				req.Header.Set("X-Id", id)
				resp, err := c.Do(req)
				if err != nil {
					errs <- fmt.Errorf("%s: %v", id, err)
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					errs <- fmt.Errorf("%s: reading body: %v", id, err)
				case resp.StatusCode != 200:
					errs <- fmt.Errorf("%s: status %d body %.200s", id, resp.StatusCode, got)
				case resp.Header.Get("X-Echo-Id") != id:
					errs <- fmt.Errorf("%s: the upstream saw x-id %q", id, resp.Header.Get("X-Echo-Id"))
				case resp.Header.Get("X-Echo-From-Callout") != "cb:"+id:
					errs <- fmt.Errorf("%s: resumed with another stream's callout: x-from-callout %q", id, resp.Header.Get("X-Echo-From-Callout"))
				case string(got) != body:
					errs <- fmt.Errorf("%s: body of %d bytes came back as %d bytes", id, len(body), len(got))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... and %d more failures", n-10)
	}
	calloutsMu.Lock()
	defer calloutsMu.Unlock()
	if len(callouts) != workers*perW {
		t.Fatalf("the callout backend saw %d distinct callouts, want %d", len(callouts), workers*perW)
	}
	for id, k := range callouts {
		if k != 1 {
			t.Errorf("callout %s seen %d times, want once", id, k)
		}
	}
}
