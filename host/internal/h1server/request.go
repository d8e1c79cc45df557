package h1server

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/weirproxy/weir/host/internal/httpwire"
)

// parser turns a request head into c.req. Its buffers are reused across
// the requests of a connection.
type parser struct {
	raw    []byte // request target, then every header value
	fields []hfield
}

type hfield struct {
	name       string
	start, end int
}

const maxFields = 256

var (
	errBadRequest = errors.New("bad request")
	chunkedTE     = []string{"chunked"}
)

// readRequest parses the next request head from c.br into c.req. On a
// malformed request it returns the status to answer with (and an error);
// status 0 means the connection simply ended.
func (p *parser) readRequest(c *conn) (status int, err error) {
	br := c.br
	p.raw = p.raw[:0]
	p.fields = p.fields[:0]

	var line []byte
	for blank := 0; ; blank++ {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return http.StatusRequestURITooLong, err
			}
			if len(line) > 0 {
				return http.StatusBadRequest, err
			}
			return 0, err
		}
		line = httpwire.TrimEOL(line)
		if len(line) > 0 {
			break
		}
		if blank > 2 { // RFC 9112 §2.2: ignore at least one empty line
			return http.StatusBadRequest, errBadRequest
		}
	}
	total := len(line)

	// request-line = method SP request-target SP HTTP-version
	sp1 := httpwire.IndexByte(line, ' ')
	if sp1 <= 0 {
		return http.StatusBadRequest, errBadRequest
	}
	method := line[:sp1]
	for _, b := range method {
		if !httpwire.IsTokenByte(b) {
			return http.StatusBadRequest, errBadRequest
		}
	}
	rest := line[sp1+1:]
	sp2 := httpwire.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return http.StatusBadRequest, errBadRequest
	}
	target, version := rest[:sp2], rest[sp2+1:]
	for _, b := range target {
		// A fragment is never sent (RFC 9112 §3.2); in the query or an
		// absolute-form target it would reach the upstream as data.
		if b <= ' ' || b == 0x7f || b == '#' {
			return http.StatusBadRequest, errBadRequest
		}
	}
	var minor int
	switch string(version) {
	case "HTTP/1.1":
		minor = 1
	case "HTTP/1.0":
		minor = 0
	default:
		if len(version) > 5 && string(version[:5]) == "HTTP/" {
			return http.StatusHTTPVersionNotSupported, errBadRequest
		}
		return http.StatusBadRequest, errBadRequest
	}
	methodStr := internMethod(method)
	if methodStr == http.MethodConnect {
		return http.StatusMethodNotAllowed, errBadRequest // Weir is not a forward proxy
	}
	p.raw = append(p.raw, target...)
	targetEnd := len(p.raw)

	// header fields
	var (
		contentLength int64 = -1
		chunked       bool
		hosts         int
		hostField     = -1
		closeConn     = minor == 0
		expect        bool
		teSeen        bool
	)
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return http.StatusRequestHeaderFieldsTooLarge, err
			}
			return http.StatusBadRequest, err
		}
		total += len(line)
		if total > c.srv.MaxHeaderBytes {
			return http.StatusRequestHeaderFieldsTooLarge, errBadRequest
		}
		line = httpwire.TrimEOL(line)
		if len(line) == 0 {
			break
		}
		if len(p.fields) == maxFields {
			return http.StatusRequestHeaderFieldsTooLarge, errBadRequest
		}
		colon := -1
		for i, b := range line {
			if b == ':' {
				colon = i
				break
			}
			if !httpwire.IsTokenByte(b) {
				return http.StatusBadRequest, errBadRequest // includes obs-fold and space before the colon
			}
		}
		if colon <= 0 {
			return http.StatusBadRequest, errBadRequest
		}
		v := httpwire.TrimSpace(line[colon+1:])
		for _, b := range v {
			if (b < ' ' && b != '\t') || b == 0x7f {
				return http.StatusBadRequest, errBadRequest
			}
		}
		if httpwire.IndexByte(line[:colon], '_') >= 0 {
			// Dropped, as nginx does by default (underscores_in_headers
			// off): CGI-style backends read "Transfer_Encoding" as
			// Transfer-Encoding, a smuggling vector past the proxy's own
			// framing checks.
			continue
		}
		name := httpwire.CanonicalName(line[:colon])
		switch name {
		case "Host":
			if !validHost(v) {
				return http.StatusBadRequest, errBadRequest
			}
			hosts++
			hostField = len(p.fields)
		case "Content-Length":
			n, ok := httpwire.ParseContentLength(v)
			if !ok || (contentLength >= 0 && contentLength != n) {
				return http.StatusBadRequest, errBadRequest
			}
			contentLength = n
		case "Transfer-Encoding":
			if teSeen || !httpwire.EqualFold(v, "chunked") {
				if teSeen {
					return http.StatusBadRequest, errBadRequest
				}
				return http.StatusNotImplemented, errBadRequest
			}
			teSeen, chunked = true, true
		case "Connection":
			for rest := v; len(rest) > 0; {
				var tok []byte
				if i := httpwire.IndexByte(rest, ','); i >= 0 {
					tok, rest = httpwire.TrimSpace(rest[:i]), rest[i+1:]
				} else {
					tok, rest = httpwire.TrimSpace(rest), nil
				}
				switch {
				case httpwire.EqualFold(tok, "close"):
					closeConn = true
				case httpwire.EqualFold(tok, "keep-alive") && minor == 0:
					closeConn = false
				}
			}
		case "Expect":
			if !httpwire.EqualFold(v, "100-continue") {
				return http.StatusExpectationFailed, errBadRequest
			}
			expect = minor == 1
		}
		f := hfield{name: name, start: len(p.raw)}
		p.raw = append(p.raw, v...)
		f.end = len(p.raw)
		p.fields = append(p.fields, f)
	}
	if chunked && (contentLength >= 0 || minor == 0) {
		// Both framings, or chunked in HTTP/1.0: the classic smuggling
		// vectors (RFC 9112 §6.1, §6.3). Refuse rather than pick one.
		return http.StatusBadRequest, errBadRequest
	}
	if hosts > 1 || (hosts == 0 && minor == 1) {
		return http.StatusBadRequest, errBadRequest
	}

	// One string for the target and every value, one slice for the values.
	all := string(p.raw)
	hdr := c.hdr
	clear(hdr)
	if len(p.fields) > 0 {
		vals := make([]string, len(p.fields))
		for i := range p.fields {
			f := &p.fields[i]
			vals[i] = all[f.start:f.end]
			if prev, ok := hdr[f.name]; ok {
				hdr[f.name] = append(prev, vals[i])
			} else {
				hdr[f.name] = vals[i : i+1 : i+1]
			}
		}
	}

	r := &c.req
	*r = c.reqInit // clears what the last handler or a ServeMux left, unexported fields too
	r.Method = methodStr
	r.Proto = protoString(minor)
	r.ProtoMajor, r.ProtoMinor = 1, minor
	r.Header = hdr
	r.RequestURI = all[:targetEnd]
	r.RemoteAddr = c.remote
	r.Close = closeConn
	r.Host = ""
	if hostField >= 0 {
		f := p.fields[hostField]
		r.Host = all[f.start:f.end]
	}
	if status := setURL(c, r); status != 0 {
		return status, errBadRequest
	}
	switch {
	case chunked:
		r.ContentLength = -1
		r.TransferEncoding = chunkedTE
		c.body.reset(true, 0, expect)
		r.Body = &c.body
	case contentLength > 0:
		r.ContentLength = contentLength
		c.body.reset(false, contentLength, expect)
		r.Body = &c.body
	default:
		r.ContentLength = 0
		c.body.reset(false, 0, false)
		r.Body = http.NoBody
	}
	return 0, nil
}

