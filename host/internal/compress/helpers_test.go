package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// mustNew builds a Compressor or fails the test.
func mustNew(tb testing.TB, o Options) *Compressor {
	tb.Helper()
	c, err := New(o)
	if err != nil {
		tb.Fatalf("New(%+v): %v", o, err)
	}
	return c
}

// newRequest builds a GET (or method) request with the given
// Accept-Encoding; acceptEncoding "-" means no header at all.
func newRequest(method, acceptEncoding string) *http.Request {
	r := httptest.NewRequest(method, "http://example.test/x", nil)
	if acceptEncoding != "-" {
		r.Header.Set("Accept-Encoding", acceptEncoding)
	}
	return r
}

// serve runs h behind c.Wrap on a ResponseRecorder and calls finish.
func serve(c *Compressor, r *http.Request, h http.HandlerFunc) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w, finish := c.Wrap(rec, r)
	h(w, r)
	finish()
	return rec
}

// decodeBody decodes body according to the Content-Encoding value enc
// ("" for identity). gzip is decoded with the standard library, so the
// encoder is checked against an independent implementation.
func decodeBody(tb testing.TB, enc string, body []byte) []byte {
	tb.Helper()
	switch enc {
	case "":
		return body
	case "gzip":
		zr, err := stdgzip.NewReader(bytes.NewReader(body))
		if err != nil {
			tb.Fatalf("gzip header: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			tb.Fatalf("gzip body: %v", err)
		}
		return out
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
		if err != nil {
			tb.Fatalf("zstd reader: %v", err)
		}
		defer zr.Close()
		out, err := io.ReadAll(zr)
		if err != nil {
			tb.Fatalf("zstd body: %v", err)
		}
		return out
	default:
		tb.Fatalf("unexpected Content-Encoding %q", enc)
		return nil
	}
}

// jsonBody returns a deterministic, realistic JSON array of exactly n
// bytes (n >= 2): records with ids, names, e-mail addresses, tags and
// numbers, as an API would return.
func jsonBody(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
		"india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa"}
	b := make([]byte, 0, n)
	b = append(b, '[')
	var rec []byte
	for i := 0; ; i++ {
		rec = rec[:0]
		if i > 0 {
			rec = append(rec, ',')
		}
		rec = append(rec, `{"id":`...)
		rec = strconv.AppendInt(rec, int64(100000+r.IntN(900000)), 10)
		rec = append(rec, `,"name":"`...)
		rec = append(rec, words[r.IntN(len(words))]...)
		rec = append(rec, ' ')
		rec = append(rec, words[r.IntN(len(words))]...)
		rec = append(rec, `","email":"`...)
		rec = append(rec, words[r.IntN(len(words))]...)
		rec = strconv.AppendInt(rec, int64(r.IntN(1000)), 10)
		rec = append(rec, `@example.com","active":`...)
		rec = strconv.AppendBool(rec, r.IntN(2) == 0)
		rec = append(rec, `,"score":`...)
		rec = strconv.AppendFloat(rec, r.Float64()*100, 'f', 3, 64)
		rec = append(rec, `,"tags":["`...)
		rec = append(rec, words[r.IntN(len(words))]...)
		rec = append(rec, `","`...)
		rec = append(rec, words[r.IntN(len(words))]...)
		rec = append(rec, `"]}`...)
		if len(b)+len(rec)+1 > n {
			break
		}
		b = append(b, rec...)
	}
	for len(b) < n-1 {
		b = append(b, ' ') // JSON whitespace pads to the exact size
	}
	return append(b, ']')
}

// randomBody returns n incompressible bytes.
func randomBody(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// recordingWriter is a minimal ResponseWriter that records every status it
// is sent (1xx included) and, when flushable, every flush.
type recordingWriter struct {
	h       http.Header
	codes   []int
	body    bytes.Buffer
	flushes int
}

func newRecordingWriter() *recordingWriter { return &recordingWriter{h: make(http.Header)} }

func (w *recordingWriter) Header() http.Header { return w.h }
func (w *recordingWriter) WriteHeader(code int) {
	w.codes = append(w.codes, code)
}
func (w *recordingWriter) Write(p []byte) (int, error) {
	if len(w.codes) == 0 {
		w.codes = append(w.codes, http.StatusOK)
	}
	return w.body.Write(p)
}

// flushingWriter adds http.Flusher to recordingWriter.
type flushingWriter struct{ *recordingWriter }

func (w flushingWriter) Flush() { w.flushes++ }
