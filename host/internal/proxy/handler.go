package proxy

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/weirproxy/weir/host/internal/httpwire"
	"github.com/weirproxy/weir/host/internal/router"
	"github.com/weirproxy/weir/host/internal/telemetry"
	"github.com/weirproxy/weir/host/internal/upstream"
)

// Handler is Weir's data path: it matches a route in the current
// snapshot, forwards the request to a healthy target of the route's
// service, and streams the response back.
type Handler struct {
	snap     atomic.Pointer[Snapshot]
	tr       *Transport
	log      *slog.Logger
	requests atomic.Uint64

	// hijacked connections (WebSocket and other upgrades), closed on
	// shutdown after the drain deadline.
	hmu      sync.Mutex
	hijacked map[net.Conn]struct{}
	hwg      sync.WaitGroup
}

// NewHandler returns a handler serving s.
func NewHandler(s *Snapshot, tr *Transport, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := &Handler{tr: tr, log: log, hijacked: map[net.Conn]struct{}{}}
	h.snap.Store(s)
	return h
}

// Swap installs a new snapshot and returns the previous one. Requests in
// flight keep the snapshot they loaded.
func (h *Handler) Swap(s *Snapshot) *Snapshot { return h.snap.Swap(s) }

// Requests returns the number of requests served.
func (h *Handler) Requests() uint64 { return h.requests.Load() }

// Snapshot returns the snapshot in service.
func (h *Handler) Snapshot() *Snapshot { return h.snap.Load() }

// exchange is the per-request state, pooled.
type exchange struct {
	id      string
	obs     obsState
	idBuf   [32]byte
	idSlice [1]string
	tried   [8]*upstream.Target
	ureq    upstream.Request
	buf     []byte
	fw      forwarded
	// scratch is the connection's storage for the handler (nil when the
	// server has none): a plugin chain is kept there for the next request.
	scratch *any
}

// connScratch is implemented by the ResponseWriters of servers that keep
// storage per connection for the handler (Weir's HTTP/1 server).
type connScratch interface{ ConnScratch() *any }

var exchangePool = sync.Pool{New: func() any { return &exchange{buf: make([]byte, 32<<10)} }}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	s := h.snap.Load()
	x := exchangePool.Get().(*exchange)
	if cs, ok := w.(connScratch); ok {
		x.scratch = cs.ConnScratch()
	}
	defer func() {
		if c := x.fw.chain; c != nil && x.scratch != nil && c.recycle() {
			*x.scratch = c
		}
		x.scratch = nil
		x.ureq = upstream.Request{}
		x.fw = forwarded{}
		x.obs = obsState{}
		clear(x.tried[:])
		exchangePool.Put(x)
	}()
	x.id = h.requestID(r, s, x)
	if o := &s.Options.Obs; o.on() {
		x.obs.start = time.Now()
		x.obs.rec = recorder{w: w}
		w = &x.obs.rec
		defer h.finishObserve(r, x, o)
	}

	if s.Options.Compress != nil {
		var finish func()
		w, finish = s.Options.Compress.Wrap(w, r)
		defer finish()
	}

	path, query := splitURI(r)
	npath := normalizePath(path)
	rq := router.Request{Host: r.Host, Path: npath, Method: r.Method, Header: r.Header}
	if r.TLS != nil {
		rq.SNI = r.TLS.ServerName
	}
	m, ok := s.Table.Match(&rq)
	var rt *Route
	if ok {
		rt = s.Routes[m.Route]
	}
	if !x.obs.start.IsZero() {
		x.obs.route = rt
		if t := s.Options.Obs.Tracer; t != nil {
			r = h.startSpan(r, x, t, rt)
		}
	}
	if !ok {
		h.writeError(w, r, x, http.StatusNotFound, MsgNoRoute)
		return
	}

	// Protocols (Kong semantics): an https-only route hit over http
	// answers with the route's redirect code.
	grpc := isGRPC(r)
	var proto uint8
	switch {
	case grpc && r.TLS != nil:
		proto = ProtoGRPCS | ProtoHTTPS
	case grpc:
		proto = ProtoGRPC | ProtoHTTP
	case r.TLS != nil:
		proto = ProtoHTTPS
	default:
		proto = ProtoHTTP
	}
	if rt.Protocols&proto == 0 {
		if r.TLS == nil && rt.Protocols&(ProtoHTTPS|ProtoGRPCS) != 0 {
			h.redirectHTTPS(w, r, x, rt)
			return
		}
		h.writeError(w, r, x, http.StatusNotFound, MsgNoRoute)
		return
	}

	svc := rt.Service
	if svc == nil {
		h.writeError(w, r, x, http.StatusServiceUnavailable, MsgNoService)
		return
	}
	// forwarded lives in the pooled exchange: plugins keep a pointer to
	// it, which must not cost an allocation per request.
	x.fw = forwarded{
		route:  rt,
		path:   npath,
		strip:  m.StripLen,
		query:  query,
		client: clientIP(r),
	}
	fw := &x.fw
	if !rt.StripPath {
		fw.strip = 0
	}
	if len(rt.Plugins) > 0 {
		c, ok := h.startChain(w, r, x, rt, fw)
		if !ok {
			return
		}
		fw.chain = c
		defer c.end()
	}
	switch svc.Kind {
	case KindEcho:
		h.echo(w, r, x, rt, fw)
	case KindH2:
		h.forwardH2(w, r, x, fw)
	default:
		h.forwardH1(w, r, x, fw)
	}
}

