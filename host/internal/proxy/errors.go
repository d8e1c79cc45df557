package proxy

import (
	"net/http"
	"strconv"
	"strings"
)

// Kong's messages for the responses Weir generates itself, so clients and
// dashboards that parse Kong's errors keep working.
const (
	MsgNoRoute      = "no Route matched with those values"
	MsgNoService    = "no Service found with those values"
	MsgBadGateway   = "An invalid response was received from the upstream server"
	MsgNoPeer       = "failure to get a peer from the ring-balancer"
	MsgTimeout      = "The upstream server is timing out"
	MsgUseHTTPS     = "Please use HTTPS protocol"
	MsgUnexpected   = "An unexpected error occurred"
	MsgBodyTooLarge = "Request size limit exceeded"
)

// HandlerError is an error that carries the status to answer with. The
// proxy turns it into a response in exactly one place (writeError).
type HandlerError struct {
	Status  int
	Message string
	Err     error
}

func (e *HandlerError) Error() string {
	if e.Err != nil {
		return strconv.Itoa(e.Status) + " " + e.Message + ": " + e.Err.Error()
	}
	return strconv.Itoa(e.Status) + " " + e.Message
}

func (e *HandlerError) Unwrap() error { return e.Err }

// grpc status codes used for Weir-generated gRPC errors.
const (
	grpcUnimplemented    = 12
	grpcUnavailable      = 14
	grpcDeadlineExceeded = 4
	grpcInternal         = 13
)

func grpcCodeFor(status int) int {
	switch status {
	case http.StatusNotFound:
		return grpcUnimplemented
	case http.StatusGatewayTimeout:
		return grpcDeadlineExceeded
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return grpcUnavailable
	}
	return grpcInternal
}

// writeError answers with Kong's JSON error body. gRPC clients get a
// trailers-only gRPC response instead, as Envoy does, so their status
// codes stay meaningful.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, x *exchange, status int, msg string) {
	hdr := w.Header()
	// Drop anything a partial exchange may have put there.
	for k := range hdr {
		delete(hdr, k)
	}
	h.commonHeaders(hdr, x, true)
	if isGRPC(r) {
		hdr["Content-Type"] = []string{"application/grpc"}
		hdr["Grpc-Status"] = []string{strconv.Itoa(grpcCodeFor(status))}
		hdr["Grpc-Message"] = []string{msg}
		w.WriteHeader(http.StatusOK)
		return
	}
	hdr["Content-Type"] = jsonContentType
	var b strings.Builder
	b.Grow(64 + len(msg) + len(x.id))
	b.WriteString(`{"message":`)
	b.WriteString(strconv.Quote(msg))
	if x.id != "" {
		b.WriteString(`,"request_id":"`)
		b.WriteString(x.id)
		b.WriteString(`"`)
	}
	b.WriteString("}\n")
	hdr["Content-Length"] = []string{strconv.Itoa(b.Len())}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(b.String()))
	}
}

var jsonContentType = []string{"application/json; charset=utf-8"}

func isGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc")
}
