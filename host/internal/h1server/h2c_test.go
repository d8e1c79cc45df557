package h1server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func h2cClient(t *testing.T) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

func h2cServer(h http.Handler) *http.Server {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{Handler: h, Protocols: p}
}

func TestH2C(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	})
	cs := newConnStates()
	ts := startServer(t, &Server{Handler: http.NotFoundHandler(), H2C: h2cServer(h), ConnState: cs.hook})
	client := h2cClient(t)
	for i, tc := range []struct{ method, body, want string }{
		{method: "GET", want: "GET /x "},
		{method: "POST", body: "payload", want: "POST /x payload"},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+ts.addr+"/x", strings.NewReader(tc.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.ProtoMajor != 2 || string(body) != tc.want || resp.Header.Get("X-Proto") != "HTTP/2.0" {
			t.Fatalf("request %d: proto %d body %q err %v header %v", i, resp.ProtoMajor, body, err, resp.Header)
		}
	}
	// Weir's ConnState sees the hand-off as the end of its connection,
	// or its active-connection gauge would never come down.
	select {
	case k := <-cs.final:
		cs.mu.Lock()
		got := cs.states[k]
		cs.mu.Unlock()
		if len(got) != 2 || got[0] != http.StateNew || got[1] != http.StateHijacked {
			t.Errorf("outer ConnState %v, want [new hijacked]", got)
		}
	case <-time.After(ioTimeout):
		t.Error("the h2c connection never left the HTTP/1 server's ConnState")
	}

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an h2c connection: %v", err)
	}
	if err := ts.waitServe(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

// TestH2CRaceWithShutdown hands connections to the HTTP/2 server while
// Shutdown runs (meaningful under -race).
func TestH2CRaceWithShutdown(t *testing.T) {
	for range 5 {
		ts := startServer(t, &Server{Handler: http.NotFoundHandler(), H2C: h2cServer(echoPath)})
		c := dialRaw(t, ts.addr)
		c.send(h2Preface)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			done <- ts.srv.Shutdown(ctx)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		case <-time.After(2 * ioTimeout):
			t.Fatal("Shutdown hung with an h2c connection arriving")
		}
		c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
		io.Copy(io.Discard, c.br) // the HTTP/2 server or the shutdown ends it
	}
}

func TestH2CRefusedWithoutServer(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, &Server{Handler: rec})
	c := dialRaw(t, ts.addr)
	c.send(h2Preface)
	c.expectClosed()
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("handler saw %d requests", n)
	}
}

func TestH2CPrefaceAfterHTTP1(t *testing.T) {
	// Only a connection's first bytes can be the preface: later it is an
	// HTTP/1 request line with version HTTP/2.0.
	ts := startServer(t, &Server{Handler: echoPath, H2C: h2cServer(echoPath)})
	c := dialRaw(t, ts.addr)
	c.send(get("/first") + h2Preface)
	if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "/first" {
		t.Fatalf("first: %d %q", resp.StatusCode, body)
	}
	if resp, _ := c.mustResponse("GET"); resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Fatalf("preface after a request: %d, want 505", resp.StatusCode)
	}
	c.expectClosed()
}
