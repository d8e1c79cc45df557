package h1server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoPath answers with the request path as a Content-Length body.
var echoPath = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", strconv.Itoa(len(r.URL.Path)))
	io.WriteString(w, r.URL.Path)
})

func TestKeepAliveReuse(t *testing.T) {
	remotes := make(chan string, 100)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remotes <- r.RemoteAddr
		echoPath(w, r)
	})
	ts := startServer(t, &Server{Handler: h})
	c := dialRaw(t, ts.addr)
	const n = 20
	for i := range n {
		path := fmt.Sprintf("/req/%d", i)
		c.send(get(path))
		resp, body := c.mustResponse("GET")
		if resp.StatusCode != 200 || string(body) != path || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	c.expectOpen()
	first := <-remotes
	if first != c.nc.LocalAddr().String() {
		t.Errorf("RemoteAddr %q, want %q", first, c.nc.LocalAddr())
	}
	for i := 1; i < n; i++ {
		if r := <-remotes; r != first {
			t.Fatalf("request %d came from %q, want %q (a new connection)", i, r, first)
		}
	}
}

func TestConnectionPersistence(t *testing.T) {
	noLength := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "streamed") })
	closer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echoPath(w, r)
	})
	tests := []struct {
		name      string
		handler   http.Handler
		req       string
		wantBody  string
		wantClose bool
		wantConn  string // a Connection token the response must carry ("" none required)
	}{
		{name: "1.1 default", handler: echoPath, req: get("/a"), wantBody: "/a"},
		{name: "1.1 Connection: close", handler: echoPath, req: "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wantBody: "/a", wantClose: true, wantConn: "close"},
		{name: "1.1 close in a token list", handler: echoPath, req: "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", wantBody: "/a", wantClose: true, wantConn: "close"},
		{name: "1.1 keep-alive token is a no-op", handler: echoPath, req: "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", wantBody: "/a"},
		{name: "1.0 default closes", handler: echoPath, req: "GET /a HTTP/1.0\r\n\r\n", wantBody: "/a", wantClose: true},
		{name: "1.0 keep-alive stays open", handler: echoPath, req: "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wantBody: "/a", wantConn: "keep-alive"},
		{name: "1.0 keep-alive without a length closes", handler: noLength, req: "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wantBody: "streamed", wantClose: true, wantConn: "close"},
		{name: "handler's Connection: close", handler: closer, req: get("/a"), wantBody: "/a", wantClose: true, wantConn: "close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Handler: tt.handler})
			c := dialRaw(t, ts.addr)
			c.send(tt.req)
			resp, body := c.mustResponse("GET")
			if resp.StatusCode != 200 || string(body) != tt.wantBody {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			switch tt.wantConn {
			case "close":
				if !resp.Close {
					t.Errorf("no Connection: close in %v", resp.Header)
				}
			case "":
			default:
				if !hasToken(resp.Header["Connection"], tt.wantConn) {
					t.Errorf("Connection %q, want %q", resp.Header["Connection"], tt.wantConn)
				}
			}
			if tt.wantClose {
				c.expectClosed()
				return
			}
			if resp.Close {
				t.Fatal("response says close on a persistent connection")
			}
			c.send(strings.Replace(tt.req, "/a", "/b", 1))
			if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "/b" {
				t.Fatalf("second request: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestPipelining(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		out := r.Method + " " + r.URL.Path + " " + string(b)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		io.WriteString(w, out)
	})
	ts := startServer(t, &Server{Handler: h})
	c := dialRaw(t, ts.addr)
	c.send(get("/1") +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" +
		"PUT /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	for i, want := range []string{"GET /1 ", "POST /2 body", "PUT /3 abc"} {
		resp, body := c.mustResponse("GET")
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("response %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
	}
	c.expectOpen()
}

func TestHEAD(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantCL  string
	}{
		{
			name: "declared length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "11")
				if n, err := io.WriteString(w, "hello world"); n != 11 || err != nil {
					panic(fmt.Sprintf("HEAD write: %d %v", n, err))
				}
			},
			wantCL: "11",
		},
		{
			name:    "no length",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello world") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Handler: tt.handler})
			c := dialRaw(t, ts.addr)
			c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, _ := c.mustResponse("HEAD")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != tt.wantCL || len(resp.TransferEncoding) != 0 {
				t.Fatalf("status %d, header %v, TE %v", resp.StatusCode, resp.Header, resp.TransferEncoding)
			}
			// Body bytes after a HEAD response would be read as the next
			// response's status line.
			c.send(get("/next"))
			if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "hello world" {
				t.Fatalf("next: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestBodylessStatus(t *testing.T) {
	for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			writeErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/next" {
					echoPath(w, r)
					return
				}
				if code == http.StatusNoContent {
					w.Header().Set("Content-Length", "4")
				}
				w.WriteHeader(code)
				_, err := io.WriteString(w, "body")
				writeErr <- err
			})
			ts := startServer(t, &Server{Handler: h})
			c := dialRaw(t, ts.addr)
			c.send(get("/") + get("/next"))
			resp, body := c.mustResponse("GET")
			if resp.StatusCode != code || len(body) != 0 || len(resp.TransferEncoding) != 0 {
				t.Fatalf("%d body %q TE %v", resp.StatusCode, body, resp.TransferEncoding)
			}
			if code == http.StatusNoContent && resp.Header.Get("Content-Length") != "" {
				t.Errorf("204 with Content-Length %q", resp.Header.Get("Content-Length"))
			}
			if err := <-writeErr; !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("Write on %d: %v, want ErrBodyNotAllowed", code, err)
			}
			if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "/next" {
				t.Fatalf("next: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestResponseFramingWithoutLength(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1,")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
	})
	tests := []struct {
		name        string
		req         string
		wantChunked bool
		wantClose   bool
	}{
		{name: "HTTP/1.1 is chunked", req: get("/"), wantChunked: true},
		{name: "HTTP/1.0 is close-delimited", req: "GET / HTTP/1.0\r\n\r\n", wantClose: true},
		{name: "HTTP/1.0 keep-alive is close-delimited", req: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wantClose: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Handler: h})
			c := dialRaw(t, ts.addr)
			c.send(tt.req)
			resp, body := c.mustResponse("GET")
			if string(body) != "part1,part2" {
				t.Fatalf("body %q", body)
			}
			if chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"; chunked != tt.wantChunked {
				t.Errorf("TE %v, want chunked %v", resp.TransferEncoding, tt.wantChunked)
			}
			if resp.Header.Get("Content-Length") != "" {
				t.Errorf("Content-Length %q", resp.Header.Get("Content-Length"))
			}
			if resp.Close != tt.wantClose {
				t.Errorf("Close %v, want %v", resp.Close, tt.wantClose)
			}
			if tt.wantClose {
				c.expectClosed()
			} else {
				c.expectOpen()
			}
		})
	}
}

