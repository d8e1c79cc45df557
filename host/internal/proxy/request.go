package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/host/internal/httpwire"
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
	writeUpstreamPath(bw, svc.Path, fw.path, fw.path[fw.strip:], rt.StripPath)
	if fw.query != "" {
		bw.WriteByte('?')
		bw.WriteString(fw.query)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if fw.hostOverride != "" {
		bw.WriteString(fw.hostOverride)
	} else if rt.PreserveHost {
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
// chunk (Kong's write_timeout is the time between two writes). With
// plugins, every chunk goes through their request-body phase first, and
// is held back while one of them pauses (see chain.requestBody).
func (h *Handler) writeBody(c *upConn, r *http.Request, x *exchange, fw *forwarded) error {
	svc := fw.route.Service
	buf := x.buf
	chunked := r.ContentLength < 0
	bw := c.bw
	var sent int64
	for {
		n, rerr := r.Body.Read(buf)
		eos := rerr == io.EOF
		x.obs.bytesIn += int64(n)
		if rerr != nil && !eos {
			return errClientBody
		}
		data := buf[:n]
		if fw.chain != nil {
			var err error
			if data, err = fw.chain.requestBody(data, eos); err != nil {
				return err
			}
		}
		if len(data) > 0 {
			c.armWrite(svc.WriteTimeout)
			if chunked {
				bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(data)), 16))
				bw.WriteString("\r\n")
			} else if sent+int64(len(data)) > r.ContentLength {
				return errBodyLength
			}
			if _, err := bw.Write(data); err != nil {
				return err
			}
			sent += int64(len(data))
			if chunked {
				bw.WriteString("\r\n")
			}
		}
		if eos {
			break
		}
	}
	if chunked {
		_, err := bw.WriteString("0\r\n\r\n")
		return err
	}
	if sent != r.ContentLength {
		return errBodyLength
	}
	return nil
}

// errBodyLength: a plugin changed the body's length but left its
// Content-Length (plugins that resize a body remove content-length in the
// headers phase, as with Envoy).
var errBodyLength = &chainStop{status: http.StatusInternalServerError, msg: MsgUnexpected,
	log: "a plugin changed the request body's length without removing content-length"}

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
			if httpwire.EqualFold(strings.TrimSpace(tok), name) {
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

// pathWriter is what the upstream path is written to: a *bufio.Writer
// on the HTTP/1.1 path, a *strings.Builder for HTTP/2.
type pathWriter interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}

// writeUpstreamPath writes the path sent upstream, exactly as Kong's
// path_handling v0 (the default) builds it from the service path (base),
// the request path, and what is left of it after strip_path (postfix):
//
//	base ends in "/", strip:    postfix "" -> "/" if base is "/", base if the
//	                            request ends in "/", else base without its
//	                            slash; postfix "/x" -> base[:-1]+"/x";
//	                            postfix "x" -> base+"x"
//	base ends in "/", no strip: base + request path without its first "/"
//	other base, strip:          postfix "" -> base (+"/" if the request ends
//	                            in "/"); "/x" -> base+"/x"; "x" -> base+"/x"
//	other base, no strip:       base if the request is "/", else base+request
func writeUpstreamPath(w pathWriter, base, reqPath, postfix string, strip bool) {
	if base == "" {
		base = "/"
	}
	if base[len(base)-1] == '/' {
		switch {
		case !strip:
			w.WriteString(base)
			if len(reqPath) > 0 {
				w.WriteString(reqPath[1:])
			}
		case postfix == "":
			switch {
			case base == "/":
				w.WriteByte('/')
			case reqPath != "" && reqPath[len(reqPath)-1] == '/':
				w.WriteString(base)
			default:
				w.WriteString(base[:len(base)-1])
			}
		case postfix[0] == '/':
			w.WriteString(base[:len(base)-1])
			w.WriteString(postfix)
		default:
			w.WriteString(base)
			w.WriteString(postfix)
		}
		return
	}
	w.WriteString(base)
	switch {
	case !strip:
		if reqPath != "/" {
			w.WriteString(reqPath)
		}
	case postfix == "":
		if len(reqPath) > 1 && reqPath[len(reqPath)-1] == '/' {
			w.WriteByte('/')
		}
	case postfix[0] == '/':
		w.WriteString(postfix)
	default:
		w.WriteByte('/')
		w.WriteString(postfix)
	}
}

// upstreamPath is writeUpstreamPath for callers that need a string.
func upstreamPath(base, reqPath, postfix string, strip bool) string {
	var b strings.Builder
	b.Grow(len(base) + len(reqPath) + 1)
	writeUpstreamPath(&b, base, reqPath, postfix, strip)
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