// validHost reports whether a Host field value holds only the bytes a
// uri-host and port can (the check net/http applies): no whitespace, and
// none of / ? # @ \ " that would let a Host be read as a path or userinfo
// by whatever routes on it or logs it.
func validHost[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if !hostByte[v[i]] {
			return false
		}
	}
	return true
}

var hostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return
}()

// setURL fills r.URL from r.RequestURI: origin-form (the common case)
// without allocating; absolute-form parsed, its authority becoming the
// Host (RFC 9112 §3.2.2); asterisk-form for OPTIONS.
func setURL(c *conn, r *http.Request) int {
	u := &c.url
	*u = url.URL{}
	r.URL = u
	t := r.RequestURI
	switch {
	case t[0] == '/':
		for i := 0; i < len(t); i++ {
			if t[i] == '?' {
				u.Path, u.RawQuery = t[:i], t[i+1:]
				return 0
			}
			if t[i] == '#' {
				return http.StatusBadRequest
			}
		}
		u.Path = t
	case t == "*":
		if r.Method != http.MethodOptions {
			return http.StatusBadRequest
		}
		u.Path = "*"
	default:
		pu, err := url.ParseRequestURI(t)
		if err != nil || pu.Host == "" || !validHost(pu.Host) || (pu.Scheme != "http" && pu.Scheme != "https") {
			return http.StatusBadRequest
		}
		*u = *pu
		r.Host = pu.Host
	}
	return 0
}