func TestContentLengthEnforced(t *testing.T) {
	t.Run("overrun", func(t *testing.T) {
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 1)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/next" {
				echoPath(w, r)
				return
			}
			w.Header().Set("Content-Length", "5")
			n, err := io.WriteString(w, "hello world")
			res <- result{n, err}
		})
		ts := startServer(t, &Server{Handler: h})
		c := dialRaw(t, ts.addr)
		c.send(get("/") + get("/next"))
		if resp, body := c.mustResponse("GET"); string(body) != "hello" || resp.ContentLength != 5 {
			t.Fatalf("body %q CL %d", body, resp.ContentLength)
		}
		if r := <-res; r.n != 5 || !errors.Is(r.err, http.ErrContentLength) {
			t.Fatalf("Write = %d, %v; want 5, ErrContentLength", r.n, r.err)
		}
		// The extra bytes were not sent: the next response parses.
		if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "/next" {
			t.Fatalf("next: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("short", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "hello")
		})
		ts := startServer(t, &Server{Handler: h})
		c := dialRaw(t, ts.addr)
		c.send(get("/"))
		_, body, err := c.response("GET")
		if !errors.Is(err, io.ErrUnexpectedEOF) || string(body) != "hello" {
			t.Fatalf("body %q err %v, want a truncated body", body, err)
		}
		c.expectClosed()
	})
}

func TestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "payload")
		w.Header().Set(http.TrailerPrefix+"X-Checksum", "abc123")
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"X-Split", "a\r\nX-Injected: 1")
		w.Header().Set(http.TrailerPrefix+"Bad Name", "v")
	})
	ts := startServer(t, &Server{Handler: h})
	client := &http.Client{Transport: &http.Transport{}, Timeout: ioTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "payload" {
		t.Fatalf("body %q err %v", body, err)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("TE %v", resp.TransferEncoding)
	}
	want := http.Header{"X-Checksum": {"abc123"}, "Grpc-Status": {"0"}}
	if fmt.Sprint(resp.Trailer) != fmt.Sprint(want) {
		t.Errorf("trailer %v, want %v", resp.Trailer, want)
	}
	for k := range resp.Header {
		if strings.HasPrefix(k, http.TrailerPrefix) || k == "X-Checksum" || k == "X-Injected" {
			t.Errorf("trailer key %q leaked into the header", k)
		}
	}
}

func TestExpectContinue(t *testing.T) {
	echoBody := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("read") == "" {
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	const head = "POST /?read=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"

	t.Run("handler reads: 100 then the response", func(t *testing.T) {
		ts := startServer(t, &Server{Handler: echoBody})
		c := dialRaw(t, ts.addr)
		c.send(head)
		resp, _ := c.mustResponse("POST")
		if resp.StatusCode != http.StatusContinue {
			t.Fatalf("first response %d, want 100", resp.StatusCode)
		}
		c.send("hello")
		if resp, body := c.mustResponse("POST"); resp.StatusCode != 200 || string(body) != "hello" {
			t.Fatalf("final: %d %q", resp.StatusCode, body)
		}
		c.send(get("/"))
		if resp, _ := c.mustResponse("GET"); resp.StatusCode != 401 {
			t.Fatalf("reuse: %d", resp.StatusCode)
		}
	})
	t.Run("handler answers without reading: no 100, close", func(t *testing.T) {
		ts := startServer(t, &Server{Handler: echoBody})
		c := dialRaw(t, ts.addr)
		c.send(strings.Replace(head, "?read=1", "", 1))
		resp, _ := c.mustResponse("POST")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("first response %d, want 401 without a 100", resp.StatusCode)
		}
		if !resp.Close {
			t.Error("the server closes but the response does not say so")
		}
		c.expectClosed()
	})
	t.Run("no 100 for HTTP/1.0", func(t *testing.T) {
		ts := startServer(t, &Server{Handler: echoBody})
		c := dialRaw(t, ts.addr)
		c.send(strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + "hello")
		if resp, body := c.mustResponse("POST"); resp.StatusCode != 200 || string(body) != "hello" {
			t.Fatalf("got %d %q, want the final response first", resp.StatusCode, body)
		}
	})
	t.Run("net/http client", func(t *testing.T) {
		ts := startServer(t, &Server{Handler: echoBody})
		tr := &http.Transport{ExpectContinueTimeout: time.Minute} // never gives up waiting for the 100
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("POST", "http://"+ts.addr+"/?read=1", strings.NewReader("hello"))
		req.Header.Set("Expect", "100-continue")
		client := &http.Client{Transport: tr, Timeout: ioTimeout}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
}

func TestUnreadBodyDrain(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echoPath(w, r) // never reads the body
	})
	tests := []struct {
		name      string
		size      int
		chunked   bool
		wantReuse bool
	}{
		{name: "small", size: 1 << 10, wantReuse: true},
		{name: "100 KiB", size: 100 << 10, wantReuse: true},
		{name: "256 KiB", size: 256 << 10, wantReuse: true},
		{name: "100 KiB chunked", size: 100 << 10, chunked: true, wantReuse: true},
		{name: "256 KiB + 1", size: 256<<10 + 1, wantReuse: false},
		{name: "1 MiB", size: 1 << 20, wantReuse: false},
		{name: "1 MiB chunked", size: 1 << 20, chunked: true, wantReuse: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Handler: h})
			c := dialRaw(t, ts.addr)
			var msg strings.Builder
			body := strings.Repeat("x", tt.size)
			if tt.chunked {
				msg.WriteString("POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
				for len(body) > 0 {
					n := min(len(body), 16<<10)
					fmt.Fprintf(&msg, "%x\r\n%s\r\n", n, body[:n])
					body = body[n:]
				}
				msg.WriteString("0\r\n\r\n")
			} else {
				fmt.Fprintf(&msg, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", tt.size, body)
			}
			msg.WriteString(get("/second"))
			// The server may close before taking it all: write aside.
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				io.WriteString(c.nc, msg.String())
			}()
			defer func() { c.nc.Close(); <-wrote }()
			if resp, body := c.mustResponse("POST"); resp.StatusCode != 200 || string(body) != "/first" {
				t.Fatalf("first: %d %q", resp.StatusCode, body)
			}
			if !tt.wantReuse {
				closed, _ := c.closedWithin(2 * time.Second)
				if !closed {
					t.Fatal("connection kept after a large unread body")
				}
				return
			}
			if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "/second" {
				t.Fatalf("second: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestInterimResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.Header().Set("Content-Length", "4") // meant for the final response
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "done")
	})
	t.Run("HTTP/1.1", func(t *testing.T) {
		ts := startServer(t, &Server{Handler: h})
		c := dialRaw(t, ts.addr)
		c.send(get("/"))
		resp, body := c.mustResponse("GET")
		if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") != "</style.css>; rel=preload" || len(body) != 0 {
			t.Fatalf("first: %d %v %q, want 103 with Link", resp.StatusCode, resp.Header, body)
		}
		if v := resp.Header.Get("Content-Length"); v != "" {
			t.Errorf("103 carries Content-Length %q", v)
		}
		resp, body = c.mustResponse("GET")
		if resp.StatusCode != 200 || string(body) != "done" || resp.Header.Get("Link") != "" {
			t.Fatalf("final: %d %v %q", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("net/http client sees the 103", func(t *testing.T) {
		ts := startServer(t, &Server{Handler: h})
		var got []int
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "http://"+ts.addr+"/", nil)
		req = req.WithContext(httptraceWith1xx(req, &got))
		resp, err := (&http.Client{Transport: tr, Timeout: ioTimeout}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "done" || fmt.Sprint(got) != "[103]" {
			t.Fatalf("%d %q 1xx %v", resp.StatusCode, body, got)
		}
	})
	t.Run("never to HTTP/1.0", func(t *testing.T) {
		// A 1.0 client would take the 103 for the response (RFC 9110 §15.2).
		ts := startServer(t, &Server{Handler: h})
		c := dialRaw(t, ts.addr)
		c.send("GET / HTTP/1.0\r\n\r\n")
		resp, body := c.mustResponse("GET")
		if resp.StatusCode != 200 || string(body) != "done" {
			t.Fatalf("first response %d %q, want the final 200", resp.StatusCode, body)
		}
	})
}

func TestDateHeader(t *testing.T) {
	ts := startServer(t, &Server{Handler: echoPath})
	c := dialRaw(t, ts.addr)
	for i := range 2 { // the second comes from the per-second cache
		c.send(get("/"))
		resp, _ := c.mustResponse("GET")
		d, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil {
			t.Fatalf("request %d: Date %q: %v", i, resp.Header.Get("Date"), err)
		}
		if since := time.Since(d); since < -2*time.Second || since > 2*time.Second {
			t.Fatalf("Date %v is %v away from now", d, since)
		}
	}
}

// readAllResponseBytes sends a request that closes the connection and
// returns every byte the server sent.
func readAllResponseBytes(t *testing.T, addr, req string) string {
	t.Helper()
	c := dialRaw(t, addr)
	c.send(req)
	b, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return string(b)
}

func TestResponseHeaderInjection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("X-Evil", "a\r\nSet-Cookie: pwn=1")
		hdr.Set("X-Lf", "b\nX-Injected: 1")
		hdr["X-Bad\r\nInjected-Name"] = []string{"v"}
		hdr["Bad Name"] = []string{"v"}
		hdr["Transfer-Encoding"] = []string{"chunked"}
		hdr["Content-Length"] = []string{"5", "6"}
		if r.URL.Path == "/interim" {
			w.WriteHeader(http.StatusEarlyHints)
		}
		io.WriteString(w, "hello")
	})
	ts := startServer(t, &Server{Handler: h})
	for _, path := range []string{"/", "/interim"} {
		t.Run(path, func(t *testing.T) {
			raw := readAllResponseBytes(t, ts.addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			head, body, ok := strings.Cut(raw[strings.LastIndex(raw, "HTTP/1.1 200"):], "\r\n\r\n")
			if !ok || body != "hello" {
				t.Fatalf("response %q", raw)
			}
			for _, line := range strings.Split(raw, "\r\n") {
				name, _, _ := strings.Cut(line, ":")
				switch strings.ToLower(name) {
				case "set-cookie", "x-injected", "injected-name", "bad name", "transfer-encoding":
					t.Errorf("injected or forbidden line %q in %q", line, raw)
				}
				if strings.ContainsAny(line, "\n\r") {
					t.Errorf("bare line break in %q", line)
				}
			}
			if !strings.Contains(head, "X-Evil: a  Set-Cookie: pwn=1\r\n") || !strings.Contains(head, "X-Lf: b X-Injected: 1\r\n") {
				t.Errorf("values not neutralized in %q", head)
			}
			if n := strings.Count(strings.ToLower(raw), "content-length:"); n != 1 || !strings.Contains(head, "Content-Length: 5\r\n") {
				t.Errorf("%d Content-Length lines, want exactly one of 5: %q", n, raw)
			}
		})
	}
}

func TestHandlerPanic(t *testing.T) {
	tests := []struct {
		name      string
		req       string
		handler   http.HandlerFunc
		wantHead  bool // whether a status line arrives before the close
		wantLog   bool
		wantPanic bool
	}{
		{
			name:    "before writing",
			req:     get("/"),
			handler: func(w http.ResponseWriter, r *http.Request) { panic("boom") },
			wantLog: true,
		},
		{
			name: "buffered, unflushed",
			req:  get("/"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, "partial")
				panic("boom")
			},
			wantLog: true,
		},
		{
			name: "after flush, length-framed",
			req:  get("/"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic("boom")
			},
			wantHead: true, wantLog: true,
		},
		{
			name: "after flush, chunked",
			req:  get("/"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic("boom")
			},
			wantHead: true, wantLog: true,
		},
		{
			name: "after flush, close-delimited HTTP/1.0",
			req:  "GET / HTTP/1.0\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic("boom")
			},
			wantHead: true, wantLog: true,
		},
		{
			name: "ErrAbortHandler is quiet",
			req:  get("/"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			},
			wantHead: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Handler: tt.handler})
			c := dialRaw(t, ts.addr)
			c.send(tt.req + get("/second"))
			resp, body, err := c.response("GET")
			switch {
			case !tt.wantHead && err == nil:
				t.Fatalf("got a response %d %q from a handler that panicked before sending", resp.StatusCode, body)
			case tt.wantHead && resp == nil:
				t.Fatalf("no response head: %v", err)
			case tt.wantHead && err == nil:
				t.Fatalf("truncated response presented as complete: %d %q", resp.StatusCode, body)
			}
			if closed, _ := c.closedWithin(2 * time.Second); !closed {
				t.Fatal("connection open after a panic")
			}
			logged := strings.Contains(ts.log.String(), "panic serving request")
			if logged != tt.wantLog {
				t.Errorf("logged %v, want %v: %s", logged, tt.wantLog, ts.log.String())
			}
			// The server goes on serving.
			c2 := dialRaw(t, ts.addr)
			c2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, _, err := c2.response("GET"); err == nil && !tt.wantHead {
				t.Fatal("second connection got a response from the panicking handler")
			}
		})
	}
}

