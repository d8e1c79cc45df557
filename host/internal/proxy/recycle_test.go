package proxy

import (
	"bytes"
	"net/http"
	"testing"
)

// TestChainReusedOnConnection: on a server with per-connection storage
// the connection's plugin chain is reused by its next request, which
// sees the plugin's effects exactly as the first did; without such
// storage every request gets its own chain.
func TestChainReusedOnConnection(t *testing.T) {
	addr := rawBackend(t, bytes.Repeat([]byte("x"), 64))
	tr := NewTransport()
	defer tr.Close()
	s := benchSnapshot(t, addr)
	s.Routes[0].Plugins = []*Plugin{{Name: "plugin.wasm", Wasm: benchWasmPlugin(t)}}
	h := NewHandler(s, tr, nil)

	w := &benchWriter{h: make(http.Header, 8)}
	var first *chain
	for i := range 4 {
		clear(w.h)
		w.status, w.n = 0, 0
		r := benchRequest()
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK || w.n != 64 {
			t.Fatalf("request %d: status %d, %d body bytes", i, w.status, w.n)
		}
		if got := r.Header.Get("X-Wasm"); got != "1" {
			t.Errorf("request %d: plugin did not set x-wasm on the request (%q)", i, got)
		}
		if got := w.h.Values("X-Resp"); len(got) != 1 || got[0] != "1" {
			t.Errorf("request %d: x-resp %q, want [1]", i, got)
		}
		c, _ := w.scratch.(*chain)
		if c == nil {
			t.Fatalf("request %d: no chain kept for the connection", i)
		}
		if first == nil {
			first = c
		} else if c != first {
			t.Errorf("request %d: chain %p, want the connection's %p", i, c, first)
		}
		if c.h != nil || c.rt != nil || c.host.r != nil || c.host.x != nil || c.streams != nil {
			t.Errorf("request %d: kept chain still refers to the request: %+v", i, c)
		}
	}

	// A writer without per-connection storage (Go's HTTP/2 server).
	plain := &plainWriter{benchWriter{h: make(http.Header, 8)}}
	r := benchRequest()
	h.ServeHTTP(plain, r)
	if plain.status != http.StatusOK || plain.h.Get("X-Resp") != "1" {
		t.Fatalf("without connection storage: status %d, x-resp %q", plain.status, plain.h.Get("X-Resp"))
	}
}

// plainWriter hides benchWriter's ConnScratch (a method of another
// signature shadows the promoted one).
type plainWriter struct{ benchWriter }

func (w *plainWriter) ConnScratch() {}

// TestChainRecycleRefused: a chain another goroutine may still reach is
// not reused.
func TestChainRecycleRefused(t *testing.T) {
	p := benchWasmPlugin(t)
	c := new(chain)
	c.streams = c.streamPtrs[:1]
	c.streams[0] = &c.streamMem[0]
	if !c.recycle() {
		t.Fatal("a chain whose streams never started was not recycled")
	}

	c.streams = c.streamPtrs[:1]
	c.streams[0] = &c.streamMem[0]
	c.host.vals[0] = "kept"
	if err := p.InitHTTPStream(c.streams[0], &c.host); err != nil {
		t.Fatal(err)
	}
	if c.recycle() {
		t.Error("a chain with a live stream (no Done) was recycled")
	}
	if err := c.streams[0].Done(); err != nil {
		t.Fatal(err)
	}
	if !c.recycle() {
		t.Error("a chain whose streams are done was not recycled")
	}
	if c.host.vals[0] != "kept" {
		t.Errorf("recycle cleared the header values the response may still be written from: %q", c.host.vals[0])
	}

	// A stream that failed open (c.streams[i] set to nil) without Done.
	if err := p.InitHTTPStream(&c.streamMem[1], &c.host); err != nil {
		t.Fatal(err)
	}
	c.streams = c.streamPtrs[:2]
	if c.recycle() {
		t.Error("a chain with a live stream only in its inline storage was recycled")
	}
	_ = c.streamMem[1].Done()

	c.shared = true
	if c.recycle() {
		t.Error("a chain shared with an HTTP/2 body writer was recycled")
	}
}
