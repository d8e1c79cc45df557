package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// respHead is a parsed HTTP/1.x response head. Header names and values
// point into one string allocated per response (vals), so copying the
// head into an http.Header costs two allocations whatever the header count.
type respHead struct {
	major, minor int
	status       int
	fields       []field // parsed fields in order
	raw          []byte  // value bytes of all fields, appended
	contentLen   int64   // -1 unknown
	chunked      bool
	close        bool // Connection: close, or HTTP/1.0 without keep-alive
	connTokens   []field
	hasServer    bool
	hasTrailer   bool
	upgrade      bool // Upgrade header present
}

type field struct {
	name       string // canonical
	start, end int    // value bytes in raw
	hop        bool   // hop-by-hop: not forwarded
}

var (
	errMalformed = errors.New("malformed HTTP response from upstream")
	errTooLarge  = errors.New("upstream response head too large")
)

const maxHeadBytes = 64 << 10
const maxFields = 256

// readHead parses a response head from br into h. It reports
// gotBytes=false when the connection ended before any byte arrived (the
// signature of a stale keep-alive connection).
func (h *respHead) read(br *bufio.Reader) (gotBytes bool, err error) {
	h.fields = h.fields[:0]
	h.raw = h.raw[:0]
	h.connTokens = h.connTokens[:0]
	h.contentLen = -1
	h.chunked, h.close, h.hasServer, h.hasTrailer, h.upgrade = false, false, false, false, false

	line, err := br.ReadSlice('\n')
	if len(line) == 0 && err != nil {
		return false, err
	}
	if err != nil {
		return true, errMalformed
	}
	line = trimEOL(line)
	// HTTP/1.1 200 OK
	if len(line) < 12 || string(line[:5]) != "HTTP/" || line[6] != '.' || line[8] != ' ' ||
		!isDigit(line[5]) || !isDigit(line[7]) {
		return true, errMalformed
	}
	h.major, h.minor = int(line[5]-'0'), int(line[7]-'0')
	if !isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return true, errMalformed
	}
	h.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if h.status < 100 {
		return true, errMalformed
	}
	total := len(line)
	keepAlive := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return true, errTooLarge
			}
			return true, errMalformed
		}
		total += len(line)
		if total > maxHeadBytes || len(h.fields) >= maxFields {
			return true, errTooLarge
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return true, errMalformed // obsolete line folding: refuse (RFC 9112 §5.2)
		}
		colon := -1
		for i, b := range line {
			if b == ':' {
				colon = i
				break
			}
			if !isTokenByte(b) {
				return true, errMalformed
			}
		}
		if colon <= 0 {
			return true, errMalformed
		}
		name := canonicalName(line[:colon])
		v := trimSpace(line[colon+1:])
		for _, b := range v {
			if b == 0 || b == '\r' || b == '\n' {
				return true, errMalformed
			}
		}
		f := field{name: name, start: len(h.raw)}
		h.raw = append(h.raw, v...)
		f.end = len(h.raw)
		switch name {
		case "Content-Length":
			n, ok := parseContentLength(v)
			if !ok || (h.contentLen >= 0 && h.contentLen != n) {
				return true, errMalformed
			}
			h.contentLen = n
		case "Transfer-Encoding":
			f.hop = true
			if !asciiEqualFold(lastToken(v), "chunked") {
				return true, errMalformed // only chunked is understood on the wire
			}
			h.chunked = true
		case "Connection":
			f.hop = true
			h.parseConnection(v, &keepAlive)
		case "Keep-Alive", "Proxy-Connection", "Te", "Proxy-Authenticate":
			f.hop = true
		case "Upgrade":
			h.upgrade = true
			f.hop = true
		case "Trailer":
			// End-to-end (RFC 9110 §6.6.2), and the announcement is what
			// makes net/http send the response chunked with the trailers
			// rather than compute a Content-Length and drop them.
			h.hasTrailer = true
		case "Server":
			h.hasServer = true
		}
		h.fields = append(h.fields, f)
	}
	if h.chunked {
		h.contentLen = -1 // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3)
	}
	if h.major == 1 && h.minor == 0 && !keepAlive {
		h.close = true
	}
	// Fields named by Connection are hop-by-hop too.
	for _, tok := range h.connTokens {
		tname := h.raw[tok.start:tok.end]
		for i := range h.fields {
			if asciiEqualFold(tname, h.fields[i].name) {
				h.fields[i].hop = true
			}
		}
	}
	return true, nil
}

func (h *respHead) parseConnection(v []byte, keepAlive *bool) {
	for len(v) > 0 {
		var tok []byte
		if i := indexByte(v, ','); i >= 0 {
			tok, v = trimSpace(v[:i]), v[i+1:]
		} else {
			tok, v = trimSpace(v), nil
		}
		switch {
		case len(tok) == 0:
		case asciiEqualFold(tok, "close"):
			h.close = true
		case asciiEqualFold(tok, "keep-alive"):
			*keepAlive = true
		case asciiEqualFold(tok, "upgrade"):
		default:
			// remember the token position: it is inside raw already
			// because v is a sub-slice of the line, so copy it.
			start := len(h.raw)
			h.raw = append(h.raw, tok...)
			h.connTokens = append(h.connTokens, field{start: start, end: len(h.raw)})
		}
	}
}

// bodyless reports whether the response cannot have a body.
func (h *respHead) bodyless(method string) bool {
	return method == http.MethodHead || h.status/100 == 1 || h.status == 204 || h.status == 304
}