func TestHijack(t *testing.T) {
	afterHijack := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer nc.Close()
		_, err = w.Write([]byte("x"))
		afterHijack <- err
		_, _, err = w.(http.Hijacker).Hijack()
		afterHijack <- err
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		for range 2 {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(strings.ToUpper(line))
			rw.Flush()
		}
	})
	ts := startServer(t, &Server{Handler: h})
	c := dialRaw(t, ts.addr)
	// "early" arrives with the head: it is in the server's buffer and must
	// reach the hijacker.
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	c.send("later\n")
	for _, want := range []string{"EARLY\n", "LATER\n"} {
		if line, err := c.br.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	c.expectClosed()
	for range 2 {
		if err := <-afterHijack; !errors.Is(err, http.ErrHijacked) {
			t.Errorf("use after Hijack: %v, want ErrHijacked", err)
		}
	}
}

func TestFlush(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(ioTimeout):
		}
		io.WriteString(w, "second")
	})
	ts := startServer(t, &Server{Handler: h})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: ioTimeout}).Get("http://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	start := time.Now()
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("%q %v", buf, err)
	}
	if d := time.Since(start); d > ioTimeout/2 {
		t.Fatalf("flushed bytes took %v: they waited for the handler", d)
	}
	close(release)
	if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != "second" {
		t.Fatalf("%q %v", rest, err)
	}
}

