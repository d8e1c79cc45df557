package compress

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"
)

func TestSkipRules(t *testing.T) {
	c := mustNew(t, Options{})
	body := jsonBody(4096, 1)
	tests := []struct {
		name         string
		method       string
		accept       string
		status       int
		header       map[string]string
		wantEncoding string // "" = passed through
	}{
		{name: "compressible baseline", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json"}, wantEncoding: "gzip"},
		{name: "error statuses compress too", accept: "zstd", status: 500, header: map[string]string{"Content-Type": "text/html"}, wantEncoding: "zstd"},
		{name: "already encoded", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}},
		{name: "204", accept: "gzip", status: http.StatusNoContent, header: map[string]string{"Content-Type": "application/json"}},
		{name: "304", accept: "gzip", status: http.StatusNotModified, header: map[string]string{"Content-Type": "application/json"}},
		{name: "206", accept: "gzip", status: http.StatusPartialContent, header: map[string]string{"Content-Type": "application/json", "Content-Range": "bytes 0-4095/9000"}},
		{name: "Content-Range on 200", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Range": "bytes 0-4095/4096"}},
		{name: "type not listed", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "image/png"}},
		{name: "missing Content-Type", accept: "gzip", status: 200},
		{name: "known length below minimum", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Length": "1023"}},
		{name: "no-transform", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Cache-Control": "public, No-Transform, max-age=60"}},
		{name: "HEAD", method: http.MethodHead, accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json"}},
		{name: "client refuses", accept: "gzip;q=0", status: 200, header: map[string]string{"Content-Type": "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			sent := body
			if cl, ok := tt.header["Content-Length"]; ok {
				n, _ := strconv.Atoi(cl)
				sent = body[:n]
			}
			rec := serve(c, newRequest(method, tt.accept), func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				if tt.status != http.StatusNoContent && tt.status != http.StatusNotModified && r.Method != http.MethodHead {
					_, _ = w.Write(sent)
				}
			})
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.status)
			}
			gotEnc := res.Header.Get("Content-Encoding")
			if tt.wantEncoding == "" {
				if want := tt.header["Content-Encoding"]; gotEnc != want {
					t.Errorf("Content-Encoding = %q, want %q (untouched)", gotEnc, want)
				}
				if res.Header.Get("Vary") != "" {
					t.Errorf("Vary = %q on an uncompressed response", res.Header.Get("Vary"))
				}
				if rec.Body.Len() > 0 && !bytes.Equal(rec.Body.Bytes(), sent) {
					t.Errorf("passed-through body differs (%d bytes, want %d)", rec.Body.Len(), len(sent))
				}
				return
			}
			if gotEnc != tt.wantEncoding {
				t.Fatalf("Content-Encoding = %q, want %q", gotEnc, tt.wantEncoding)
			}
			if got := decodeBody(t, gotEnc, rec.Body.Bytes()); !bytes.Equal(got, sent) {
				t.Errorf("decoded body differs (%d bytes, want %d)", len(got), len(sent))
			}
		})
	}
}

