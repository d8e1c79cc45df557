// Package httpwire holds the HTTP/1.x wire primitives shared by Weir's
// upstream client (host/internal/proxy) and its HTTP/1.1 server
// (host/internal/h1server): header-name canonicalization without
// allocation, token and whitespace helpers, and a reusable body reader for
// Content-Length, chunked and close-delimited bodies. Everything here
// treats its input as hostile: lengths are bounded, and malformed framing
// is an error, never a guess.
package httpwire

import (
	"bufio"
	"errors"
	"io"
	"net/http"
)

var (
	// ErrMalformed is a framing or syntax error in an HTTP/1.x message.
	ErrMalformed = errors.New("malformed HTTP message")
	// ErrTooLarge is a head or trailer section over MaxHeadBytes.
	ErrTooLarge = errors.New("HTTP message head too large")
)

// MaxHeadBytes bounds a message head or trailer section.
const MaxHeadBytes = 64 << 10

// BodyReader reads a message body framed by Content-Length, chunked
// encoding, or connection close. It is meant to be embedded and reused:
// Reset prepares it for the next message.
type BodyReader struct {
	br        *bufio.Reader
	remaining int64 // for length-framed bodies, and the current chunk
	mode      int
	// Done is set once the whole body has been read.
	Done    bool
	trailer http.Header // destination for chunked trailers (may be nil)
	// Err is the first error the body ended with.
	Err error
}

const (
	modeLength = iota
	modeChunked
	modeEOF
)

// Remaining returns how many bytes of a length-framed body are still
// unread; known is false for chunked and close-delimited bodies.
func (b *BodyReader) Remaining() (n int64, known bool) {
	if b.Done {
		return 0, true
	}
	if b.mode != modeLength {
		return -1, false
	}
	return b.remaining, true
}

// Reset prepares b to read a body from br: chunked when chunked is set,
// else contentLength bytes, else (contentLength < 0) until EOF. Chunked
// trailers are stored in trailer under http.TrailerPrefix keys (nil: dropped).
func (b *BodyReader) Reset(br *bufio.Reader, chunked bool, contentLength int64, trailer http.Header) {
	b.br = br
	b.Done = false
	b.Err = nil
	b.trailer = trailer
	switch {
	case chunked:
		b.mode = modeChunked
		b.remaining = 0
	case contentLength >= 0:
		b.mode = modeLength
		b.remaining = contentLength
		b.Done = contentLength == 0
	default:
		b.mode = modeEOF
	}
}

func (b *BodyReader) Read(p []byte) (int, error) {
	if b.Done {
		return 0, io.EOF
	}
	if b.Err != nil {
		return 0, b.Err
	}
	switch b.mode {
	case modeLength:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err := b.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			b.Done = true
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.Err = err
		return n, err
	case modeEOF:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.Done = true
		}
		return n, err
	}
	// chunked
	if b.remaining == 0 {
		size, err := b.readChunkSize()
		if err != nil {
			b.Err = err
			return 0, err
		}
		if size == 0 {
			if err := b.readTrailer(); err != nil {
				b.Err = err
				return 0, err
			}
			b.Done = true
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
			b.Err = err
			return n, err
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.Err = err
	}
	return n, err
}

// Buffered reports bytes readable without blocking.
func (b *BodyReader) Buffered() int { return b.br.Buffered() }

func (b *BodyReader) expectCRLF() error {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		return unexpected(err)
	}
	if len(TrimEOL(line)) != 0 {
		return ErrMalformed
	}
	return nil
}

func (b *BodyReader) readChunkSize() (int64, error) {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		return 0, unexpected(err)
	}
	line = TrimEOL(line)
	if i := IndexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions are ignored
	}
	line = TrimSpace(line)
	if len(line) == 0 || len(line) > 16 {
		return 0, ErrMalformed
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
			return 0, ErrMalformed
		}
		n = n<<4 | int64(d)
	}
	if n < 0 {
		return 0, ErrMalformed
	}
	return n, nil
}

func (b *BodyReader) readTrailer() error {
	total := 0
	for {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			return unexpected(err)
		}
		total += len(line)
		if total > MaxHeadBytes {
			return ErrTooLarge
		}
		line = TrimEOL(line)
		if len(line) == 0 {
			return nil
		}
		i := IndexByte(line, ':')
		if i <= 0 || b.trailer == nil {
			continue
		}
		name := CanonicalName(line[:i])
		switch name {
		case "Content-Length", "Transfer-Encoding", "Host", "Trailer", "Connection":
			continue // never allowed in trailers
		}
		b.trailer[http.TrailerPrefix+name] = append(b.trailer[http.TrailerPrefix+name], string(TrimSpace(line[i+1:])))
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func TrimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func LastToken(b []byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ',' {
			return TrimSpace(b[i+1:])
		}
	}
	return TrimSpace(b)
}

func IndexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func IsDigit(b byte) bool { return '0' <= b && b <= '9' }

func ParseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !IsDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func EqualFold[T string | []byte](a T, b string) bool {
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

func IsTokenByte(b byte) bool { return tokenTable[b] }

// commonNames interns the canonical form of frequent header names, so
// parsing them does not allocate.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cookie", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "Origin", "Referer", "User-Agent", "X-Forwarded-For",
		"X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Real-Ip", "X-Api-Key", "Sec-Websocket-Key",
		"Sec-Websocket-Version", "Upgrade-Insecure-Requests", "Dnt", "Forwarded", "Expect", "Range",
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
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

// CanonicalName returns the canonical MIME form of a header name,
// without allocating for common names.
func CanonicalName(b []byte) string {
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
