//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// connAlive reports whether an idle upstream connection is still open, by
// peeking at its socket without blocking: no data yet means open; an
// orderly close (FIN) or an error (RST) means dead. Unread bytes on a
// plain connection are a protocol error (the upstream sent more than its
// response), so the connection is not reused; under TLS they may be a
// session ticket, so it is.
func connAlive(nc net.Conn) bool {
	raw := nc
	tc, isTLS := nc.(*tls.Conn)
	if isTLS {
		raw = tc.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return true // cannot tell; the stale-connection retry covers it
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var p peek
	if err := rc.Read(p.do); err != nil {
		return false
	}
	switch {
	case p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK:
		return true
	case p.err != nil, p.n == 0:
		return false
	}
	return isTLS
}

type peek struct {
	buf [1]byte
	n   int
	err error
}

func (p *peek) do(fd uintptr) bool {
	p.n, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true // never wait for readiness
}