func protoString(minor int) string {
	if minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// internMethod returns the method as a string, without allocating for
// the standard ones.
func internMethod(b []byte) string {
	switch string(b) {
	case "GET":
		return http.MethodGet
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "HEAD":
		return http.MethodHead
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	case "CONNECT":
		return http.MethodConnect
	case "TRACE":
		return http.MethodTrace
	}
	return string(b)
}

// requestBody is the request's Body: framing from httpwire, plus the
// 100-continue interim response sent on first read, plus a read
// deadline refreshed between reads.
type requestBody struct {
	c      *conn
	br     httpwire.BodyReader
	expect bool // 100 Continue not sent yet
	has    bool // the request has a body
	read   bool // the handler read from it
}

func (b *requestBody) reset(chunked bool, n int64, expect bool) {
	b.has = chunked || n > 0
	b.expect = expect && b.has
	b.read = false
	b.br.Reset(b.c.br, chunked, n, nil)
	if !b.has {
		b.br.Done = true
	}
}

func (b *requestBody) Read(p []byte) (int, error) {
	if !b.has {
		return 0, io.EOF
	}
	b.read = true
	if b.expect {
		b.expect = false
		if !b.c.rw.wroteHeader {
			b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.c.bw.Flush(); err != nil {
				return 0, err
			}
		}
	}
	b.c.armRead(b.c.srv.BodyTimeout)
	return b.br.Read(p)
}

// Close implements io.Closer; the server drains the body itself.
func (b *requestBody) Close() error { return nil }

// drainLimit bounds the unread body bytes the server reads and discards
// to keep a connection; past it the connection closes (lingering).
const drainLimit = 256 << 10

// unread reports whether part of the body was left unread.
func (b *requestBody) unread() bool { return b.has && !b.br.Done }

// tooLongToDrain reports whether what is left of a length-framed body
// is more than drain will read: the connection will close, and the
// response should say so. (A chunked body's size is unknown until drain
// tries.)
func (b *requestBody) tooLongToDrain() bool {
	if !b.unread() {
		return false
	}
	n, known := b.br.Remaining()
	return known && n > drainLimit
}

// drain reads what the handler left of the body so the connection can
// carry the next request: up to drainLimit bytes, else the connection
// closes.
func (b *requestBody) drain() bool {
	if !b.unread() {
		return true
	}
	if b.expect {
		// The client waits for 100 Continue that never came: it may or
		// may not send the body now. Only closing is unambiguous.
		return false
	}
	io.CopyN(io.Discard, &b.br, drainLimit)
	return b.br.Done && b.br.Err == nil
}
