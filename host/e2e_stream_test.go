package host_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const bigSize = 10 << 20 // 10 MiB

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func streamConfig(addr string, extraWeir string) string {
	return fmt.Sprintf(`_format_version: "3.0"
weir:
%s
services:
  - name: stream
    url: http://%s
    routes: [{name: stream, paths: [/]}]
`, extraWeir, addr)
}

func TestE2EUpload(t *testing.T) {
	// The backend answers with the sha256 and length of what it read, and
	// the framing it was sent with.
	b := newBackend(t, "up", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Length", strconv.FormatInt(n, 10))
		w.Header().Set("X-Chunked", strconv.FormatBool(len(r.TransferEncoding) > 0))
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	data := randomBytes(t, bigSize)
	want := sha(data)

	tests := []struct {
		name        string
		chunked     bool
		wantChunked string
	}{
		{name: "content-length", chunked: false, wantChunked: "false"},
		{name: "chunked", chunked: true, wantChunked: "true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(data)
			if tc.chunked {
				pr, pw := io.Pipe()
				go func() {
					// Uneven writes, so chunk boundaries do not line up
					// with any buffer size.
					rest := data
					for len(rest) > 0 {
						n := min(len(rest), 77777)
						if _, err := pw.Write(rest[:n]); err != nil {
							return
						}
						rest = rest[n:]
					}
					pw.Close()
				}()
				body = pr
			}
			req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/upload", body)
			if tc.chunked {
				req.ContentLength = -1
			}
			r := do(t, c, req)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if got := r.Header.Get("X-Length"); got != strconv.Itoa(bigSize) {
				t.Errorf("backend read %s bytes, want %d", got, bigSize)
			}
			if string(r.Body) != want {
				t.Errorf("backend sha256 %s, want %s", r.Body, want)
			}
			if got := r.Header.Get("X-Chunked"); got != tc.wantChunked {
				t.Errorf("upstream chunked=%s, want %s", got, tc.wantChunked)
			}
		})
	}
}

func TestE2EDownload(t *testing.T) {
	data := randomBytes(t, bigSize)
	want := sha(data)
	b := newBackend(t, "down", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
			return
		}
		// chunked: write and flush in uneven pieces
		fl := w.(http.Flusher)
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 100003)
			w.Write(rest[:n])
			fl.Flush()
			rest = rest[n:]
		}
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	tests := []struct {
		name       string
		path       string
		wantLength int64
	}{
		{name: "content-length", path: "/length", wantLength: bigSize},
		{name: "chunked", path: "/chunked", wantLength: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(proxyURL(srv) + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp.ContentLength != tc.wantLength {
				t.Errorf("ContentLength %d, want %d", resp.ContentLength, tc.wantLength)
			}
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil {
				t.Fatalf("reading body after %d bytes: %v", n, err)
			}
			if n != bigSize || hex.EncodeToString(h.Sum(nil)) != want {
				t.Errorf("got %d bytes with sha256 %x, want %d bytes with %s", n, h.Sum(nil), bigSize, want)
			}
		})
	}
}

func TestE2EServerSentEvents(t *testing.T) {
	tests := []struct {
		name           string
		weir           string
		acceptEncoding bool // let the client ask for (and decode) gzip
	}{
		{name: "plain", weir: "  server_tokens: true"},
		{name: "compression enabled, client accepts gzip", weir: "  compression: {enabled: true}", acceptEncoding: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var once bool
			b := newBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Cache-Control", "no-cache")
				io.WriteString(w, "event: first\ndata: "+strings.Repeat("x", 2000)+"\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Second):
				}
				io.WriteString(w, "event: second\ndata: done\n\n")
			})
			t.Cleanup(func() {
				if !once {
					close(release)
				}
			})
			srv := startWeir(t, streamConfig(b.Addr(), tc.weir))
			tr := &http.Transport{DisableCompression: !tc.acceptEncoding}
			t.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
			resp, err := c.Get(proxyURL(srv) + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tc.acceptEncoding && !resp.Uncompressed {
				t.Errorf("stream was not compressed (Content-Encoding %q): the test does not exercise the compressor", resp.Header.Get("Content-Encoding"))
			}
			br := bufio.NewReader(resp.Body)
			got := make(chan string, 1)
			go func() {
				line, err := br.ReadString('\n')
				if err != nil {
					line = "error: " + err.Error()
				}
				got <- line
			}()
			select {
			case line := <-got:
				if line != "event: first\n" {
					t.Fatalf("first line %q, want %q", line, "event: first\n")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the first event did not arrive within 5s while the upstream held the stream open: Weir buffers it")
			}
			once = true
			close(release)
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(rest), "event: second\ndata: done\n\n") {
				t.Errorf("stream ended with %q", rest[max(0, len(rest)-40):])
			}
		})
	}
}

