package proxy

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// serveUpgrade completes a protocol upgrade (WebSocket and friends): the
// upstream answered 101, so the client connection is hijacked, the 101
// head is relayed, and bytes are copied both ways until either side
// closes. The service's read timeout is the idle timeout of each
// direction, as nginx's proxy_read_timeout is for WebSockets.
func (h *Handler) serveUpgrade(w http.ResponseWriter, r *http.Request, x *exchange, c *upConn, svc *Service) {
	rc := http.NewResponseController(w)
	cc, brw, err := rc.Hijack()
	if err != nil {
		c.release(false)
		h.log.Warn("upgrade: cannot hijack client connection", "err", err)
		return
	}
	h.hmu.Lock()
	h.hijacked[cc] = struct{}{}
	h.hwg.Add(1)
	h.hmu.Unlock()
	defer func() {
		h.hmu.Lock()
		delete(h.hijacked, cc)
		h.hmu.Unlock()
		h.hwg.Done()
	}()
	defer cc.Close()
	defer c.release(false)

	// Relay the 101 head, including Upgrade and Connection.
	head := &c.head
	bw := brw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for _, f := range head.fields {
		switch f.name {
		case "Connection", "Upgrade":
		default:
			if f.hop {
				continue
			}
		}
		bw.WriteString(f.name)
		bw.WriteString(": ")
		bw.Write(head.raw[f.start:f.end])
		bw.WriteString("\r\n")
	}
	s := h.snap.Load()
	if name := s.Options.RequestIDHeader; name != "" {
		bw.WriteString(name + ": " + x.id + "\r\n")
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return
	}
	cc.SetDeadline(time.Time{})
	c.rd.disarm()
	c.nc.SetDeadline(time.Time{})

	idle := svc.ReadTimeout
	done := make(chan struct{}, 2)
	// upstream -> client: drain what the upstream reader already buffered
	go func() {
		tunnel(cc, c.br, c.nc, idle)
		done <- struct{}{}
	}()
	// client -> upstream: the hijacked reader may hold bytes already
	go func() {
		tunnel(c.nc, brw.Reader, cc, idle)
		done <- struct{}{}
	}()
	<-done
	// One side finished: close both so the other copy ends too.
	cc.Close()
	c.nc.Close()
	<-done
}

// tunnel copies src to dst until EOF or error. idle > 0 bounds the time
// between two reads.
func tunnel(dst net.Conn, src *bufio.Reader, srcConn net.Conn, idle time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		if idle > 0 {
			srcConn.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// CloseHijacked closes every upgraded connection (at the end of a
// graceful shutdown) and waits for their tunnels to end.
func (h *Handler) CloseHijacked() {
	h.hmu.Lock()
	for c := range h.hijacked {
		c.Close()
	}
	h.hmu.Unlock()
	h.hwg.Wait()
}

// Hijacked returns the number of upgraded connections open now.
func (h *Handler) Hijacked() int {
	h.hmu.Lock()
	defer h.hmu.Unlock()
	return len(h.hijacked)
}