func TestInformationalAndUpgrade(t *testing.T) {
	c := mustNew(t, Options{})
	body := jsonBody(2048, 2)
	t.Run("103 is forwarded, final response compressed", func(t *testing.T) {
		base := newRecordingWriter()
		w, finish := c.Wrap(base, newRequest(http.MethodGet, "gzip"))
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		if !slices.Equal(base.codes, []int{http.StatusEarlyHints}) {
			t.Fatalf("after 103: codes = %v, want [103]", base.codes)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		finish()
		if !slices.Equal(base.codes, []int{http.StatusEarlyHints, http.StatusOK}) {
			t.Errorf("codes = %v, want [103 200]", base.codes)
		}
		if got := decodeBody(t, base.h.Get("Content-Encoding"), base.body.Bytes()); !bytes.Equal(got, body) {
			t.Errorf("decoded body differs")
		}
	})
	t.Run("101 passes through", func(t *testing.T) {
		base := newRecordingWriter()
		w, finish := c.Wrap(base, newRequest(http.MethodGet, "gzip"))
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Upgrade", "example/1")
		w.WriteHeader(http.StatusSwitchingProtocols)
		if !slices.Equal(base.codes, []int{http.StatusSwitchingProtocols}) {
			t.Errorf("codes = %v, want [101] sent at once", base.codes)
		}
		_, _ = w.Write(body)
		finish()
		if base.h.Get("Content-Encoding") != "" || !bytes.Equal(base.body.Bytes(), body) {
			t.Errorf("101 response was altered: Content-Encoding %q, %d body bytes", base.h.Get("Content-Encoding"), base.body.Len())
		}
	})
}

func TestAlgorithms(t *testing.T) {
	bodies := []struct {
		name         string
		body         []byte
		compressible bool
	}{
		{name: "json", body: jsonBody(200_000, 3), compressible: true},
		{name: "repetitive", body: bytes.Repeat([]byte("weir "), 50_000), compressible: true},
		{name: "random", body: randomBody(150_000, 4)},
		{name: "small random", body: randomBody(1500, 5)},
	}
	configs := []struct {
		name string
		opts Options
		enc  string
	}{
		{name: "gzip-1", opts: Options{Algorithms: []string{"gzip"}, GzipLevel: 1}, enc: "gzip"},
		{name: "gzip-5", opts: Options{Algorithms: []string{"gzip"}}, enc: "gzip"},
		{name: "gzip-9", opts: Options{Algorithms: []string{"gzip"}, GzipLevel: 9}, enc: "gzip"},
		{name: "zstd-1", opts: Options{Algorithms: []string{"zstd"}}, enc: "zstd"},
		{name: "zstd-2", opts: Options{Algorithms: []string{"zstd"}, ZstdLevel: 2}, enc: "zstd"},
		{name: "zstd-3", opts: Options{Algorithms: []string{"zstd"}, ZstdLevel: 3}, enc: "zstd"},
		{name: "zstd-4", opts: Options{Algorithms: []string{"zstd"}, ZstdLevel: 4}, enc: "zstd"},
	}
	for _, cfg := range configs {
		c := mustNew(t, cfg.opts)
		for _, b := range bodies {
			for _, known := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/known-length=%v", cfg.name, b.name, known), func(t *testing.T) {
					rec := serve(c, newRequest(http.MethodGet, "gzip, zstd"), func(w http.ResponseWriter, _ *http.Request) {
						w.Header().Set("Content-Type", "application/json")
						if known {
							w.Header().Set("Content-Length", strconv.Itoa(len(b.body)))
						}
						// Write in proxy-sized pieces.
						for rest := b.body; len(rest) > 0; {
							n := min(len(rest), 32<<10)
							if _, err := w.Write(rest[:n]); err != nil {
								t.Errorf("Write: %v", err)
								return
							}
							rest = rest[n:]
						}
					})
					res := rec.Result()
					if got := res.Header.Get("Content-Encoding"); got != cfg.enc {
						t.Fatalf("Content-Encoding = %q, want %q", got, cfg.enc)
					}
					if res.Header.Get("Content-Length") != "" {
						t.Errorf("Content-Length %q kept on a compressed response", res.Header.Get("Content-Length"))
					}
					got := decodeBody(t, cfg.enc, rec.Body.Bytes())
					if !bytes.Equal(got, b.body) {
						t.Fatalf("decoded %d bytes, want %d identical bytes", len(got), len(b.body))
					}
					if b.compressible && rec.Body.Len() >= len(b.body)/2 {
						t.Errorf("compressed to %d of %d bytes; expected at least 2:1", rec.Body.Len(), len(b.body))
					}
				})
			}
		}
	}
}

