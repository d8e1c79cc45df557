// Package h1server is Weir's HTTP/1.1 server for the proxy listener.
//
// net/http's server costs about 7 µs of CPU per request on one core (a
// goroutine per request for background reads, ~20 allocations, a header
// clone at WriteHeader): as much as the whole data path behind it. This
// server keeps net/http's Handler and ResponseWriter interfaces, so the
// proxy handler runs unchanged, but reuses one *http.Request, its header
// map, its URL and its ResponseWriter per connection, parses the request
// head with one allocation for all its strings, and does no background
// reads. Connections that open with the HTTP/2 preface (h2c with prior
// knowledge, as gRPC clients do) are handed to a net/http server.
//
// The parser is strict where leniency enables request smuggling: both
// Content-Length and Transfer-Encoding, conflicting Content-Lengths, a
// transfer coding other than chunked, obs-fold, whitespace before a
// colon, control bytes in values, a fragment in the target and a
// missing, repeated or malformed Host are all rejected with 400 (501 for
// an unknown coding) and the connection is closed. Bare LF line endings
// are accepted (RFC 9112 §2.2); a bare CR never ends a line. Requests are
// re-framed before they go upstream, so that leniency reaches no one.
//
// Differences from net/http that the proxy relies on, documented here
// because they are contracts: the handler must not keep the request or
// the writer after it returns; r.URL holds the raw (undecoded) path;
// the request context carries http.LocalAddrContextKey but is never
// cancelled (a client that disconnects while the handler waits without
// writing is noticed at the next write, not at once; a context that can
// never be done also makes the handler's context.AfterFunc free).
package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on a listener.
type Server struct {
	Handler http.Handler
	// H2C serves connections that start with the HTTP/2 client preface.
	// Nil refuses them.
	H2C *http.Server
	// H2 serves TLS connections whose client chose "h2" through ALPN
	// (the listener hands out *tls.Conn, e.g. from tls.NewListener). It
	// needs HTTP/2 enabled in its Protocols. Nil closes such connections,
	// so a TLS config offering h2 must come with H2.
	H2 *http.Server
	// HandshakeTimeout bounds a TLS handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection, and for a whole request head. Default 75 s (nginx).
	IdleTimeout time.Duration
	// BodyTimeout bounds the wait between two reads of a request body
	// (nginx's client_body_timeout). Default 60 s.
	BodyTimeout time.Duration
	// WriteTimeout bounds the wait between two writes to the client
	// (nginx's send_timeout). Default 60 s.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds the request head. Default 64 KiB.
	MaxHeaderBytes int
	// ConnState is called on connection state changes, as net/http does.
	// A connection handed to H2C ends here with StateHijacked; H2C's own
	// ConnState reports the rest of its life.
	ConnState func(net.Conn, http.ConnState)
	Logger    *slog.Logger

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	shutdown atomic.Bool
	h2c      *chanListener // guarded by mu
	h2tls    *chanListener // guarded by mu
	wg       sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) defaults() {
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 75 * time.Second
	}
	if s.BodyTimeout <= 0 {
		s.BodyTimeout = 60 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 60 * time.Second
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = 64 << 10
	}
	if s.HandshakeTimeout <= 0 {
		s.HandshakeTimeout = 10 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
}

// Serve accepts connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.defaults()
	if s.lns == nil {
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	}
	if s.shutdown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary(err)) {
				if backoff == 0 {
					backoff = 5 * time.Millisecond
				} else if backoff *= 2; backoff > time.Second {
					backoff = time.Second
				}
				s.Logger.Warn("accept error; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.track(c) {
			nc.Close()
			return ErrServerClosed
		}
		s.setState(c, http.StateNew)
		go c.serve()
	}
}

// errTemporary keeps accept errors such as EMFILE retryable, as net/http
// does: they pass once descriptors free up.
func errTemporary(err error) error {
	type temporary interface{ Temporary() bool }
	if t, ok := err.(temporary); ok && t.Temporary() {
		return err
	}
	return errNotTemporary
}

var errNotTemporary = errors.New("not temporary")

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) setState(c *conn, st http.ConnState) {
	c.state.Store(int32(st))
	if s.ConnState != nil {
		s.ConnState(c.nc, st)
	}
}

// Shutdown stops accepting, closes idle connections, and waits for the
// others to finish their request (they close instead of staying alive),
// or for ctx to end, when it closes them all and returns ctx.Err()
// without waiting for the handlers still running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	h2c, h2tls := s.h2c, s.h2tls
	s.mu.Unlock()
	if h2c != nil {
		h2c.Close()
		s.H2C.Shutdown(ctx)
	}
	if h2tls != nil {
		h2tls.Close()
		s.H2.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			// Like net/http: the connections are closed, the handlers
			// still running are not waited for (they may be stuck on
			// something other than the client).
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection now.
func (s *Server) Close() error {
	s.shutdown.Store(true)
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	h2c, h2tls := s.h2c, s.h2tls
	s.mu.Unlock()
	if h2c != nil {
		h2c.Close()
		s.H2C.Close()
	}
	if h2tls != nil {
		h2tls.Close()
		s.H2.Close()
	}
	return nil
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if st := http.ConnState(c.state.Load()); st == http.StateIdle || st == http.StateNew {
			c.nc.Close()
		}
	}
}

