package host_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/host"
)

// TestE2EPluginTrailers drives the trailer phases and the body phases
// through real HTTP/1.1 and HTTP/2 (h2c, gRPC-style) exchanges:
// host/testdata/body.wasm wraps request bodies as "<<body>>", appends
// "!!" to responses and adds x-plugin-trailer to the trailers of both.
func TestE2EPluginTrailers(t *testing.T) {
	srv := startTrailerWeir(t)
	t.Run("HTTP/1.1 response trailers", func(t *testing.T) { checkH1ResponseTrailers(t, srv) })
	t.Run("HTTP/2 bodies and trailers both ways", func(t *testing.T) { checkH2Trailers(t, srv) })

	t.Run("HTTP/2 request body over the plugin buffer cap", func(t *testing.T) {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/h2/svc", strings.NewReader(strings.Repeat("x", 2<<20)))
		req.Header.Set("Content-Type", "application/grpc")
		r := do(t, c, req)
		// A gRPC client gets the 413 as a trailers-only gRPC error.
		if r.Status != http.StatusOK || r.Header.Get("Grpc-Status") != "13" || r.Header.Get("Grpc-Message") != "Request size limit exceeded" {
			t.Fatalf("status %d grpc-status %q grpc-message %q, want 200/13/Request size limit exceeded",
				r.Status, r.Header.Get("Grpc-Status"), r.Header.Get("Grpc-Message"))
		}
	})
}

// startTrailerWeir starts Weir with host/testdata/body.wasm on an
// HTTP/1.1 route (/h1) and an HTTP/2 gRPC-style route (/h2) whose
// backends echo the body and send an X-Checksum trailer.
func startTrailerWeir(t *testing.T) *host.Server {
	t.Helper()
	h1 := newBackend(t, "h1", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("echo:"))
		w.Write(b)
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc123")
	})
	h2 := startH2CBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// Request trailers are readable once the body is consumed.
		w.Header().Set("X-Up-Trailers", r.Trailer.Get("X-Client-Trailer")+","+r.Trailer.Get("X-Plugin-Trailer"))
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("echo:"))
		w.Write(b)
		w.Header().Set("X-Checksum", "def456")
	})
	mod := moduleRef(t, "host/testdata/body.wasm")
	return startWeir(t, `
_format_version: "3.0"
services:
  - name: h1
    url: http://`+h1.Addr()+`
    routes:
      - name: h1
        paths: [/h1]
        plugins: [{name: "`+mod+`"}]
  - name: h2
    protocol: grpc
    url: grpc://`+h2+`
    routes:
      - name: h2
        paths: [/h2]
        protocols: [grpc]
        plugins: [{name: "`+mod+`"}]
`)

}

// checkH1ResponseTrailers: the plugin's response-trailer phase runs on an
// HTTP/1.1 upstream's trailers.
func checkH1ResponseTrailers(t *testing.T, srv *host.Server) {
	t.Helper()
	resp, err := newClient(t).Post(proxyURL(srv)+"/h1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "echo:<<hello>>!!" {
		t.Fatalf("body %q err %v, want echo:<<hello>>!!", body, err)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc123" {
		t.Errorf("upstream trailer X-Checksum %q, want abc123 (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Plugin-Trailer"); got != "response" {
		t.Errorf("plugin trailer %q, want response (trailers %v)", got, resp.Trailer)
	}
}

// checkH2Trailers: body and trailer phases both ways over HTTP/2.
func checkH2Trailers(t *testing.T, srv *host.Server) {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := strings.Repeat("0123456789", 5000) // several DATA frames
	req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/h2/svc", io.MultiReader(strings.NewReader(body)))
	req.Header.Set("Content-Type", "application/grpc")
	// HTTP/2 announces trailer names with the head, and Go's server
	// keeps only announced ones: the client announces the name the
	// plugin will add (with no value of its own).
	req.Trailer = http.Header{"X-Client-Trailer": {"c1"}, "X-Plugin-Trailer": nil}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("client spoke HTTP/%d to Weir, want 2", resp.ProtoMajor)
	}
	if want := "echo:<<" + body + ">>!!"; string(got) != want {
		t.Fatalf("body of %d bytes ...%q, want %d bytes ending in >>!!", len(got), tail(got), len(want))
	}
	if up := resp.Header.Get("X-Up-Trailers"); up != "c1,request" {
		t.Errorf("upstream saw request trailers %q, want the client's (c1) and the plugin's (request)", up)
	}
	if v := resp.Trailer.Get("X-Checksum"); v != "def456" {
		t.Errorf("upstream trailer X-Checksum %q, want def456 (trailers %v)", v, resp.Trailer)
	}
	if v := resp.Trailer.Get("X-Plugin-Trailer"); v != "response" {
		t.Errorf("plugin trailer %q, want response (trailers %v)", v, resp.Trailer)
	}
}

// startH2CBackend serves handler over HTTP/2 without TLS on 127.0.0.1.
func startH2CBackend(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: handler, Protocols: new(http.Protocols)}
	hs.Protocols.SetUnencryptedHTTP2(true)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}