func TestE2EUpstreamKeepAlive(t *testing.T) {
	b := newBackend(t, "ka", nil)
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	const n = 50
	for i := range n {
		r := get(t, c, proxyURL(srv)+"/ka/"+strconv.Itoa(i))
		if r.Status != 200 {
			t.Fatalf("request %d: status %d", i, r.Status)
		}
	}
	if got := b.Hits.Load(); got != n {
		t.Fatalf("backend saw %d requests, want %d", got, n)
	}
	if got := b.Conns.Load(); got > 2 {
		t.Errorf("%d sequential requests used %d upstream connections, want ≤ 2", n, got)
	}
	// Also with a fresh client connection per request.
	before := b.Conns.Load()
	for i := range n {
		req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+"/ka2/"+strconv.Itoa(i), nil)
		req.Close = true
		if r := do(t, c, req); r.Status != 200 {
			t.Fatalf("request %d: status %d", i, r.Status)
		}
	}
	if got := b.Conns.Load() - before; got > 2 {
		t.Errorf("client Connection: close leaked upstream: %d new upstream connections for %d requests", got, n)
	}
}

func TestE2ECompression(t *testing.T) {
	page := []byte(strings.Repeat(`{"key":"value","n":12345},`, 2000))
	b := newBackend(t, "cmp", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(page)))
			w.Write(page)
		case "/small":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{}`))
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(page)
		}
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  compression: {enabled: true}"))
	c := newClient(t) // does not decode: we look at the wire
	tests := []struct {
		name         string
		path         string
		method       string
		acceptEnc    string
		wantEncoding string
	}{
		{name: "gzip", path: "/json", acceptEnc: "gzip", wantEncoding: "gzip"},
		{name: "zstd preferred", path: "/json", acceptEnc: "gzip, zstd", wantEncoding: "zstd"},
		{name: "identity when not asked", path: "/json", wantEncoding: ""},
		{name: "small body left alone", path: "/small", acceptEnc: "gzip", wantEncoding: ""},
		{name: "images left alone", path: "/png", acceptEnc: "gzip", wantEncoding: ""},
		// HEAD: either encoding is acceptable (RFC 9110 §9.3.2), but not a
		// body, nor the identity length beside Content-Encoding.
		{name: "HEAD", path: "/json", method: "HEAD", acceptEnc: "gzip", wantEncoding: "any"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, proxyURL(srv)+tc.path, nil)
			if tc.acceptEnc != "" {
				req.Header.Set("Accept-Encoding", tc.acceptEnc)
			}
			r := do(t, c, req)
			if r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			if method == http.MethodHead {
				if len(r.Body) != 0 {
					t.Errorf("HEAD body of %d bytes", len(r.Body))
				}
				if r.Header.Get("Content-Encoding") != "" && r.Header.Get("Content-Length") == strconv.Itoa(len(page)) {
					t.Errorf("HEAD: Content-Encoding %q with the identity Content-Length", r.Header.Get("Content-Encoding"))
				}
				return
			}
			if got := r.Header.Get("Content-Encoding"); got != tc.wantEncoding {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.wantEncoding)
			}
			if tc.wantEncoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(plain, page) {
					t.Errorf("gunzipped %d bytes (err %v), want the %d-byte page", len(plain), err, len(page))
				}
				if len(r.Body) >= len(page)/2 {
					t.Errorf("compressed %d -> %d bytes only", len(page), len(r.Body))
				}
			}
			if tc.wantEncoding != "" && !strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Vary"), ",")), "accept-encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", r.Header.Values("Vary"))
			}
			if tc.wantEncoding != "" {
				if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(r.Body)) {
					t.Errorf("Content-Length %s for %d body bytes", cl, len(r.Body))
				}
			}
		})
	}
}
