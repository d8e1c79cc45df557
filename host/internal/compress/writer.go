package compress

import (
	"errors"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// errFinished is returned by writes after the finish function has run.
var errFinished = errors.New("compress: write after finish")

// maxPooledBuf bounds the look-ahead buffer a pooled writer keeps.
const maxPooledBuf = 64 << 10

type writerState uint8

const (
	stateIdle      writerState = iota // no final status yet
	stateBuffering                    // eligible, length unknown: holding < minLength bytes
	statePass                         // headers sent, body passes through
	stateCompress                     // headers sent, body goes through the encoder
	stateFinished                     // finish ran; the writer is back in the pool
)

// decision is what the response headers say about compressing.
type decision uint8

const (
	decidePass decision = iota
	decideCompress
	decideWait // eligible, but the length is unknown and a minimum applies
)

// responseWriter is the compressing http.ResponseWriter returned by Wrap.
// It shares its header map with the writer it wraps.
type responseWriter struct {
	c        *Compressor
	rw       http.ResponseWriter
	enc      encoding
	state    writerState
	status   int
	buf      []byte // look-ahead while stateBuffering
	gz       *gzip.Writer
	zw       *zstd.Encoder
	finishFn func() // w.finish, bound once when the writer is created
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
)

// Header returns the underlying writer's header map.
func (w *responseWriter) Header() http.Header { return w.rw.Header() }

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.rw }

// WriteHeader records the status and decides, if the headers allow it,
// whether the body is compressed. Informational statuses other than 101 are
// forwarded at once; the final status is forwarded when the decision is
// made (possibly at a later Write, Flush or finish).
func (w *responseWriter) WriteHeader(code int) {
	switch w.state {
	case statePass, stateCompress:
		// Superfluous: let the underlying writer deal with (and log) it.
		w.rw.WriteHeader(code)
		return
	case stateBuffering, stateFinished:
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.rw.WriteHeader(code)
		return
	}
	w.status = code
	switch w.c.decide(w.rw.Header(), code) {
	case decideCompress:
		w.startCompressing()
	case decideWait:
		w.state = stateBuffering
	default:
		w.state = statePass
		w.rw.WriteHeader(code)
	}
}

// Write writes body bytes, through the encoder when compressing. While the
// decision waits for MinLength bytes they are buffered, and Write reports
// them as written.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.state == stateIdle {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case statePass:
		return w.rw.Write(p)
	case stateCompress:
		return w.encode(p)
	case stateBuffering:
		if len(w.buf)+len(p) < w.c.minLength {
			if w.buf == nil {
				w.buf = make([]byte, 0, w.c.minLength)
			}
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.startCompressing(); err != nil {
			return 0, err
		}
		if w.state == statePass { // no encoder could be had
			return w.rw.Write(p)
		}
		return w.encode(p)
	default:
		return 0, errFinished
	}
}

// Flush sends everything written so far to the client: it flushes the
// encoder, then the underlying writer. A response still waiting for
// MinLength bytes is committed to compression first, since a flushing
// handler is streaming a body of unknown size.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with an error; http.ResponseController prefers it.
func (w *responseWriter) FlushError() error {
	if w.state == stateIdle {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case stateBuffering:
		if err := w.startCompressing(); err != nil {
			return err
		}
	case stateFinished:
		return errFinished
	}
	if w.state == stateCompress {
		var err error
		if w.gz != nil {
			err = w.gz.Flush()
		} else {
			err = w.zw.Flush()
		}
		if err != nil {
			return err
		}
	}
	return flushUnderlying(w.rw)
}

// flushUnderlying flushes rw however it supports flushing.
func flushUnderlying(rw http.ResponseWriter) error {
	switch f := rw.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(rw).Flush() // follows Unwrap chains
}

// encode writes p through the active encoder.
func (w *responseWriter) encode(p []byte) (int, error) {
	if w.gz != nil {
		return w.gz.Write(p)
	}
	return w.zw.Write(p)
}