// copyTo writes the forwarded fields into dst using one string and one
// []string allocation for all values. extra values (already strings) are
// appended by the caller afterwards.
func (h *respHead) copyTo(dst http.Header) {
	n := 0
	for i := range h.fields {
		if !h.fields[i].hop {
			n++
		}
	}
	if n == 0 {
		return
	}
	all := string(h.raw)
	vals := make([]string, n)
	j := 0
	for i := range h.fields {
		f := &h.fields[i]
		if f.hop {
			continue
		}
		vals[j] = all[f.start:f.end]
		if prev, ok := dst[f.name]; ok {
			dst[f.name] = append(prev, vals[j])
		} else {
			dst[f.name] = vals[j : j+1 : j+1]
		}
		j++
	}
}

// bodyReader reads a response body framed by Content-Length, chunked
// encoding, or connection close. It is embedded in upConn and reused.
type bodyReader struct {
	br        *bufio.Reader
	remaining int64 // for length-framed bodies, and the current chunk
	mode      int
	done      bool
	trailer   http.Header // destination for chunked trailers (may be nil)
	err       error
}

const (
	modeLength = iota
	modeChunked
	modeEOF
)

func (b *bodyReader) reset(br *bufio.Reader, h *respHead, trailer http.Header) {
	b.br = br
	b.done = false
	b.err = nil
	b.trailer = trailer
	switch {
	case h.chunked:
		b.mode = modeChunked
		b.remaining = 0
	case h.contentLen >= 0:
		b.mode = modeLength
		b.remaining = h.contentLen
		b.done = h.contentLen == 0
	default:
		b.mode = modeEOF
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	switch b.mode {
	case modeLength:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err := b.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			b.done = true
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = err
		return n, err
	case modeEOF:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
	// chunked
	if b.remaining == 0 {
		size, err := b.readChunkSize()
		if err != nil {
			b.err = err
			return 0, err
		}
		if size == 0 {
			if err := b.readTrailer(); err != nil {
				b.err = err
				return 0, err
			}
			b.done = true
			return 0, io.EOF
		}
		b.remaining = size
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 && err == nil {
		// consume the CRLF after the chunk data
		if err = b.expectCRLF(); err != nil {
			b.err = err
			return n, err
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Buffered reports bytes readable without blocking.
func (b *bodyReader) Buffered() int { return b.br.Buffered() }

func (b *bodyReader) expectCRLF() error {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		return unexpected(err)
	}
	if len(trimEOL(line)) != 0 {
		return errMalformed
	}
	return nil
}

func (b *bodyReader) readChunkSize() (int64, error) {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		return 0, unexpected(err)
	}
	line = trimEOL(line)
	if i := indexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions are ignored
	}
	line = trimSpace(line)
	if len(line) == 0 || len(line) > 16 {
		return 0, errMalformed
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errMalformed
		}
		n = n<<4 | int64(d)
	}
	if n < 0 {
		return 0, errMalformed
	}
	return n, nil
}

func (b *bodyReader) readTrailer() error {
	total := 0
	for {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			return unexpected(err)
		}
		total += len(line)
		if total > maxHeadBytes {
			return errTooLarge
		}
		line = trimEOL(line)
		if len(line) == 0 {
			return nil
		}
		i := indexByte(line, ':')
		if i <= 0 || b.trailer == nil {
			continue
		}
		name := canonicalName(line[:i])
		switch name {
		case "Content-Length", "Transfer-Encoding", "Host", "Trailer", "Connection":
			continue // never allowed in trailers
		}
		b.trailer[http.TrailerPrefix+name] = append(b.trailer[http.TrailerPrefix+name], string(trimSpace(line[i+1:])))
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lastToken(b []byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ',' {
			return trimSpace(b[i+1:])
		}
	}
	return trimSpace(b)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func asciiEqualFold[T string | []byte](a T, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// tokenTable marks the bytes allowed in an HTTP token (RFC 9110 §5.6.2).
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isTokenByte(b byte) bool { return tokenTable[b] }

// commonNames interns the canonical form of frequent header names, so
// parsing them does not allocate.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept", "Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Allow", "Alt-Svc", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
		"Content-Range", "Content-Security-Policy", "Content-Type", "Date", "Etag", "Expires", "Keep-Alive",
		"Last-Modified", "Link", "Location", "Pragma", "Proxy-Authenticate", "Proxy-Connection",
		"Referrer-Policy", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Te",
		"Trailer", "Transfer-Encoding", "Upgrade", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options",
		"X-Frame-Options", "X-Request-Id", "X-Xss-Protection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol",
		"Sec-Websocket-Extensions", "Grpc-Status", "Grpc-Message", "X-Ratelimit-Limit", "X-Ratelimit-Remaining",
		"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset",
	} {
		m[http.CanonicalHeaderKey(n)] = http.CanonicalHeaderKey(n)
	}
	return m
}()

// canonicalName returns the canonical MIME form of a header name,
// without allocating for common names.
func canonicalName(b []byte) string {
	var buf [64]byte
	if len(b) <= len(buf) {
		upper := true
		for i, c := range b {
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
			upper = c == '-'
		}
		if s, ok := commonNames[string(buf[:len(b)])]; ok { // map lookup with []byte->string does not allocate
			return s
		}
		return string(buf[:len(b)])
	}
	return http.CanonicalHeaderKey(string(b))
}

// writeStatusAndLen helpers for the request line ------------------------

func appendInt(bw *bufio.Writer, n int64) {
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, 10))
}

func (h *respHead) String() string {
	return fmt.Sprintf("HTTP/%d.%d %d (%d fields)", h.major, h.minor, h.status, len(h.fields))
}
