package h1server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/host/internal/httpwire"
)

// response is the http.ResponseWriter of one request; it lives in the
// conn and is reused.
type response struct {
	c           *conn
	req         *http.Request
	hdr         http.Header
	status      int
	wroteHeader bool
	bodyless    bool // HEAD, 1xx, 204, 304: no body bytes
	head        bool // HEAD: body writes are discarded silently
	chunked     bool
	cl          int64 // declared Content-Length, -1 none
	written     int64
	closeAfter  bool
	aborted     bool
}

func (w *response) reset(r *http.Request) {
	w.req = r
	clear(w.hdr)
	w.status = 0
	w.wroteHeader, w.bodyless, w.head, w.chunked, w.aborted = false, false, false, false, false
	w.cl, w.written = -1, 0
	w.closeAfter = r.Close
}

// Header implements http.ResponseWriter.
func (w *response) Header() http.Header { return w.hdr }

// WriteHeader implements http.ResponseWriter. Interim (1xx other than
// 101) responses are written at once and the final one can follow.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.c.hijacked {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		if w.req.ProtoMinor == 0 {
			return // an HTTP/1.0 client would take it for the response (RFC 9110 §15.2)
		}
		bw := w.c.bw
		bw.WriteString("HTTP/1.1 ")
		bw.WriteString(statusLine(code))
		bw.WriteString("\r\n")
		w.writeFields()
		bw.WriteString("\r\n")
		bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.writeHead()
}

// writeHead writes the status line and fields of the final response into
// the connection's buffer; they leave with the first body bytes.
func (w *response) writeHead() {
	bw := w.c.bw
	code := w.status
	r := w.req
	w.head = r.Method == http.MethodHead
	w.bodyless = w.head || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
	if v := w.hdr["Content-Length"]; len(v) > 0 {
		if n, ok := httpwire.ParseContentLength([]byte(v[0])); ok && code != http.StatusNoContent && code >= 200 {
			w.cl = n
		} else {
			delete(w.hdr, "Content-Length")
		}
	}
	for _, v := range w.hdr["Connection"] {
		if strings.Contains(strings.ToLower(v), "close") {
			w.closeAfter = true
		}
	}
	if w.c.srv.shutdown.Load() {
		w.closeAfter = true // tell the client before it sends another request
	}
	if w.c.body.tooLongToDrain() {
		// The handler answers without reading a body too long to drain:
		// the connection will close after this response, so say so.
		w.closeAfter = true
	}
	if w.c.body.expect {
		// The client still waits for 100 Continue and may or may not send
		// the body now: only closing is unambiguous (see drain), so say so.
		w.closeAfter = true
	}
	switch {
	case code == http.StatusSwitchingProtocols, w.bodyless, w.cl >= 0:
	case r.ProtoMinor == 1:
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0 and no length: the body ends with the connection
	}

	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(statusLine(code))
	bw.WriteString("\r\n")
	w.writeFields()
	if w.cl >= 0 {
		// The one length the writer enforces, whatever else the map held.
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.cl, 10))
		bw.WriteString("\r\n")
	}
	if _, ok := w.hdr["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate())
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		if _, ok := w.hdr["Connection"]; !ok {
			bw.WriteString("Connection: close\r\n")
		}
	} else if r.ProtoMinor == 0 {
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}

// writeFields writes the header map. Framing fields the server owns
// (Content-Length, Transfer-Encoding) are skipped; a value with a line
// break (never valid) has it replaced by a space, as net/http does, so no
// handler can split the response.
func (w *response) writeFields() {
	bw := w.c.bw
	for k, vv := range w.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) || k == "Transfer-Encoding" || k == "Content-Length" {
			continue
		}
		if !validFieldName(k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !httpwire.IsTokenByte(k[i]) {
			return false
		}
	}
	return true
}

// Write implements http.ResponseWriter.
func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.bodyless {
		if w.head {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, nil
	}
	var err error
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		p = p[:w.cl-w.written]
		err = http.ErrContentLength
	}
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, werr := bw.Write(p)
	w.written += int64(n)
	if w.chunked {
		bw.WriteString("\r\n")
	}
	if werr != nil {
		return n, werr
	}
	return n, err
}

// Flush implements http.Flusher.
func (w *response) Flush() { w.FlushError() }

// FlushError flushes buffered bytes to the client (for
// http.ResponseController).
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.c.bw.Flush()
}

// ConnScratch returns storage that lives as long as the connection, for
// the handler to keep per-request state it can reuse on the
// connection's next request. The next request starts only after this
// one's response is finished, so what the handler keeps there may still
// back this response's header values until then.
func (w *response) ConnScratch() *any { return &w.c.scratch }

// Hijack implements http.Hijacker (WebSocket upgrades).
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.wroteHeader {
		if err := w.c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	return w.c.hijack()
}

// finish completes the response after the handler returned.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for k, vv := range w.hdr {
			name, ok := strings.CutPrefix(k, http.TrailerPrefix)
			if !ok || !validFieldName(name) {
				continue
			}
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n") {
					continue
				}
				bw.WriteString(name)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	if w.cl >= 0 && !w.bodyless && w.written < w.cl {
		w.closeAfter = true // short body: only closing tells the client
	}
	return bw.Flush()
}

// statusLines caches "200 OK" and friends.
var statusLines = func() (t [600]string) {
	for code := 100; code < 600; code++ {
		if txt := http.StatusText(code); txt != "" {
			t[code] = strconv.Itoa(code) + " " + txt
		}
	}
	return
}()

func statusLine(code int) string {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code) + " Status " + strconv.Itoa(code)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type dateEntry struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[dateEntry]

// httpDate returns the Date header value, formatted once per second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if e := dateCache.Load(); e != nil && e.sec == sec {
		return e.s
	}
	s := now.UTC().Format(http.TimeFormat)
	dateCache.Store(&dateEntry{sec: sec, s: s})
	return s
}