// serveH2C hands a connection that opened with the HTTP/2 preface to the
// net/http server, replaying the bytes already read.
// The listener is created under mu, after checking for shutdown, so that
// Shutdown and Close either see it or the connection is refused here.
func (s *Server) serveH2C(c *conn) {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		c.nc.Close()
		return
	}
	if s.h2c == nil {
		s.h2c = newChanListener(c.nc.LocalAddr())
		go s.H2C.Serve(s.h2c)
	}
	l := s.h2c
	s.mu.Unlock()
	l.deliver(&replayConn{Conn: c.nc, r: c.br})
}

// serveH2TLS hands a TLS connection that negotiated h2 to the net/http
// server H2, as the *tls.Conn itself so that it sees the negotiated
// protocol and fills r.TLS.
func (s *Server) serveH2TLS(c *conn, tc *tls.Conn) {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		c.nc.Close()
		return
	}
	if s.h2tls == nil {
		s.h2tls = newChanListener(c.nc.LocalAddr())
		go s.H2.Serve(s.h2tls)
	}
	l := s.h2tls
	s.mu.Unlock()
	l.deliver(tc)
}

// conn is one client connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	state  atomic.Int32
	remote string
	ctx    context.Context

	req     http.Request
	reqInit http.Request // an empty request with the connection's context
	url     url.URL
	hdr     http.Header
	body    requestBody
	rw      response
	p       parser

	rdDeadline time.Time // the read deadline last set (coarse bookkeeping)
	wrDeadline time.Time
	hijacked   bool // owned by a handler (upgrade) or the HTTP/2 server now
	linger     bool // close with a lingering close (unread request body)
	tls        tls.ConnectionState
	untracked  bool // no longer counted by Shutdown

	// scratch is the handler's per-connection storage (see
	// response.ConnScratch).
	scratch any
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.br = bufio.NewReaderSize(nc, 8<<10)
	c.bw = bufio.NewWriterSize(c, 8<<10)
	c.ctx = context.WithValue(context.Background(), http.LocalAddrContextKey, nc.LocalAddr())
	c.hdr = make(http.Header, 16)
	c.rw.hdr = make(http.Header, 16)
	c.rw.c = c
	c.body.c = c
	// The request lives as long as the connection: WithContext is the
	// only way to give it a context, so it is done once here.
	c.reqInit = *(&http.Request{}).WithContext(c.ctx)
	c.req = c.reqInit
	return c
}

// Write is the bufio.Writer's sink: it bounds each write to the client.
func (c *conn) Write(p []byte) (int, error) {
	c.armWrite()
	return c.nc.Write(p)
}

func (c *conn) armWrite() {
	d := c.srv.WriteTimeout
	if want := time.Now().Add(d); !closeEnough(c.wrDeadline, want, d) {
		c.nc.SetWriteDeadline(want)
		c.wrDeadline = want
	}
}

// armRead sets the read deadline to now+d, unless the deadline already
// set is close enough: a timer update per request is measurable, a
// second of slack is not.
func (c *conn) armRead(d time.Duration) {
	if want := time.Now().Add(d); !closeEnough(c.rdDeadline, want, d) {
		c.nc.SetReadDeadline(want)
		c.rdDeadline = want
	}
}

// closeEnough reports whether deadline set is within the slack allowed
// for a timeout d of the wanted one, in either direction: a second, or
// an eighth of d for short timeouts. Comparing deadlines rather than
// arming times matters when a shorter timeout follows a longer one (idle
// after body).
func closeEnough(set, want time.Time, d time.Duration) bool {
	slack := min(time.Second, d/8)
	diff := want.Sub(set)
	return diff <= slack && diff >= -slack
}

func (c *conn) close() {
	if !c.hijacked {
		if c.linger {
			c.release() // Shutdown need not wait for the discarding
			lingeringClose(c.nc)
		}
		c.nc.Close()
		c.srv.setState(c, http.StateClosed)
	}
	c.release()
}

// Lingering close, as nginx does it (lingering_time, lingering_timeout).
const (
	lingerTime    = 5 * time.Second
	lingerTimeout = 2 * time.Second
)