func TestMinLength(t *testing.T) {
	def := mustNew(t, Options{})               // 1024
	none := mustNew(t, Options{MinLength: -1}) // no minimum
	tests := []struct {
		name     string
		c        *Compressor
		size     int
		known    bool
		chunk    int // write size; 0 = one write
		wantComp bool
	}{
		{name: "known below", c: def, size: 1023, known: true, wantComp: false},
		{name: "known at minimum", c: def, size: 1024, known: true, wantComp: true},
		{name: "known zero", c: none, size: 0, known: true, wantComp: false},
		{name: "unknown below, one write", c: def, size: 1023, wantComp: false},
		{name: "unknown below, small writes", c: def, size: 1023, chunk: 100, wantComp: false},
		{name: "unknown at minimum, small writes", c: def, size: 1024, chunk: 100, wantComp: true},
		{name: "unknown large, one write", c: def, size: 50_000, wantComp: true},
		{name: "unknown large, small writes", c: def, size: 5000, chunk: 7, wantComp: true},
		{name: "unknown empty", c: def, size: 0, wantComp: false},
		{name: "no minimum, tiny unknown", c: none, size: 10, wantComp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := jsonBody(max(tt.size, 2), 6)[:tt.size]
			rec := serve(tt.c, newRequest(http.MethodGet, "gzip"), func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tt.known {
					w.Header().Set("Content-Length", strconv.Itoa(tt.size))
				}
				chunk := tt.chunk
				if chunk == 0 {
					chunk = max(tt.size, 1)
				}
				for rest := body; len(rest) > 0; {
					n := min(len(rest), chunk)
					if k, err := w.Write(rest[:n]); k != n || err != nil {
						t.Errorf("Write = %d, %v; want %d, nil", k, err, n)
					}
					rest = rest[n:]
				}
			})
			res := rec.Result()
			enc := res.Header.Get("Content-Encoding")
			if (enc == "gzip") != tt.wantComp {
				t.Fatalf("Content-Encoding = %q, want compressed=%v", enc, tt.wantComp)
			}
			if got := decodeBody(t, enc, rec.Body.Bytes()); !bytes.Equal(got, body) {
				t.Errorf("body differs: got %d bytes, want %d", len(got), len(body))
			}
			if res.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", res.StatusCode)
			}
		})
	}
}

func TestHeaderRewrites(t *testing.T) {
	c := mustNew(t, Options{})
	body := jsonBody(3000, 7)
	tests := []struct {
		name      string
		header    http.Header
		wantVary  []string
		wantETag  string
		wantRange string
	}{
		{name: "no Vary, strong ETag", header: http.Header{"Etag": {`"abc"`}, "Accept-Ranges": {"bytes"}}, wantVary: []string{"Accept-Encoding"}, wantETag: `W/"abc"`},
		{name: "weak ETag kept", header: http.Header{"Etag": {`W/"abc"`}}, wantVary: []string{"Accept-Encoding"}, wantETag: `W/"abc"`},
		{name: "no ETag added", header: http.Header{}, wantVary: []string{"Accept-Encoding"}},
		{name: "Vary merged", header: http.Header{"Vary": {"Origin"}}, wantVary: []string{"Origin", "Accept-Encoding"}},
		{name: "Vary already has it", header: http.Header{"Vary": {"Origin, accept-encoding"}}, wantVary: []string{"Origin, accept-encoding"}},
		{name: "Vary already has it on a second line", header: http.Header{"Vary": {"Origin", "Accept-Encoding"}}, wantVary: []string{"Origin", "Accept-Encoding"}},
		{name: "Vary star", header: http.Header{"Vary": {"*"}}, wantVary: []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(c, newRequest(http.MethodGet, "zstd"), func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = slices.Clone(v)
				}
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				_, _ = w.Write(body)
			})
			res := rec.Result()
			if res.Header.Get("Content-Encoding") != "zstd" {
				t.Fatalf("Content-Encoding = %q, want zstd", res.Header.Get("Content-Encoding"))
			}
			if got := res.Header.Values("Vary"); !slices.Equal(got, tt.wantVary) {
				t.Errorf("Vary = %q, want %q", got, tt.wantVary)
			}
			if got := res.Header.Get("ETag"); got != tt.wantETag {
				t.Errorf("ETag = %q, want %q", got, tt.wantETag)
			}
			if got := res.Header.Get("Accept-Ranges"); got != "" {
				t.Errorf("Accept-Ranges = %q kept on a compressed response", got)
			}
			if got := decodeBody(t, "zstd", rec.Body.Bytes()); !bytes.Equal(got, body) {
				t.Errorf("decoded body differs")
			}
		})
	}
	t.Run("passthrough leaves headers alone", func(t *testing.T) {
		rec := serve(c, newRequest(http.MethodGet, "gzip"), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		})
		res := rec.Result()
		if res.Header.Get("ETag") != `"abc"` || res.Header.Get("Content-Length") != strconv.Itoa(len(body)) || res.Header.Get("Vary") != "" {
			t.Errorf("headers changed: %v", res.Header)
		}
	})
}

