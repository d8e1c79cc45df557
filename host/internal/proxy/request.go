package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// writeRequestHead writes the upstream request line and headers to c.bw.
// Client headers are copied except hop-by-hop ones (RFC 9110 §7.6.1, and
// those named in Connection); Weir then sets Host, X-Forwarded-*,
// X-Real-IP, Via and the request id itself, so a client cannot spoof them
// unless it is a trusted IP (Kong's trusted_ips).
func (h *Handler) writeRequestHead(c *upConn, r *http.Request, x *exchange, fw *forwarded, s *Snapshot, hasBody, upgrade bool) {
	bw := c.bw
	rt := fw.route
	svc := rt.Service
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	writeJoinedPath(bw, svc.Path, fw.path[fw.strip:])
	if fw.query != "" {
		bw.WriteByte('?')
		bw.WriteString(fw.query)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if rt.PreserveHost {
		bw.WriteString(r.Host)
	} else {
		bw.WriteString(svc.HostHeader)
	}
	bw.WriteString("\r\n")

	idHeader := s.Options.RequestIDHeader
	connTokens := r.Header["Connection"]
	for name, vals := range r.Header {
		if skipRequestHeader(name, idHeader) || (len(connTokens) > 0 && tokenListed(connTokens, name)) {
			continue
		}
		for _, v := range vals {
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}

	// X-Forwarded-For always appends the peer (nginx's
	// $proxy_add_x_forwarded_for, as Kong).
	bw.WriteString("X-Forwarded-For: ")
	for _, v := range r.Header["X-Forwarded-For"] {
		bw.WriteString(v)
		bw.WriteString(", ")
	}
	bw.WriteString(fw.client)
	bw.WriteString("\r\n")
	writeForwarded(bw, "X-Real-IP: ", r.Header["X-Real-Ip"], fw.trusted, fw.client)
	writeForwarded(bw, "X-Forwarded-Proto: ", r.Header["X-Forwarded-Proto"], fw.trusted, scheme(r))
	writeForwarded(bw, "X-Forwarded-Host: ", r.Header["X-Forwarded-Host"], fw.trusted, hostOnly(r.Host))
	if v := r.Header["X-Forwarded-Port"]; fw.trusted && len(v) > 0 {
		writeForwarded(bw, "X-Forwarded-Port: ", v, true, "")
	} else {
		bw.WriteString("X-Forwarded-Port: ")
		appendInt(bw, int64(localPort(r)))
		bw.WriteString("\r\n")
	}
	writeForwarded(bw, "X-Forwarded-Path: ", r.Header["X-Forwarded-Path"], fw.trusted, fw.path)
	if fw.strip > 0 {
		writeForwarded(bw, "X-Forwarded-Prefix: ", r.Header["X-Forwarded-Prefix"], fw.trusted, fw.path[:fw.strip])
	}
	if s.Options.ServerTokens {
		bw.WriteString("Via: 1.1 weir\r\n")
	}
	if idHeader != "" && x.id != "" {
		bw.WriteString(idHeader)
		bw.WriteString(": ")
		bw.WriteString(x.id)
		bw.WriteString("\r\n")
	}
	if upgrade {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(r.Header["Upgrade"][0])
		bw.WriteString("\r\n")
	}
	if hasBody {
		if r.ContentLength > 0 {
			bw.WriteString("Content-Length: ")
			appendInt(bw, r.ContentLength)
			bw.WriteString("\r\n")
		} else {
			bw.WriteString("Transfer-Encoding: chunked\r\n")
		}
	} else if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

func writeForwarded(bw *bufio.Writer, prefix string, incoming []string, trusted bool, own string) {
	bw.WriteString(prefix)
	if trusted && len(incoming) > 0 {
		bw.WriteString(incoming[0])
	} else {
		bw.WriteString(own)
	}
	bw.WriteString("\r\n")
}

// writeBody streams the client's request body upstream: as is when its
// length is known, chunked otherwise. The write deadline is refreshed per
// chunk (Kong's write_timeout is the time between two writes).
func (h *Handler) writeBody(c *upConn, r *http.Request, x *exchange, svc *Service) error {
	buf := x.buf
	chunked := r.ContentLength < 0
	bw := c.bw
	for {
		n, rerr := r.Body.Read(buf)
		if n > 0 {
			c.armWrite(svc.WriteTimeout)
			if chunked {
				bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(n), 16))
				bw.WriteString("\r\n")
			}
			if _, err := bw.Write(buf[:n]); err != nil {
				return err
			}
			if chunked {
				bw.WriteString("\r\n")
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return errClientBody
		}
	}
	if chunked {
		_, err := bw.WriteString("0\r\n\r\n")
		return err
	}
	return nil
}

// skipRequestHeader reports client headers Weir never forwards as they
// are: hop-by-hop fields, and the ones Weir sets itself.
func skipRequestHeader(name, idHeader string) bool {
	switch name {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect", "Content-Length", "Host",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
		"X-Forwarded-Path", "X-Forwarded-Prefix", "X-Real-Ip":
		return true
	}
	return name == idHeader
}

// tokenListed reports whether name appears in the comma-separated
// Connection header values.
func tokenListed(values []string, name string) bool {
	for _, v := range values {
		for v != "" {
			var tok string
			if i := strings.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, ""
			}
			if asciiEqualFold(strings.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

func isUpgrade(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	up := r.Header["Upgrade"]
	return len(up) > 0 && up[0] != "" && tokenListed(r.Header["Connection"], "upgrade")
}

// writeJoinedPath writes the upstream path: the service path joined with
// what remains of the request path, with exactly one slash between them.
func writeJoinedPath(bw *bufio.Writer, svcPath, rest string) {
	switch {
	case svcPath == "" || svcPath == "/":
		if rest == "" || rest[0] != '/' {
			bw.WriteByte('/')
		}
		bw.WriteString(rest)
	case rest == "":
		bw.WriteString(svcPath)
	case svcPath[len(svcPath)-1] == '/' && rest[0] == '/':
		bw.WriteString(svcPath)
		bw.WriteString(rest[1:])
	case svcPath[len(svcPath)-1] != '/' && rest[0] != '/':
		// Kong's path_handling v0 (the only one Kong 3's router
		// implements): service /s, route /tv0, request /tv0req -> /s/req.
		bw.WriteString(svcPath)
		bw.WriteByte('/')
		bw.WriteString(rest)
	default:
		bw.WriteString(svcPath)
		bw.WriteString(rest)
	}
}

// joinPath is writeJoinedPath for callers that need a string.
func joinPath(svcPath, rest string) string {
	var b strings.Builder
	bw := bufio.NewWriterSize(&b, 64)
	writeJoinedPath(bw, svcPath, rest)
	bw.Flush()
	return b.String()
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// hostOnly strips a port from a Host value without allocating.
func hostOnly(host string) string {
	if len(host) > 0 && host[0] == '[' {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.LastIndexByte(host, ':') == i {
		return host[:i]
	}
	return host
}

func localPort(r *http.Request) int {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}