// TestRequestReset checks that nothing one handler did to the reused
// request leaks into the next request on the connection.
func TestRequestReset(t *testing.T) {
	type view struct {
		pathValue, form, header, host string
		body                          bool
	}
	views := make(chan view, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		views <- view{r.PathValue("k"), r.Form.Get("f"), r.Header.Get("X-Added"), r.URL.Host, r.Body != http.NoBody}
		r.SetPathValue("k", "stale")
		r.Form = url.Values{"f": {"stale"}}
		r.Header.Set("X-Added", "stale")
		r.URL.Host = "stale"
		r.Body = io.NopCloser(strings.NewReader("stale"))
		echoPath(w, r)
	})
	ts := startServer(t, &Server{Handler: h})
	c := dialRaw(t, ts.addr)
	c.send(get("/1") + get("/2"))
	for range 2 {
		c.mustResponse("GET")
	}
	for i := range 2 {
		if v := <-views; v != (view{}) {
			t.Errorf("request %d saw %+v left by the previous handler", i, v)
		}
	}
}

// httptraceWith1xx records the 1xx codes a net/http client sees.
func httptraceWith1xx(req *http.Request, got *[]int) context.Context {
	return httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			*got = append(*got, code)
			return nil
		},
	})
}

// sanity check that the raw helpers see what a net/http client sees.
func TestNetHTTPClientInterop(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Write(b)
	})
	ts := startServer(t, &Server{Handler: h})
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	var conns atomic.Int32
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	client := &http.Client{Transport: tr, Timeout: ioTimeout}
	for i := range 5 {
		resp, err := client.Post("http://"+ts.addr+"/", "text/plain", bufio.NewReader(strings.NewReader(fmt.Sprint("body", i))))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprint("body", i) || resp.Header.Get("X-Method") != "POST" {
			t.Fatalf("%q %v", b, resp.Header)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1", n)
	}
}