func TestTrailers(t *testing.T) {
	c := mustNew(t, Options{})
	body := jsonBody(5000, 8)
	rec := serve(c, newRequest(http.MethodGet, "gzip"), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = w.Write(body)
		w.Header().Set("X-Checksum", "declared")
		w.Header().Set(http.TrailerPrefix+"X-Late", "undeclared")
	})
	res := rec.Result()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", res.Header.Get("Content-Encoding"))
	}
	if got := res.Trailer.Get("X-Checksum"); got != "declared" {
		t.Errorf("trailer X-Checksum = %q, want %q", got, "declared")
	}
	if got := res.Trailer.Get("X-Late"); got != "undeclared" {
		t.Errorf("trailer X-Late = %q, want %q", got, "undeclared")
	}
	if got := decodeBody(t, "gzip", rec.Body.Bytes()); !bytes.Equal(got, body) {
		t.Errorf("decoded body differs")
	}
}

func TestFlushWithoutUnderlyingFlusher(t *testing.T) {
	c := mustNew(t, Options{})
	base := newRecordingWriter() // no Flush method, no Unwrap
	w, finish := c.Wrap(base, newRequest(http.MethodGet, "gzip"))
	defer finish()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("hello"))
	err := http.NewResponseController(w).Flush()
	if !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("Flush error = %v, want ErrNotSupported", err)
	}
	if base.h.Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding = %q: flushing should commit to compression", base.h.Get("Content-Encoding"))
	}
}