// startCompressing rewrites the headers for the encoded body, sends them
// and feeds the encoder whatever was buffered. If no encoder can be had
// (not expected: New validated the options) it falls back to passing the
// body through.
func (w *responseWriter) startCompressing() error {
	c := w.c
	switch w.enc {
	case encGzip:
		if w.gz = c.getGzip(); w.gz != nil {
			w.gz.Reset(w.rw)
		}
	case encZstd:
		if w.zw = c.getZstd(); w.zw != nil {
			w.zw.Reset(w.rw)
		}
	}
	if w.gz == nil && w.zw == nil {
		w.state = statePass
		w.rw.WriteHeader(w.status)
		return w.flushBuffer()
	}

	h := w.rw.Header()
	h["Content-Encoding"] = encodingHeader[w.enc]
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges") // byte ranges of the identity body would not match
	addVary(h)
	weakenETag(h)
	w.state = stateCompress
	w.rw.WriteHeader(w.status)
	if len(w.buf) > 0 {
		_, err := w.encode(w.buf)
		w.buf = w.buf[:0]
		return err
	}
	return nil
}

// flushBuffer writes buffered bytes to the underlying writer unchanged.
func (w *responseWriter) flushBuffer() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.rw.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// finish completes the response and returns w to the pool. It is the
// finish function Wrap hands out.
func (w *responseWriter) finish() {
	switch w.state {
	case stateFinished:
		return
	case stateBuffering:
		// The body ended below MinLength: send it as it is.
		w.state = statePass
		w.rw.WriteHeader(w.status)
		_ = w.flushBuffer() // the handler is gone; nobody to report to
	case stateCompress:
		// Close writes the encoder's final block and trailer. An error means
		// the client went away; the handler has returned, so there is
		// nobody to report it to.
		if w.gz != nil {
			_ = w.gz.Close()
		} else {
			_ = w.zw.Close()
		}
	}
	w.release()
}

// release drops every reference to the response and returns the encoder
// and w to their pools.
func (w *responseWriter) release() {
	c := w.c
	if w.gz != nil {
		w.gz.Reset(nil)
		c.gzipPool.Put(w.gz)
		w.gz = nil
	}
	if w.zw != nil {
		w.zw.Reset(nil)
		c.zstdPool.Put(w.zw)
		w.zw = nil
	}
	if cap(w.buf) > maxPooledBuf {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	w.rw = nil
	w.enc = encNone
	w.status = 0
	w.state = stateFinished
	c.writerPool.Put(w)
}

// decide applies the skip rules to a final status and the response headers.
func (c *Compressor) decide(h http.Header, code int) decision {
	switch {
	case code < 200, // 101 Switching Protocols and malformed codes
		code == http.StatusNoContent,
		code == http.StatusPartialContent,
		code == http.StatusNotModified:
		return decidePass
	}
	if firstValue(h, "Content-Encoding") != "" { // never compress twice
		return decidePass
	}
	if _, ok := h["Content-Range"]; ok {
		return decidePass
	}
	if !c.compressibleType(firstValue(h, "Content-Type")) {
		return decidePass
	}
	if hasToken(h["Cache-Control"], "no-transform") {
		return decidePass
	}
	if n, ok := contentLength(h); ok {
		if n == 0 || n < int64(c.minLength) {
			return decidePass
		}
		return decideCompress
	}
	if c.minLength == 0 {
		return decideCompress
	}
	return decideWait
}

// firstValue is h.Get for a canonical key, without the canonicalisation.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// contentLength parses the response's Content-Length; ok is false when it
// is absent or malformed.
func contentLength(h http.Header) (n int64, ok bool) {
	s := trimOWS(firstValue(h, "Content-Length"))
	if s == "" || len(s) > 18 { // 18 digits cannot overflow int64
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// addVary adds Accept-Encoding to Vary unless it (or "*") is already there.
func addVary(h http.Header) {
	v := h["Vary"]
	if len(v) == 0 {
		h["Vary"] = varyAcceptEncoding
		return
	}
	if hasToken(v, "Accept-Encoding") || hasToken(v, "*") {
		return
	}
	h["Vary"] = append(v[:len(v):len(v)], "Accept-Encoding")
}

// weakenETag turns a strong entity tag into a weak one: the encoded body is
// not byte-for-byte the representation the tag was computed for.
func weakenETag(h http.Header) {
	v := h["Etag"]
	if len(v) == 0 || v[0] == "" || strings.HasPrefix(v[0], "W/") {
		return
	}
	h["Etag"] = []string{"W/" + v[0]}
}