// lingeringClose half-closes nc (the response is complete and the
// client sees the end of it) and reads and discards what the client
// still sends, for at most lingerTime and until it pauses for
// lingerTimeout, so that closing does not reset the connection under
// the client's feet while it is still uploading.
func lingeringClose(nc net.Conn) {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	end := time.Now().Add(lingerTime)
	var buf [4096]byte
	for {
		d := time.Now().Add(lingerTimeout)
		if d.After(end) {
			d = end
		}
		nc.SetReadDeadline(d)
		if _, err := nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// release removes c from the connections Shutdown waits for, once.
func (c *conn) release() {
	if !c.untracked {
		c.untracked = true
		c.srv.untrack(c)
	}
}

func (c *conn) serve() {
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			c.srv.Logger.Error("panic serving request", "remote", c.remote, "panic", v, "stack", string(debug.Stack()))
		}
		c.close()
	}()
	if tc, ok := c.nc.(*tls.Conn); ok && !c.handshake(tc) {
		return
	}
	c.armRead(c.srv.IdleTimeout)
	// h2c with prior knowledge starts with "PRI * HTTP/2.0"; no HTTP/1
	// method is PRI, and every HTTP/1 request is at least 4 bytes.
	if b, err := c.br.Peek(4); err != nil {
		return
	} else if string(b) == "PRI " {
		// Over TLS, HTTP/2 is chosen with ALPN (RFC 9113 §3.2), never by
		// prior knowledge.
		if c.srv.H2C == nil || c.reqInit.TLS != nil {
			return
		}
		c.nc.SetReadDeadline(time.Time{})
		c.hijacked = true // owned by the HTTP/2 server from now on
		// ConnState users (Weir's connection gauge) see the hand-off as
		// they see an upgrade; H2C's own ConnState takes over from here.
		c.srv.setState(c, http.StateHijacked)
		c.srv.serveH2C(c)
		return
	}
	for {
		if c.srv.shutdown.Load() && c.br.Buffered() == 0 {
			return
		}
		if _, err := c.br.Peek(1); err != nil {
			return // closed, idle timeout, or shutdown closed us
		}
		c.srv.setState(c, http.StateActive)
		status, err := c.p.readRequest(c)
		if err != nil {
			if status != 0 {
				c.rejectRequest(status)
			}
			return
		}
		keep := c.serveRequest()
		if !keep || c.hijacked {
			return
		}
		c.srv.setState(c, http.StateIdle)
		c.armRead(c.srv.IdleTimeout)
	}
}

// handshake completes the TLS handshake of a connection from a TLS
// listener. It reports whether the connection goes on as HTTP/1.x on
// this server: h2 is handed to H2, and an ACME TLS-ALPN-01 validation
// ("acme-tls/1") ends with the handshake, whose certificate was the
// answer (RFC 8737 §3).
func (c *conn) handshake(tc *tls.Conn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.srv.Logger.Debug("TLS handshake failed", "remote", c.remote, "err", err)
		return false
	}
	c.tls = tc.ConnectionState()
	switch c.tls.NegotiatedProtocol {
	case "h2":
		if c.srv.H2 == nil {
			return false
		}
		c.hijacked = true // owned by the HTTP/2 server from now on
		c.srv.setState(c, http.StateHijacked)
		c.srv.serveH2TLS(c, tc)
		return false
	case "acme-tls/1":
		return false
	}
	c.reqInit.TLS = &c.tls
	c.req = c.reqInit
	return true
}

// serveRequest runs the handler for the parsed request and finishes the
// response. It reports whether the connection can carry another request.
func (c *conn) serveRequest() (keep bool) {
	r := &c.req
	w := &c.rw
	w.reset(r)
	func() {
		defer func() {
			if v := recover(); v != nil {
				w.aborted = true
				if v != http.ErrAbortHandler {
					c.srv.Logger.Error("panic serving request", "remote", c.remote, "uri", r.RequestURI, "panic", v, "stack", string(debug.Stack()))
				}
			}
		}()
		c.srv.Handler.ServeHTTP(w, r)
	}()
	if c.hijacked {
		return false
	}
	if w.aborted {
		// Whatever was buffered is incomplete: drop it with the connection.
		// A close-delimited body would look complete on a plain close, so
		// that one ends with a reset.
		if w.wroteHeader && !w.chunked && w.cl < 0 && !w.bodyless {
			if tc, ok := c.nc.(interface{ SetLinger(int) error }); ok {
				tc.SetLinger(0)
			}
		}
		return false
	}
	if err := w.finish(); err != nil {
		return false
	}
	if w.closeAfter || c.srv.shutdown.Load() || !c.body.drain() {
		// Closing with unread input makes the kernel answer the
		// client's next bytes with a reset, which can destroy the
		// response before the client reads it: linger instead.
		c.linger = c.body.unread()
		return false
	}
	return true
}

// rejectRequest answers a request that could not be parsed, then the
// connection closes.
func (c *conn) rejectRequest(status int) {
	c.bw.WriteString("HTTP/1.1 ")
	c.bw.WriteString(statusLine(status))
	body := `{"message":"` + http.StatusText(status) + `"}` + "\n"
	c.bw.WriteString("\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\nServer: weir\r\nContent-Length: ")
	c.bw.WriteString(itoa(int64(len(body))))
	c.bw.WriteString("\r\n\r\n")
	c.bw.WriteString(body)
	c.bw.Flush()
}

func (c *conn) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c.hijacked = true
	c.nc.SetDeadline(time.Time{})
	c.srv.setState(c, http.StateHijacked)
	// Like net/http, Shutdown does not wait for hijacked connections:
	// their owner closes them (the proxy tracks its tunnels itself).
	c.release()
	return c.nc, bufio.NewReadWriter(c.br, bufio.NewWriter(c.nc)), nil
}
