package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/host/internal/httpwire"
)

// Transport owns Weir's upstream HTTP/1.1 connections: one pool of idle
// keep-alive connections per (address, TLS server name). Pools outlive
// configuration snapshots, so a reload does not drop warm connections.
//
// It is not an http.RoundTripper on purpose: the proxy writes the request
// and reads the response head directly on the pooled connection, without
// the goroutine hand-offs and per-request allocations of http.Transport.
// See docs/RATIONALE.md, "Why our own HTTP/1.1 upstream client?".
type Transport struct {
	// MaxIdlePerHost bounds idle connections kept per pool (Kong's
	// upstream_keepalive_pool_size, default 512).
	MaxIdlePerHost int
	// IdleTimeout closes connections idle for longer (Kong's
	// upstream_keepalive_idle_timeout, default 60s).
	IdleTimeout time.Duration
	// MaxRequestsPerConn closes a connection after that many requests
	// (Kong's upstream_keepalive_max_requests, default 10000).
	MaxRequestsPerConn int

	mu     sync.Mutex
	pools  map[poolKey]*connPool
	closed bool
	stop   chan struct{}
	once   sync.Once
}

type poolKey struct {
	addr       string
	serverName string
	tls        bool
	verify     bool
	identity   string // Service.TLSIdentity
}

type connPool struct {
	mu   sync.Mutex
	idle []*upConn
}

// upConn is one upstream connection with its buffers.
type upConn struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	pool    *connPool
	idleAt  time.Time
	uses    int
	t       *Transport
	aborted atomic.Bool
	rd      deadlineReader
	abortFn func() // c.abort, bound once so each exchange does not allocate it
	// stopAbort unregisters this exchange's client-abort hook.
	stopAbort func() bool
	wArmed    bool // a write deadline is set
	wAt       time.Time

	// per-exchange scratch, reused across requests on this connection
	head respHead
	body httpwire.BodyReader
}

// NewTransport returns a Transport with Kong's keep-alive defaults.
func NewTransport() *Transport {
	t := &Transport{
		MaxIdlePerHost:     512,
		IdleTimeout:        60 * time.Second,
		MaxRequestsPerConn: 10000,
		pools:              make(map[poolKey]*connPool),
		stop:               make(chan struct{}),
	}
	go t.reap()
	return t
}

// Close closes every idle connection and stops the reaper. Connections in
// use are closed when their exchange ends.
func (t *Transport) Close() {
	t.once.Do(func() { close(t.stop) })
	t.mu.Lock()
	t.closed = true
	pools := t.pools
	t.pools = make(map[poolKey]*connPool)
	t.mu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		for _, c := range p.idle {
			c.nc.Close()
		}
		p.idle = nil
		p.mu.Unlock()
	}
}

func (t *Transport) reap() {
	tk := time.NewTicker(t.IdleTimeout / 4)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case now := <-tk.C:
			t.mu.Lock()
			pools := make([]*connPool, 0, len(t.pools))
			for _, p := range t.pools {
				pools = append(pools, p)
			}
			t.mu.Unlock()
			for _, p := range pools {
				p.mu.Lock()
				keep := p.idle[:0]
				for _, c := range p.idle {
					if now.Sub(c.idleAt) > t.IdleTimeout {
						c.nc.Close()
						continue
					}
					keep = append(keep, c)
				}
				clear(p.idle[len(keep):])
				p.idle = keep
				p.mu.Unlock()
			}
		}
	}
}

func (t *Transport) pool(k poolKey) *connPool {
	t.mu.Lock()
	p := t.pools[k]
	if p == nil {
		p = &connPool{}
		t.pools[k] = p
	}
	t.mu.Unlock()
	return p
}

// errStale marks a reused connection that the peer had closed.
var errStale = errors.New("stale keep-alive connection")