// forwarded carries what the upstream request is built from.
type forwarded struct {
	route   *Route
	path    string // normalized request path
	strip   int    // bytes of path consumed by the route (strip_path)
	query   string // raw query, without '?'
	client  string // client IP
	trusted bool
	// chain runs the route's plugins; nil without plugins.
	chain *chain
	// hostOverride is a Host a plugin set through :authority.
	hostOverride string
}

func (f *forwarded) isTrusted(s *Snapshot) bool {
	if len(s.Options.TrustedIPs) == 0 {
		return false
	}
	ip, err := netip.ParseAddr(f.client)
	if err != nil {
		return false
	}
	for _, p := range s.Options.TrustedIPs {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// forwardH1 proxies over Weir's HTTP/1.1 transport, with retries on
// connection failures to other targets.
func (h *Handler) forwardH1(w http.ResponseWriter, r *http.Request, x *exchange, fw *forwarded) {
	s := h.snap.Load()
	fw.trusted = fw.isTrusted(s)
	svc := fw.route.Service
	upgrade := isUpgrade(r)
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	idempotent := isIdempotent(r.Method)

	x.ureq.HTTP = r
	x.ureq.ClientIP = fw.client
	x.ureq.Tried = x.tried[:0]

	var lastStatus = http.StatusBadGateway
	var lastMsg = MsgBadGateway
	attempts := svc.Retries + 1
	for attempt := 0; attempt < attempts; attempt++ {
		t, cookie, err := svc.Balancer.Pick(&x.ureq)
		if err != nil {
			if attempt == 0 || errors.Is(err, upstream.ErrNoHealthyTargets) {
				h.writeError(w, r, x, http.StatusServiceUnavailable, MsgNoPeer)
				return
			}
			break
		}
		if len(x.ureq.Tried) < cap(x.ureq.Tried) {
			x.ureq.Tried = append(x.ureq.Tried, t)
		}
		t.Acquire()
		var usp trace.Span
		if !x.obs.start.IsZero() {
			x.obs.upAddr = t.Addr
			if x.obs.span != nil {
				usp = startUpstreamSpan(x, r.Method, t.Addr, r.Header)
			}
		}
		res := h.exchangeH1(w, r, x, fw, t, cookie, hasBody, upgrade)
		if usp != nil {
			telemetry.EndUpstream(usp, res.status, res.err)
		}
		t.Release()
		switch res.outcome {
		case outcomeDone:
			return
		case outcomeConnectFailed:
			t.ReportTCPFailure()
		case outcomeTimeout:
			t.ReportTimeout()
		case outcomeIOFailed:
			t.ReportTCPFailure()
		}
		lastStatus, lastMsg = res.status, res.msg
		if !res.retryable || (res.sent && (!idempotent || hasBody)) {
			break
		}
		h.log.Debug("retrying upstream request", "route", fw.route.Name, "target", t.Addr, "attempt", attempt+1, "err", res.err)
	}
	h.writeError(w, r, x, lastStatus, lastMsg)
}

type outcome int

const (
	outcomeDone          outcome = iota // response (or error) written to the client
	outcomeConnectFailed                // nothing was sent
	outcomeTimeout
	outcomeIOFailed
)

type result struct {
	outcome   outcome
	status    int
	msg       string
	err       error
	sent      bool // request bytes reached the upstream
	retryable bool
}

func (h *Handler) exchangeH1(w http.ResponseWriter, r *http.Request, x *exchange, fw *forwarded, t *upstream.Target, cookie string, hasBody, upgrade bool) result {
	svc := fw.route.Service
	ctx := r.Context()
	for stale := 0; ; stale++ {
		c, reused, err := h.tr.get(ctx, t.Addr, svc, hasBody, stale > 0)
		if err != nil {
			if ctx.Err() != nil {
				return result{outcome: outcomeDone} // client gone
			}
			st, msg, oc := classify(err)
			if oc == outcomeIOFailed {
				oc = outcomeConnectFailed
			}
			return result{outcome: oc, status: st, msg: msg, err: err, retryable: true}
		}
		c.stopAbort = context.AfterFunc(ctx, c.abortFn)
		res := h.roundTripH1(w, r, x, fw, c, reused, cookie, hasBody, upgrade)
		// roundTripH1 released c (pooled or closed): it is not touched again.
		if ctx.Err() != nil {
			// The client went away: there is nobody to answer or retry for.
			return result{outcome: outcomeDone, status: res.status}
		}
		if res.err == errStale {
			if stale == 0 {
				continue // the pooled connection was dead: dial a fresh one, same target
			}
			res.status, res.msg = http.StatusBadGateway, MsgBadGateway
		}
		if res.outcome == outcomeDone {
			t.ReportStatus(res.status)
		}
		return res
	}
}

// roundTripH1 writes the request on c and streams the response to w. It
// owns c: the connection is returned to the pool or closed.
func (h *Handler) roundTripH1(w http.ResponseWriter, r *http.Request, x *exchange, fw *forwarded, c *upConn, reused bool, cookie string, hasBody, upgrade bool) result {
	s := h.snap.Load()
	svc := fw.route.Service
	c.rd.timeout = svc.ReadTimeout
	c.armWrite(svc.WriteTimeout)
	if !x.obs.start.IsZero() {
		x.obs.upStart = time.Now()
	}
	h.writeRequestHead(c, r, x, fw, s, hasBody, upgrade)
	var err error
	if hasBody {
		err = h.writeBody(c, r, x, fw)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		if errors.Is(err, errClientBody) {
			c.release(false)
			return result{outcome: outcomeDone} // client aborted its upload
		}
		var stop *chainStop
		if errors.As(err, &stop) {
			// A plugin ended the request during its body phase: the
			// upstream has a partial request, so its connection goes.
			c.release(false)
			h.stopRequest(w, r, x, fw, stop)
			return result{outcome: outcomeDone}
		}
		// The upstream may have answered early (e.g. 413) and closed;
		// fall through and try to read that answer.
		if !hasBody {
			c.release(false)
			if reused {
				return result{err: errStale, outcome: outcomeIOFailed}
			}
			st, msg, oc := classify(err)
			return result{outcome: oc, status: st, msg: msg, err: err, sent: true, retryable: true}
		}
	}
	head := &c.head
	for {
		got, rerr := head.read(c.br)
		if rerr != nil {
			c.release(false)
			if !got && reused && err == nil && !hasBody {
				return result{err: errStale, outcome: outcomeIOFailed}
			}
			if rerr == errMalformed || rerr == errTooLarge {
				return result{outcome: outcomeIOFailed, status: http.StatusBadGateway, msg: MsgBadGateway, err: rerr, sent: true}
			}
			st, msg, oc := classify(rerr)
			return result{outcome: oc, status: st, msg: msg, err: rerr, sent: true, retryable: !got}
		}
		if head.status/100 == 1 && head.status != http.StatusSwitchingProtocols {
			continue // 100 Continue and other interim responses are absorbed
		}
		break
	}
	if !x.obs.start.IsZero() {
		x.obs.upHead = time.Now()
	}
	if upgrade && head.status == http.StatusSwitchingProtocols {
		h.serveUpgrade(w, r, x, c, svc)
		return result{outcome: outcomeDone, status: head.status}
	}
	if head.status == http.StatusSwitchingProtocols {
		c.release(false)
		return result{outcome: outcomeIOFailed, status: http.StatusBadGateway, msg: MsgBadGateway, err: errMalformed, sent: true}
	}

	hdr := w.Header()
	head.copyTo(hdr)
	h.commonHeaders(hdr, x, !head.hasServer)
	if !x.obs.start.IsZero() {
		latencyHeaders(hdr, x, &s.Options.Obs)
	}
	if cookie != "" {
		hdr["Set-Cookie"] = append(hdr["Set-Cookie"], cookie)
	}
	bodyless := head.bodyless(r.Method)
	c.body.Reset(c.br, head.chunked, head.contentLen, hdr)
	if bodyless {
		c.body.Done = true
	}
	// c.head belongs to the connection: once finishConn pools it, another
	// request may reuse it, so nothing of it is read after that.
	status := head.status
	if fw.chain != nil {
		var ok bool
		if status, ok = fw.chain.responseHeaders(w, r, hdr, status, bodyless); !ok {
			c.release(false)
			return result{outcome: outcomeDone, status: head.status}
		}
	}
	w.WriteHeader(status)
	if bodyless {
		h.finishConn(c, head, true)
		return result{outcome: outcomeDone, status: status}
	}
	clean := h.copyBody(w, &c.body, x.buf, head.contentLen < 0, fw.chain)
	h.finishConn(c, head, clean)
	if !clean && c.body.Err != nil && !errors.Is(c.body.Err, errClientGone) {
		// Upstream failed mid-body: the status is out, so the only honest
		// signal left is to abort the client connection.
		h.log.Warn("upstream response body failed", "route", fw.route.Name, "err", c.body.Err)
		panic(http.ErrAbortHandler)
	}
	return result{outcome: outcomeDone, status: status}
}

var errClientGone = errors.New("client went away")
var errClientBody = errors.New("reading client request body failed")

func (h *Handler) finishConn(c *upConn, head *respHead, clean bool) {
	c.release(clean && !head.close && c.body.Done)
}

// copyBody streams body to w. With flush set (unknown length: chunked,
// close-delimited, SSE) it flushes whenever no more upstream bytes are
// immediately available, so streams are not delayed by buffering.
func (h *Handler) copyBody(w http.ResponseWriter, body *httpwire.BodyReader, buf []byte, flush bool, ch *chain) bool {
	fl, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		// A body whose end is known (Content-Length) is done with its
		// last bytes: one pass, and one body call per plugin, not two.
		eos := err == io.EOF || (err == nil && body.Done)
		if err != nil && !eos {
			return false
		}
		data := buf[:n]
		if ch != nil {
			var cerr error
			data, cerr = ch.responseBody(data, eos)
			if cerr == nil && eos && flush {
				// Trailers come only with a body of unknown length.
				cerr = ch.prefixedTrailers(w.Header())
			}
			if cerr != nil {
				// The head is out: aborting the client is the only signal.
				h.log.Warn("plugin ended the response during its body phase", "route", ch.rt.Name, "err", cerr)
				body.Err = cerr
				return false
			}
		}
		if len(data) > 0 {
			if _, werr := w.Write(data); werr != nil {
				body.Err = errClientGone
				return false
			}
			if flush && fl != nil && body.Buffered() == 0 {
				fl.Flush()
			}
		}
		if eos {
			return true
		}
	}
}

// commonHeaders adds Weir's own response headers: the request id, Via
// and Server.
func (h *Handler) commonHeaders(hdr http.Header, x *exchange, addServer bool) {
	s := h.snap.Load()
	if name := s.Options.RequestIDHeader; name != "" && x.id != "" {
		x.idSlice[0] = x.id
		hdr[name] = x.idSlice[:1:1]
	}
	if s.Options.ServerTokens {
		if v, ok := hdr["Via"]; ok {
			hdr["Via"] = append(v, viaValue[0])
		} else {
			hdr["Via"] = viaValue
		}
		if addServer {
			if _, ok := hdr["Server"]; !ok {
				hdr["Server"] = serverValue
			}
		}
	}
}

var (
	viaValue    = []string{"1.1 weir"}[:1:1]
	serverValue = []string{"weir"}[:1:1]
)

func (h *Handler) redirectHTTPS(w http.ResponseWriter, r *http.Request, x *exchange, rt *Route) {
	code := rt.HTTPSRedirectCode
	if code == 0 || code == http.StatusUpgradeRequired {
		hdr := w.Header()
		hdr["Connection"] = []string{"Upgrade"}
		hdr["Upgrade"] = []string{"TLS/1.2, HTTP/1.1"}
		h.writeError(w, r, x, http.StatusUpgradeRequired, MsgUseHTTPS)
		return
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	h.commonHeaders(w.Header(), x, true)
	w.Header()["Location"] = []string{"https://" + host + r.RequestURI}
	w.WriteHeader(code)
}

// requestID returns the request id: the client's when it sent a sane
// one, a new random 128-bit hex id otherwise.
func (h *Handler) requestID(r *http.Request, s *Snapshot, x *exchange) string {
	if name := s.Options.RequestIDHeader; name != "" {
		if v := r.Header[name]; len(v) == 1 && validRequestID(v[0]) {
			return v[0]
		}
	}
	var b [16]byte
	u1, u2 := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(u1 >> (8 * i))
		b[8+i] = byte(u2 >> (8 * i))
	}
	hex.Encode(x.idBuf[:], b[:])
	return string(x.idBuf[:])
}

func validRequestID(v string) bool {
	if len(v) == 0 || len(v) > 200 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// classify maps a transport error to a status, a Kong message and an outcome.
func classify(err error) (int, string, outcome) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, MsgTimeout, outcomeTimeout
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return http.StatusBadGateway, MsgBadGateway, outcomeConnectFailed
	}
	return http.StatusBadGateway, MsgBadGateway, outcomeIOFailed
}

func isIdempotent(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// splitURI returns the raw path and query of the request target.
func splitURI(r *http.Request) (path, query string) {
	u := r.RequestURI
	if len(u) > 0 && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			return u[:i], u[i+1:]
		}
		return u, ""
	}
	// absolute-form, authority-form or "*": use the parsed URL
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	return p, r.URL.RawQuery
}

// clientIP is the peer address without its port.
func clientIP(r *http.Request) string {
	a := r.RemoteAddr
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		a = a[:i]
	}
	if len(a) > 1 && a[0] == '[' && a[len(a)-1] == ']' {
		a = a[1 : len(a)-1]
	}
	return a
}
