package compress

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// waitLimit bounds every wait on the network in these tests.
const waitLimit = 10 * time.Second

// newServer starts a loopback server whose handler runs behind c.Wrap, and
// a client that does not decompress on its own.
func newServer(t *testing.T, c *Compressor, h http.HandlerFunc) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw, finish := c.Wrap(w, r)
		defer finish()
		h(cw, r)
	}))
	t.Cleanup(srv.Close)
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr, Timeout: waitLimit}
}

// decoder wraps a streamed response body in the matching decompressor.
func decoder(t *testing.T, enc string, body io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := stdgzip.NewReader(body)
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatalf("zstd reader: %v", err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("unexpected Content-Encoding %q", enc)
	return nil
}

// TestStreamingFlush checks that a flushed event reaches the client, and
// decodes, while the handler is still running.
func TestStreamingFlush(t *testing.T) {
	for _, enc := range []string{"gzip", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			c := mustNew(t, Options{})
			release := make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unblock)
			first, second := "data: first\n\n", "data: second\n\n"
			srv, client := newServer(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Cache-Control", "no-cache")
				_, _ = io.WriteString(w, first)
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, second)
			})
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("Accept-Encoding", enc)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if got := res.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding = %q, want %q", got, enc)
			}

			type result struct {
				s   string
				err error
			}
			got := make(chan result, 1)
			zr := make(chan io.Reader, 1)
			go func() {
				// The decoder reads the stream header, so it is built here
				// too: nothing may wait for the handler to finish.
				r := decoder(t, enc, res.Body)
				zr <- r
				buf := make([]byte, len(first))
				_, err := io.ReadFull(r, buf)
				got <- result{string(buf), err}
			}()
			select {
			case g := <-got:
				if g.err != nil || g.s != first {
					t.Fatalf("first event = %q, %v; want %q", g.s, g.err, first)
				}
			case <-time.After(waitLimit):
				t.Fatal("first event did not arrive while the handler was running")
			}
			unblock()
			rest, err := io.ReadAll(<-zr)
			if err != nil || string(rest) != second {
				t.Errorf("rest = %q, %v; want %q", rest, err, second)
			}
		})
	}
}

// TestResponseControllerUnwrap checks that ResponseController reaches the
// real connection through Unwrap: deadlines work and hijacking works.
func TestResponseControllerUnwrap(t *testing.T) {
	c := mustNew(t, Options{})
	srv, client := newServer(t, c, func(w http.ResponseWriter, r *http.Request) {
		if _, wrapped := w.(*responseWriter); !wrapped {
			t.Errorf("handler got %T, want the compressing writer", w)
		}
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(waitLimit)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		conn, brw, err := rc.Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = brw.Flush()
	})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || string(body) != "hijacked" || res.Header.Get("Content-Encoding") != "" {
		t.Errorf("got %q, %v, Content-Encoding %q; want the hijacked reply", body, err, res.Header.Get("Content-Encoding"))
	}
}

// TestTrailersOverHTTP checks trailers on a compressed chunked response
// over a real connection.
func TestTrailersOverHTTP(t *testing.T) {
	c := mustNew(t, Options{})
	body := jsonBody(20_000, 10)
	srv, client := newServer(t, c, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trailer", "X-Count")
		_, _ = w.Write(body)
		w.Header().Set("X-Count", strconv.Itoa(len(body)))
	})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "zstd")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeBody(t, res.Header.Get("Content-Encoding"), raw); !bytes.Equal(got, body) {
		t.Errorf("decoded body differs (Content-Encoding %q)", res.Header.Get("Content-Encoding"))
	}
	if got := res.Trailer.Get("X-Count"); got != strconv.Itoa(len(body)) {
		t.Errorf("trailer X-Count = %q, want %d", got, len(body))
	}
}

// TestInterleavedResponses runs concurrent requests of every kind against
// one Compressor, so pooled writers, buffers and encoders are reused across
// goroutines; each response must decode to exactly its own body. Run it
// under -race.
func TestInterleavedResponses(t *testing.T) {
	c := mustNew(t, Options{MinLength: 2048})
	srv, client := newServer(t, c, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		seed, _ := strconv.ParseUint(q.Get("seed"), 10, 64)
		body := jsonBody(max(n, 2), seed)[:n]
		w.Header().Set("Content-Type", "application/json")
		if q.Get("known") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		bw := bufio.NewWriterSize(w, 700) // odd-sized writes
		_, _ = bw.Write(body)
		_ = bw.Flush()
		if q.Get("flush") == "1" {
			http.NewResponseController(w).Flush()
		}
	})

	const workers, perWorker = 4, 30
	sizes := []int{0, 10, 2047, 2048, 5000, 70_000}
	accepts := []string{"gzip", "zstd", "identity", "br", "zstd;q=0.5, gzip"}
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := wk*perWorker + i
				n := sizes[k%len(sizes)]
				accept := accepts[(k/len(sizes))%len(accepts)]
				known, flush := k%2, (k/3)%2
				seed := uint64(k + 1)
				url := fmt.Sprintf("%s/?n=%d&seed=%d&known=%d&flush=%d", srv.URL, n, seed, known, flush)
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Accept-Encoding", accept)
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", k, err)
					return
				}
				raw, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Errorf("request %d: reading body: %v", k, err)
					return
				}
				want := jsonBody(max(n, 2), seed)[:n]
				enc := res.Header.Get("Content-Encoding")
				if got := decodeBody(t, enc, raw); !bytes.Equal(got, want) {
					t.Errorf("request %d (n=%d, %q, known=%d, flush=%d, enc %q): body differs", k, n, accept, known, flush, enc)
				}
				// A flush commits a response of unknown length to compression.
				wantCompressed := (n >= 2048 || (flush == 1 && known == 0)) &&
					accept != "identity" && accept != "br"
				if (enc != "") != wantCompressed {
					t.Errorf("request %d (n=%d, %q, known=%d, flush=%d): Content-Encoding %q, want compressed=%v", k, n, accept, known, flush, enc, wantCompressed)
				}
			}
		}()
	}
	wg.Wait()
}
