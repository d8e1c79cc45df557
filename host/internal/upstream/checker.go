package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Start starts the active health checks when healthchecks.active has a
// non-zero healthy or unhealthy interval. As in Kong, the first round runs
// one interval after Start; healthy targets are probed every
// healthy.interval and unhealthy ones every unhealthy.interval. Calling
// Start on a running balancer does nothing; after Stop it starts again.
func (b *Balancer) Start() {
	a := &b.s.active
	if a.healthyInterval <= 0 && a.unhealthyInterval <= 0 {
		return
	}
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if b.cancel != nil {
		return
	}
	if a.typeName == "grpc" || a.typeName == "grpcs" {
		b.log.Warn("upstream active health check type is not implemented; using a TCP connect check",
			"upstream", b.name, "type", a.typeName)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	if a.healthyInterval > 0 {
		b.wg.Add(1)
		go b.checkLoop(ctx, a.healthyInterval, true)
	}
	if a.unhealthyInterval > 0 {
		b.wg.Add(1)
		go b.checkLoop(ctx, a.unhealthyInterval, false)
	}
}

// Stop stops the active health checks, aborting probes in flight, and
// waits for every goroutine to exit. It does nothing when not started.
func (b *Balancer) Stop() {
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
	b.cancel = nil
}

func (b *Balancer) checkLoop(ctx context.Context, every time.Duration, healthy bool) {
	defer b.wg.Done()
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		b.checkRound(ctx, healthy)
		timer.Reset(every)
	}
}

// checkRound probes every target currently in the given state, at most
// `concurrency` at a time, and returns when all probes are done.
func (b *Balancer) checkRound(ctx context.Context, healthy bool) {
	sem := make(chan struct{}, b.s.active.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, t := range b.active {
		if t.st.healthy.Load() != healthy {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b.probe(ctx, t)
		}()
	}
}

type outcome uint8

const (
	outSuccess outcome = iota // TCP connect succeeded (tcp checks)
	outStatus                 // an HTTP status was read
	outTCP                    // connect, TLS or I/O failure
	outTimeout
	outHTTP // malformed response (Kong: status 0, an HTTP failure)
)

// probe runs one active check of t and reports its result.
func (b *Balancer) probe(ctx context.Context, t *Target) {
	a := &b.s.active
	out, status := b.runProbe(ctx, t.Addr)
	if ctx.Err() != nil {
		return // stopped: the result says nothing about the target
	}
	switch out {
	case outSuccess:
		t.report(kindSuccess, a.limits.successes, srcActive, 0)
	case outTCP:
		t.report(kindTCP, a.limits.tcpFailures, srcActive, 0)
	case outTimeout:
		t.report(kindTimeout, a.limits.timeouts, srcActive, 0)
	case outHTTP:
		t.report(kindHTTP, a.limits.httpFailures, srcActive, 0)
	case outStatus:
		switch a.statuses.of(status) {
		case classHealthy:
			t.report(kindSuccess, a.limits.successes, srcActive, status)
		case classUnhealthy:
			t.report(kindHTTP, a.limits.httpFailures, srcActive, status)
		}
	}
}

// runProbe dials addr itself (never a pooled proxy connection), then for
// http/https sends one HTTP/1.1 GET with Connection: close and reads the
// status line. The whole exchange is bounded by active.timeout.
func (b *Balancer) runProbe(parent context.Context, addr string) (outcome, int) {
	a := &b.s.active
	ctx, cancel := context.WithTimeout(parent, a.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return netOutcome(err), 0
	}
	defer conn.Close()
	if a.typ == probeTCP {
		return outSuccess, 0
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // abort on Stop
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if a.typ == probeHTTPS {
		cfg := &tls.Config{
			InsecureSkipVerify: !a.verify, //nolint:gosec // https_verify_certificate: false
			NextProtos:         []string{"http/1.1"},
			ServerName:         a.sni,
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return netOutcome(err), 0
		}
		conn = tc
	}
	u, _ := url.ParseRequestURI(a.path) // validated by newActive
	host := a.host
	if host == "" {
		host = addr
	}
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     a.header.Clone(),
		Host:       host,
		Close:      true,
	}
	if req.Header == nil {
		req.Header = make(http.Header, 1)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "weir-healthcheck")
	}
	if err := req.Write(conn); err != nil {
		return netOutcome(err), 0
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), req)
	if err != nil {
		if o := netOutcome(err); o == outTimeout || isIOError(err) {
			return o, 0
		}
		return outHTTP, 0
	}
	_ = resp.Body.Close()
	return outStatus, resp.StatusCode
}

func netOutcome(err error) outcome {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return outTimeout
	}
	return outTCP
}

func isIOError(err error) bool {
	var op *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &op)
}
