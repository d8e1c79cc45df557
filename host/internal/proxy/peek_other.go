//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package proxy

import (
	"errors"
	"net"
	"time"
)

// connAlive reports whether an idle upstream connection is still open.
// Without a non-blocking peek, it reads with a deadline just in the
// future (a deadline already passed fails before looking at the socket).
// A byte read here is lost, but a connection that has one is not reused.
func connAlive(nc net.Conn) bool {
	var b [1]byte
	nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := nc.Read(b[:])
	nc.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