// get returns an idle connection for the service's target or dials one.
// reused reports whether the connection came from the pool.
//
// fresh skips the pool: after a stale connection, the others in the pool
// are likely dead too (the upstream restarted), so the retry dials.
func (t *Transport) get(ctx context.Context, addr string, svc *Service, probe, fresh bool) (c *upConn, reused bool, err error) {
	k := poolKey{addr: addr, tls: svc.TLS != nil}
	if svc.TLS != nil {
		k.serverName = svc.TLS.ServerName
		k.verify = !svc.TLS.InsecureSkipVerify
		k.identity = svc.TLSIdentity
	}
	p := t.pool(k)
	now := time.Now()
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := now.Sub(c.idleAt)
		if idle > t.IdleTimeout {
			c.nc.Close()
			continue
		}
		// A connection idle for a while may have been closed by the
		// upstream; when the request cannot be replayed, check before use.
		if (probe || idle > time.Second) && !c.alive() {
			c.nc.Close()
			continue
		}
		return c, true, nil
	}
	d := net.Dialer{Timeout: svc.ConnectTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	if svc.TLS != nil {
		tc := tls.Client(nc, svc.TLS)
		hctx, cancel := context.WithTimeout(ctx, svc.ConnectTimeout)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, false, err
		}
		nc = tc
	}
	c = &upConn{
		nc:   nc,
		bw:   bufio.NewWriterSize(nc, 8<<10),
		pool: p,
		t:    t,
	}
	c.rd.c = c
	c.abortFn = c.abort
	c.br = bufio.NewReaderSize(&c.rd, 8<<10)
	return c, false, nil
}

// alive reports whether an idle connection is still open: no unread
// data, no EOF, no reset.
//
// It must not read through a deadline that has already passed: net.Conn
// then fails with a timeout before looking at the socket, so a closed
// connection would look alive. connAlive peeks at the socket without
// blocking instead (peek_*.go).
func (c *upConn) alive() bool {
	if c.br.Buffered() > 0 {
		return false // unsolicited bytes: protocol error, don't reuse
	}
	return connAlive(c.nc)
}

// release ends an exchange on c. It unregisters the client-abort hook
// first, so that nothing touches a connection once another request may
// own it; then it pools the connection when reuse is true and the hook
// never fired, and closes it otherwise.
func (c *upConn) release(reuse bool) {
	if c.stopAbort != nil {
		if !c.stopAbort() {
			reuse = false // the hook ran (or is running): the client left
		}
		c.stopAbort = nil
	}
	if reuse && !c.aborted.Load() {
		c.put()
		return
	}
	c.nc.Close()
}

// put returns a connection to its pool after a clean exchange.
func (c *upConn) put() {
	c.uses++
	t := c.t
	if c.aborted.Load() || c.uses >= t.MaxRequestsPerConn {
		c.nc.Close()
		return
	}
	c.rd.disarm()
	if c.wArmed {
		c.nc.SetWriteDeadline(time.Time{})
		c.wArmed = false
	}
	c.idleAt = time.Now()
	p := c.pool
	p.mu.Lock()
	if len(p.idle) >= t.MaxIdlePerHost {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// armWrite sets the write deadline for the next writes, coarsely like
// deadlineReader does for reads.
func (c *upConn) armWrite(timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	t := now()
	if !c.wArmed || t.Sub(c.wAt) > timeout/16 {
		c.nc.SetWriteDeadline(t.Add(timeout))
		c.wArmed, c.wAt = true, t
	}
}

// abort makes any blocked read or write on the connection fail now; used
// when the client goes away.
func (c *upConn) abort() {
	c.aborted.Store(true)
	c.nc.SetDeadline(aLongTimeAgo)
}

// deadlineReader applies the service's read timeout to reads from the
// upstream (Kong's read_timeout: the longest wait between two reads).
// Re-arming a deadline costs a runtime timer update, so it is moved only
// when a sixteenth of the timeout has passed since it was last set: the
// effective timeout stays within 6% of the configured one.
type deadlineReader struct {
	c       *upConn
	timeout time.Duration
	armedAt time.Time // when the current deadline was set; zero: none
}

var errAborted = errors.New("upstream exchange aborted")

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.timeout > 0 {
		t := now()
		if d.armedAt.IsZero() || t.Sub(d.armedAt) > d.timeout/16 {
			d.c.nc.SetReadDeadline(t.Add(d.timeout))
			d.armedAt = t
		}
		// abort() stores the flag before moving the deadline, so either
		// its deadline wins or this check sees the flag.
		if d.c.aborted.Load() {
			return 0, errAborted
		}
	}
	return d.c.nc.Read(p)
}

// disarm forgets the read deadline (the connection goes idle or is
// tunnelled).
func (d *deadlineReader) disarm() {
	d.timeout = 0
	if !d.armedAt.IsZero() {
		d.armedAt = time.Time{}
		d.c.nc.SetReadDeadline(time.Time{})
	}
}

func now() time.Time { return time.Now() }

var aLongTimeAgo = time.Unix(1, 0)