func TestFlushCommitsAndFlushesUnderlying(t *testing.T) {
	c := mustNew(t, Options{})
	base := flushingWriter{newRecordingWriter()}
	w, finish := c.Wrap(base, newRequest(http.MethodGet, "zstd"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.(http.Flusher).Flush() // before any body: sends the headers
	if !slices.Equal(base.codes, []int{http.StatusOK}) || base.flushes != 1 {
		t.Fatalf("after Flush: codes %v, %d flushes; want [200], 1", base.codes, base.flushes)
	}
	_, _ = w.Write([]byte("data: one\n\n"))
	before := base.body.Len()
	w.(http.Flusher).Flush()
	if base.body.Len() == before || base.flushes != 2 {
		t.Errorf("Flush did not push encoder output (%d -> %d bytes, %d flushes)", before, base.body.Len(), base.flushes)
	}
	finish()
	if got := decodeBody(t, "zstd", base.body.Bytes()); string(got) != "data: one\n\n" {
		t.Errorf("decoded %q", got)
	}
}

func TestWriteAfterFinish(t *testing.T) {
	c := mustNew(t, Options{})
	w, finish := c.Wrap(newRecordingWriter(), newRequest(http.MethodGet, "gzip"))
	finish()
	finish() // a second call is harmless before the writer is reused
	if _, err := w.Write([]byte("late")); !errors.Is(err, errFinished) {
		t.Errorf("Write after finish = %v, want errFinished", err)
	}
}

// TestPoolReuseSequential checks that a pooled writer's look-ahead buffer
// and encoder carry nothing from one response into the next.
func TestPoolReuseSequential(t *testing.T) {
	c := mustNew(t, Options{MinLength: 4096})
	type step struct {
		name     string
		accept   string
		fill     byte
		size     int
		wantComp bool
	}
	steps := []step{
		{name: "buffered then compressed", accept: "gzip", fill: 'A', size: 6000, wantComp: true},
		{name: "short, from the same buffer", accept: "gzip", fill: 'B', size: 100},
		{name: "compressed with a reused encoder", accept: "gzip", fill: 'C', size: 5000, wantComp: true},
		{name: "zstd", accept: "zstd", fill: 'D', size: 9000, wantComp: true},
		{name: "zstd reused", accept: "zstd", fill: 'E', size: 4096, wantComp: true},
		{name: "short again", accept: "zstd", fill: 'F', size: 1},
	}
	for _, s := range steps {
		body := bytes.Repeat([]byte{s.fill}, s.size)
		rec := serve(c, newRequest(http.MethodGet, s.accept), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for rest := body; len(rest) > 0; {
				n := min(len(rest), 1000)
				_, _ = w.Write(rest[:n])
				rest = rest[n:]
			}
		})
		enc := rec.Result().Header.Get("Content-Encoding")
		if (enc != "") != s.wantComp {
			t.Errorf("%s: Content-Encoding = %q, want compressed=%v", s.name, enc, s.wantComp)
			continue
		}
		if got := decodeBody(t, enc, rec.Body.Bytes()); !bytes.Equal(got, body) {
			t.Errorf("%s: got %d bytes (%q...), want %d x %q", s.name, len(got), got[:min(len(got), 8)], s.size, s.fill)
		}
	}
}

// discardWriter is a ResponseWriter that keeps only a count, for
// allocation tests and benchmarks.
type discardWriter struct {
	h      http.Header
	status int
	n      int64
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discardWriter) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}
func (d *discardWriter) Flush() {}

var (
	jsonType   = []string{"application/json"}
	textType   = []string{"text/plain"}
	benchCTLen = []string{strconv.Itoa(100 << 10)}
)

// compressOnce runs one compressed response of body through c onto d.
func compressOnce(c *Compressor, d *discardWriter, r *http.Request, body []byte, lengthKnown bool) {
	clear(d.h)
	d.h["Content-Type"] = jsonType
	if lengthKnown {
		d.h["Content-Length"] = benchCTLen
	}
	d.status, d.n = 0, 0
	w, finish := c.Wrap(d, r)
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		_, _ = w.Write(rest[:n])
		rest = rest[n:]
	}
	finish()
}

// TestSteadyStateAllocs pins the allocation budget of a compressed
// response once the pools are warm: nothing in this package or in the gzip
// encoder. The zstd encoder (klauspost/compress v1.20.3, zstd/encoder.go
// nextBlock) heap-allocates its 14-byte frame-header scratch array once per
// frame when the body spans more than one block, because it passes it to an
// io.Writer; that one allocation is outside this package's control. GC is
// paused so sync.Pool cannot be emptied mid-run.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation pinning needs a normal build (sync.Pool drops items under -race)")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	body := jsonBody(100<<10, 9)
	budget := map[string]float64{"gzip": 0, "zstd": 1}
	for _, enc := range []string{"gzip", "zstd"} {
		for _, known := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/known-length=%v", enc, known), func(t *testing.T) {
				c := mustNew(t, Options{})
				r := newRequest(http.MethodGet, enc)
				d := &discardWriter{h: make(http.Header)}
				compressOnce(c, d, r, body, known) // warm the pools
				allocs := testing.AllocsPerRun(20, func() { compressOnce(c, d, r, body, known) })
				if allocs > budget[enc] {
					t.Errorf("%v allocations per compressed response, want at most %v", allocs, budget[enc])
				}
				if d.h.Get("Content-Encoding") != enc || d.n == 0 || d.n >= int64(len(body)) {
					t.Errorf("response not compressed: Content-Encoding %q, %d bytes", d.h.Get("Content-Encoding"), d.n)
				}
			})
		}
	}
}
