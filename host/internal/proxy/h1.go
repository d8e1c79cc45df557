package proxy

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"

	"github.com/weirproxy/weir/host/internal/httpwire"
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
	errMalformed = httpwire.ErrMalformed
	errTooLarge  = httpwire.ErrTooLarge
)

const maxHeadBytes = httpwire.MaxHeadBytes
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
	line = httpwire.TrimEOL(line)
	// HTTP/1.1 200 OK
	if len(line) < 12 || string(line[:5]) != "HTTP/" || line[6] != '.' || line[8] != ' ' ||
		!httpwire.IsDigit(line[5]) || !httpwire.IsDigit(line[7]) {
		return true, errMalformed
	}
	h.major, h.minor = int(line[5]-'0'), int(line[7]-'0')
	if !httpwire.IsDigit(line[9]) || !httpwire.IsDigit(line[10]) || !httpwire.IsDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
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
		line = httpwire.TrimEOL(line)
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
			if !httpwire.IsTokenByte(b) {
				return true, errMalformed
			}
		}
		if colon <= 0 {
			return true, errMalformed
		}
		name := httpwire.CanonicalName(line[:colon])
		v := httpwire.TrimSpace(line[colon+1:])
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
			n, ok := httpwire.ParseContentLength(v)
			if !ok || (h.contentLen >= 0 && h.contentLen != n) {
				return true, errMalformed
			}
			h.contentLen = n
		case "Transfer-Encoding":
			f.hop = true
			if !httpwire.EqualFold(httpwire.LastToken(v), "chunked") {
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
			if httpwire.EqualFold(tname, h.fields[i].name) {
				h.fields[i].hop = true
			}
		}
	}
	return true, nil
}

func (h *respHead) parseConnection(v []byte, keepAlive *bool) {
	for len(v) > 0 {
		var tok []byte
		if i := httpwire.IndexByte(v, ','); i >= 0 {
			tok, v = httpwire.TrimSpace(v[:i]), v[i+1:]
		} else {
			tok, v = httpwire.TrimSpace(v), nil
		}
		switch {
		case len(tok) == 0:
		case httpwire.EqualFold(tok, "close"):
			h.close = true
		case httpwire.EqualFold(tok, "keep-alive"):
			*keepAlive = true
		case httpwire.EqualFold(tok, "upgrade"):
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

// writeStatusAndLen helpers for the request line ------------------------

func appendInt(bw *bufio.Writer, n int64) {
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, 10))
}

func (h *respHead) String() string {
	return fmt.Sprintf("HTTP/%d.%d %d (%d fields)", h.major, h.minor, h.status, len(h.fields))
}
