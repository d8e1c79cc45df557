package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/weirproxy/weir/host/internal/telemetry"
)

// NewH2RoundTripper returns the HTTP/2 client for a gRPC service: h2c
// (prior knowledge) when tlsConf is nil, HTTP/2 over TLS otherwise.
func NewH2RoundTripper(tlsConf *tls.Config, connectTimeout time.Duration) *http.Transport {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: connectTimeout,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
	}
	t.Protocols = new(http.Protocols)
	if tlsConf == nil {
		t.Protocols.SetUnencryptedHTTP2(true)
	} else {
		t.Protocols.SetHTTP2(true)
	}
	return t
}

// CloseIdle closes the idle connections of a KindH2 service's client.
func (s *Service) CloseIdle() {
	if t, ok := s.h2.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// SetH2 installs the HTTP/2 client of a KindH2 service.
func (s *Service) SetH2(rt http.RoundTripper) { s.h2 = rt }

// forwardH2 proxies a request over HTTP/2 (gRPC unary and streaming):
// bodies stream both ways, trailers are relayed.
func (h *Handler) forwardH2(w http.ResponseWriter, r *http.Request, x *exchange, fw *forwarded) {
	s := h.snap.Load()
	fw.trusted = fw.isTrusted(s)
	svc := fw.route.Service
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	x.ureq.HTTP = r
	x.ureq.ClientIP = fw.client
	x.ureq.Tried = x.tried[:0]

	attempts := svc.Retries + 1
	status, msg := http.StatusBadGateway, MsgBadGateway
	for attempt := 0; attempt < attempts; attempt++ {
		t, cookie, err := svc.Balancer.Pick(&x.ureq)
		if err != nil {
			h.writeError(w, r, x, http.StatusServiceUnavailable, MsgNoPeer)
			return
		}
		if len(x.ureq.Tried) < cap(x.ureq.Tried) {
			x.ureq.Tried = append(x.ureq.Tried, t)
		}
		out := h.outboundH2(r, x, fw, s, t.Addr)
		var rb *retryableBody
		var cb *chainBody
		if hasBody {
			rb = &retryableBody{ReadCloser: r.Body}
			out.Body = rb
			if fw.chain != nil {
				fw.chain.shared = true
				cb = &chainBody{rb: rb, c: fw.chain, in: r, out: out, buf: x.buf}
				out.Body = cb
			}
		}
		ctx := out.Context()
		var cancel context.CancelFunc
		if svc.ReadTimeout > 0 && !isGRPC(r) {
			ctx, cancel = context.WithTimeout(ctx, svc.ReadTimeout)
			out = out.WithContext(ctx)
		}
		t.Acquire()
		var usp trace.Span
		if !x.obs.start.IsZero() {
			x.obs.upAddr = t.Addr
			if x.obs.span != nil {
				usp = startUpstreamSpan(x, r.Method, t.Addr, out.Header)
			}
			x.obs.upStart = time.Now()
		}
		resp, err := svc.h2.RoundTrip(out)
		if !x.obs.start.IsZero() {
			x.obs.upHead = time.Now()
		}
		if usp != nil {
			st := 0
			if resp != nil {
				st = resp.StatusCode
			}
			telemetry.EndUpstream(usp, st, err)
		}
		t.Release()
		if err != nil {
			if cancel != nil {
				cancel()
			}
			if st := cb.stopped(); st != nil {
				// A plugin ended the request in its body or trailer phase.
				h.stopRequest(w, r, x, fw, st)
				return
			}
			if r.Context().Err() != nil {
				return
			}
			var oe *net.OpError
			dialFailed := errors.As(err, &oe) && oe.Op == "dial"
			var oc outcome
			status, msg, oc = classify(err)
			if oc == outcomeTimeout {
				t.ReportTimeout()
			} else {
				t.ReportTCPFailure()
			}
			if dialFailed && (rb == nil || rb.untouched()) {
				continue // nothing was sent: another target gets the same request
			}
			break
		}
		if st := cb.stopped(); st != nil {
			// The upstream answered before the transport saw the
			// plugin's stop; the plugin's answer wins.
			resp.Body.Close()
			if cancel != nil {
				cancel()
			}
			h.stopRequest(w, r, x, fw, st)
			return
		}
		t.ReportStatus(resp.StatusCode)
		hdr := w.Header()
		for k, vv := range resp.Header {
			if isHopByHop(k) {
				continue
			}
			hdr[k] = vv
		}
		h.commonHeaders(hdr, x, hdr["Server"] == nil)
		if !x.obs.start.IsZero() {
			latencyHeaders(hdr, x, &s.Options.Obs)
		}
		status := resp.StatusCode
		if fw.chain != nil {
			var ok bool
			fw.chain.mu.Lock()
			status, ok = fw.chain.responseHeaders(w, r, hdr, status, false)
			fw.chain.mu.Unlock()
			if !ok {
				resp.Body.Close()
				if cancel != nil {
					cancel()
				}
				return
			}
		}
		if cookie != "" {
			hdr["Set-Cookie"] = append(hdr["Set-Cookie"], cookie)
		}
		for k := range resp.Trailer {
			hdr["Trailer"] = append(hdr["Trailer"], k)
		}
		w.WriteHeader(status)
		fl, _ := w.(http.Flusher)
		// A gRPC status in the headers marks a Trailers-Only response
		// (no messages): it must stay a single HEADERS frame with
		// END_STREAM, which flushing the head early would split.
		if fl != nil && resp.Header["Grpc-Status"] == nil {
			fl.Flush()
		}
		buf := x.buf
		if fw.chain != nil {
			// The request body is read by the transport with x.buf.
			buf = make([]byte, len(x.buf))
		}
		clean := true
		for {
			n, rerr := resp.Body.Read(buf)
			eos := rerr == io.EOF
			data := buf[:n]
			if rerr != nil && !eos {
				clean = false
				break
			}
			if fw.chain != nil {
				var cerr error
				fw.chain.mu.Lock()
				data, cerr = fw.chain.responseBody(data, eos)
				if cerr == nil && eos && len(resp.Trailer) > 0 {
					cerr = fw.chain.responseTrailers(resp.Trailer)
				}
				fw.chain.mu.Unlock()
				if cerr != nil {
					h.log.Warn("plugin ended the response during its body phase", "route", fw.route.Name, "err", cerr)
					clean = false
					break
				}
			}
			if len(data) > 0 {
				if _, werr := w.Write(data); werr != nil {
					clean = false
					break
				}
				if fl != nil {
					fl.Flush()
				}
			}
			if eos {
				break
			}
		}
		resp.Body.Close()
		if cancel != nil {
			cancel()
		}
		if !clean {
			if r.Context().Err() == nil {
				panic(http.ErrAbortHandler)
			}
			return
		}
		for k, vv := range resp.Trailer {
			hdr[http.TrailerPrefix+k] = vv
		}
		return
	}
	h.writeError(w, r, x, status, msg)
}

// chainBody is an HTTP/2 request body passed through the plugins'
// request-body phase, then, once the client's body ends, their
// request-trailer phase over the client's trailers (which the transport
// sends after the body, from out.Trailer).
//
// The transport reads it on its own goroutine while the handler runs the
// response phases (gRPC streams are full duplex): both hold c.mu around
// every phase, so the plugins see one callback at a time, as in Envoy.
type chainBody struct {
	rb      *retryableBody
	c       *chain
	in, out *http.Request
	buf     []byte
	pending []byte // phase output not yet read by the transport
	eos     bool
	err     error
	stop    atomic.Pointer[chainStop] // set when a plugin ended the request
}

func (b *chainBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.eos || b.err != nil {
			if b.err != nil {
				return 0, b.err
			}
			return 0, io.EOF
		}
		n, rerr := b.rb.Read(b.buf)
		if rerr != nil && rerr != io.EOF {
			return 0, rerr
		}
		b.eos = rerr == io.EOF
		b.c.mu.Lock()
		data, err := b.c.requestBody(b.buf[:n], b.eos)
		if err == nil && b.eos && len(b.in.Trailer) > 0 {
			// The transport announced the trailers from out.Trailer's
			// keys when it sent the head, and reads its values after the
			// body: update that map in place.
			t := b.in.Trailer.Clone()
			if err = b.c.requestTrailers(t); err == nil && b.out.Trailer != nil {
				clear(b.out.Trailer)
				for k, vv := range t {
					b.out.Trailer[k] = vv
				}
			}
		}
		b.c.mu.Unlock()
		if err != nil {
			var st *chainStop
			if errors.As(err, &st) {
				b.stop.Store(st)
			}
			b.err = err
			return 0, err
		}
		b.pending = data
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

// stopped returns the stop a plugin put on the request body, if any (nil
// receiver: no body phase).
func (b *chainBody) stopped() *chainStop {
	if b == nil {
		return nil
	}
	return b.stop.Load()
}

func (b *chainBody) Close() error { return b.rb.Close() }

func (h *Handler) outboundH2(r *http.Request, x *exchange, fw *forwarded, s *Snapshot, addr string) *http.Request {
	svc := fw.route.Service
	out := r.Clone(r.Context())
	out.RequestURI = ""
	sch := "http"
	if svc.TLS != nil {
		sch = "https"
	}
	out.URL = &url.URL{Scheme: sch, Host: addr, Opaque: upstreamPath(svc.Path, fw.path, fw.path[fw.strip:], fw.route.StripPath), RawQuery: fw.query}
	if fw.hostOverride != "" {
		out.Host = fw.hostOverride
	} else if !fw.route.PreserveHost {
		out.Host = svc.HostHeader
	}
	idHeader := s.Options.RequestIDHeader
	conn := r.Header["Connection"]
	for k := range out.Header {
		if k == "Te" {
			continue
		}
		if skipRequestHeader(k, idHeader) || (len(conn) > 0 && tokenListed(conn, k)) {
			delete(out.Header, k)
		}
	}
	if te := r.Header["Te"]; len(te) > 0 && tokenListed(te, "trailers") {
		out.Header["Te"] = []string{"trailers"}
	} else {
		delete(out.Header, "Te")
	}
	xff := fw.client
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		for i := len(prior) - 1; i >= 0; i-- {
			xff = prior[i] + ", " + xff
		}
	}
	out.Header["X-Forwarded-For"] = []string{xff}
	pick := func(name, own string) {
		if v := r.Header[name]; fw.trusted && len(v) > 0 {
			out.Header[name] = v[:1]
			return
		}
		out.Header[name] = []string{own}
	}
	pick("X-Real-Ip", fw.client)
	pick("X-Forwarded-Proto", scheme(r))
	pick("X-Forwarded-Host", hostOnly(r.Host))
	pick("X-Forwarded-Path", fw.path)
	if fw.strip > 0 {
		pick("X-Forwarded-Prefix", fw.path[:fw.strip])
	}
	if s.Options.ServerTokens {
		out.Header["Via"] = append(out.Header["Via"], "2 weir")
	}
	if idHeader != "" {
		out.Header[idHeader] = []string{x.id}
	}
	return out
}

// retryableBody lets a request survive a failed dial. http.Transport
// closes the request body on any error, which would end the client's
// stream and rule out a retry; until the transport first reads the body,
// its Close is withheld (the server closes the body when the handler
// returns anyway). Once reading has started, Close goes through, so a
// transport that stops sending early still unblocks its body writer.
type retryableBody struct {
	io.ReadCloser
	state atomic.Int32 // bodyFresh, bodyStarted or bodyCloseWithheld
}

const (
	bodyFresh int32 = iota
	bodyStarted
	bodyCloseWithheld
)

func (b *retryableBody) Read(p []byte) (int, error) {
	if !b.state.CompareAndSwap(bodyFresh, bodyStarted) && b.state.Load() == bodyCloseWithheld {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.ReadCloser.Read(p)
}

func (b *retryableBody) Close() error {
	if b.state.CompareAndSwap(bodyFresh, bodyCloseWithheld) {
		return nil
	}
	if b.state.Load() == bodyCloseWithheld {
		return nil
	}
	return b.ReadCloser.Close()
}

// untouched reports whether the transport never read the body.
func (b *retryableBody) untouched() bool { return b.state.Load() != bodyStarted }

func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
