package h1server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseRequest feeds raw request heads to a real server and checks the
// status line the client gets, and for accepted requests what the handler
// saw. A rejected request must never reach the handler and must close the
// connection.
func TestParseRequest(t *testing.T) {
	manyHeaders := func(n int) string {
		var b strings.Builder
		for i := range n - 1 { // plus Host
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		return b.String()
	}
	bigHeaders := func(n, size int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-Big%d: %s\r\n", i, strings.Repeat("a", size))
		}
		return b.String()
	}
	tests := []struct {
		name       string
		req        string
		wantStatus int
		check      func(t *testing.T, r seenRequest) // accepted requests only
	}{
		{
			name:       "origin form",
			req:        "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nX-Test: v\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				want := seenRequest{Method: "GET", RequestURI: "/a/b?x=1&y=%20", Path: "/a/b", RawQuery: "x=1&y=%20",
					Host: "example.com", Proto: "HTTP/1.1", ProtoMinor: 1}
				got := r
				got.Header, got.ContentLength, got.TransferEncoding, got.Body = nil, 0, nil, ""
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
				if v := r.Header["X-Test"]; len(v) != 1 || v[0] != "v" {
					t.Errorf("X-Test = %q", v)
				}
				if r.Header.Get("Host") != "example.com" {
					t.Errorf("Host field = %q", r.Header.Get("Host"))
				}
			},
		},
		{
			name:       "path stays raw",
			req:        "GET /a%2Fb/%7E HTTP/1.1\r\nHost: example.com\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Path != "/a%2Fb/%7E" {
					t.Errorf("Path = %q, want the undecoded target", r.Path)
				}
			},
		},
		{
			name:       "absolute form sets Host from the URL",
			req:        "GET http://other.example:8080/p/q?z=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Host != "other.example:8080" || r.Path != "/p/q" || r.RawQuery != "z=1" {
					t.Errorf("Host %q Path %q RawQuery %q", r.Host, r.Path, r.RawQuery)
				}
			},
		},
		{
			name:       "absolute form https",
			req:        "GET https://other.example/ HTTP/1.1\r\nHost: other.example\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Host != "other.example" || r.Path != "/" {
					t.Errorf("Host %q Path %q", r.Host, r.Path)
				}
			},
		},
		{name: "absolute form with another scheme", req: "GET ftp://other.example/ HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "absolute form with a bad authority", req: "GET http://\"evil/ HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "absolute form without authority", req: "GET http:/p HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "authority form outside CONNECT", req: "GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{
			name:       "OPTIONS asterisk",
			req:        "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Method != "OPTIONS" || r.RequestURI != "*" || r.Path != "*" {
					t.Errorf("Method %q RequestURI %q Path %q", r.Method, r.RequestURI, r.Path)
				}
			},
		},
		{name: "asterisk outside OPTIONS", req: "GET * HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "CONNECT refused", req: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", wantStatus: 405},
		{
			name:       "HTTP/1.0 without Host",
			req:        "GET / HTTP/1.0\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Proto != "HTTP/1.0" || r.ProtoMinor != 0 || !r.Close || r.Host != "" {
					t.Errorf("Proto %q minor %d Close %v Host %q", r.Proto, r.ProtoMinor, r.Close, r.Host)
				}
			},
		},
		{
			name:       "HTTP/1.1 defaults to keep-alive",
			req:        get("/"),
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Close || r.ProtoMinor != 1 {
					t.Errorf("Close %v minor %d", r.Close, r.ProtoMinor)
				}
			},
		},
		{name: "HTTP/2.0 text", req: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", wantStatus: 505},
		{name: "HTTP/1.2", req: "GET / HTTP/1.2\r\nHost: x\r\n\r\n", wantStatus: 505},
		{name: "lowercase version", req: "GET / http/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "no version", req: "GET /\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "missing Host on 1.1", req: "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", wantStatus: 400},
		{name: "two Hosts", req: "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", wantStatus: 400},
		{name: "same Host twice", req: "GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n", wantStatus: 400},
		{name: "Host with a space", req: "GET / HTTP/1.1\r\nHost: a.example b\r\n\r\n", wantStatus: 400},
		{name: "Host with a slash", req: "GET / HTTP/1.1\r\nHost: a.example/admin\r\n\r\n", wantStatus: 400},
		{
			name:       "empty Host",
			req:        "GET / HTTP/1.1\r\nHost:\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Host != "" {
					t.Errorf("Host = %q", r.Host)
				}
			},
		},
		{
			name:       "IPv6 Host with port",
			req:        "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Host != "[::1]:8080" {
					t.Errorf("Host = %q", r.Host)
				}
			},
		},
		{name: "space before colon", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", wantStatus: 400},
		{name: "space before colon on Host", req: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", wantStatus: 400},
		{name: "tab before colon", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n", wantStatus: 400},
		{name: "obs-fold with space", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", wantStatus: 400},
		{name: "obs-fold with tab", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n", wantStatus: 400},
		{name: "field without colon", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n", wantStatus: 400},
		{name: "empty field name", req: "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", wantStatus: 400},
		{name: "separator in field name", req: "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", wantStatus: 400},
		{name: "control char in value", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", wantStatus: 400},
		{name: "unit separator in value", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1fb\r\n\r\n", wantStatus: 400},
		{name: "DEL in value", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", wantStatus: 400},
		{name: "bare CR in value", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", wantStatus: 400},
		{name: "CR CR LF ending", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n", wantStatus: 400},
		{name: "NUL in value", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", wantStatus: 400},
		{name: "NUL in name", req: "GET / HTTP/1.1\r\nHost: x\r\nX\x00A: b\r\n\r\n", wantStatus: 400},
		{name: "NUL in target", req: "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "NUL in method", req: "GE\x00T / HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{
			name:       "tab inside value allowed, OWS trimmed",
			req:        "GET / HTTP/1.1\r\nHost: x\r\nX-A: \t a\tb \t\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if v := r.Header["X-A"]; len(v) != 1 || v[0] != "a\tb" {
					t.Errorf("X-A = %q", v)
				}
			},
		},
		{
			name:       "obs-text in value allowed",
			req:        "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if v := r.Header.Get("X-A"); v != "café" {
					t.Errorf("X-A = %q", v)
				}
			},
		},
		{
			name:       "repeated field keeps order, names canonicalized",
			req:        "GET / HTTP/1.1\r\nHost: x\r\nx-multi: 1\r\nX-MULTI: 2\r\nx_under: u\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if v := r.Header["X-Multi"]; !reflect.DeepEqual(v, []string{"1", "2"}) {
					t.Errorf("X-Multi = %q", v)
				}
				if v, ok := r.Header["X_under"]; ok {
					t.Errorf("X_under = %q reached the handler; underscore names are dropped (header %v)", v, r.Header)
				}
			},
		},
		{name: "too-long request line", req: "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 414},
		{name: "field line over the read buffer", req: "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 9000) + "\r\n\r\n", wantStatus: 431},
		{name: "head over MaxHeaderBytes", req: "GET / HTTP/1.1\r\nHost: x\r\n" + bigHeaders(70, 1000) + "\r\n", wantStatus: 431},
		{
			name:       "head just under MaxHeaderBytes",
			req:        "GET / HTTP/1.1\r\nHost: x\r\n" + bigHeaders(60, 1000) + "\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if len(r.Header) != 61 {
					t.Errorf("%d fields", len(r.Header))
				}
			},
		},
		{
			name:       "256 fields",
			req:        "GET / HTTP/1.1\r\nHost: x\r\n" + manyHeaders(256) + "\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if len(r.Header) != 256 {
					t.Errorf("%d fields", len(r.Header))
				}
			},
		},
		{name: "257 fields", req: "GET / HTTP/1.1\r\nHost: x\r\n" + manyHeaders(257) + "\r\n", wantStatus: 431},
		{name: "1000 fields", req: "GET / HTTP/1.1\r\nHost: x\r\n" + manyHeaders(1000) + "\r\n", wantStatus: 431},
		{
			name:       "leading empty lines tolerated",
			req:        "\r\n\r\n" + get("/after-blank"),
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Path != "/after-blank" {
					t.Errorf("Path = %q", r.Path)
				}
			},
		},
		{name: "endless empty lines refused", req: strings.Repeat("\r\n", 100) + get("/"), wantStatus: 400},
		{
			name:       "extension method",
			req:        "M-SEARCH /x HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Method != "M-SEARCH" {
					t.Errorf("Method = %q", r.Method)
				}
			},
		},
		{
			name:       "method is case-sensitive",
			req:        "get / HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: 200,
			check: func(t *testing.T, r seenRequest) {
				if r.Method != "get" {
					t.Errorf("Method = %q", r.Method)
				}
			},
		},
		{name: "separator in method", req: "G(E)T / HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "slash in method", req: "GET/ / HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "leading space", req: " GET / HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "double space", req: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "tab separators", req: "GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "fragment in path", req: "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "fragment in query", req: "GET /a?b#c HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "fragment in absolute form", req: "GET http://x/a#b HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "DEL in target", req: "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "unknown expectation", req: "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", wantStatus: 417},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := startServer(t, &Server{Handler: rec})
			c := dialRaw(t, ts.addr)
			c.send(tt.req)
			resp, _ := c.mustResponse("GET")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			seen := rec.requests()
			if tt.wantStatus != 200 {
				if len(seen) != 0 {
					t.Errorf("handler saw a rejected request: %+v", seen)
				}
				if !resp.Close { // http.ReadResponse turns "Connection: close" into Close
					t.Errorf("rejection without Connection: close: %v", resp.Header)
				}
				c.expectClosed()
				return
			}
			if len(seen) != 1 {
				t.Fatalf("handler saw %d requests, want 1", len(seen))
			}
			if tt.check != nil {
				tt.check(t, seen[0])
			}
		})
	}
}

// TestSmuggling sends requests whose framing is ambiguous or broken, each
// followed by a second request. The ambiguous head must be refused and
// the follower must never reach the handler: it is either part of a body
// or lost with the closed connection.
func TestSmuggling(t *testing.T) {
	const follower = "GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"
	tests := []struct {
		name       string
		req        string // the follower is appended
		wantStatus int    // 0: the handler answers (and must see a body error)
		readBody   bool   // whether the handler reads the body
	}{
		{name: "CL then TE", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "TE then CL", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "CL 0 with TE", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "TE twice", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "TE chunked then identity", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "TE list chunked twice", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{name: "TE gzip, chunked", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{name: "TE xchunked", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{name: "TE chunkedx", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{name: "TE identity", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", wantStatus: 501},
		{name: "TE empty", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{name: "TE quoted", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{name: "TE with vertical tab", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "TE with space before colon", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "TE folded", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", wantStatus: 501}, // the empty coding is refused first
		{name: "chunked in HTTP/1.0", req: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{name: "two different CLs", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", wantStatus: 400},
		{name: "CL list", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", wantStatus: 400},
		{name: "CL plus sign", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", wantStatus: 400},
		{name: "CL negative", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", wantStatus: 400},
		{name: "CL underscore", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_000\r\n\r\n", wantStatus: 400},
		{name: "CL hex", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", wantStatus: 400},
		{name: "CL empty", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", wantStatus: 400},
		{name: "CL inner space", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 0\r\n\r\nhelloworld", wantStatus: 400},
		{name: "CL huge", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", wantStatus: 400},
		{name: "CL 2^63", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n", wantStatus: 400},
		{name: "CL with space before colon", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", wantStatus: 400},
		{name: "chunk size non-hex", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size negative", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size 0x prefix", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size plus", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size overflow 17 digits", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size overflow sign bit", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size empty", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk data longer than size", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", readBody: true},
		{name: "chunk data shorter than size", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nhello\r\n0\r\n\r\n", readBody: true},
		{name: "chunk size non-hex, body unread", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk overflow, body unread", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk data longer, body unread", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				rec     recorder
				bodyErr = make(chan error, 10)
			)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tt.readBody {
					rec.mu.Lock()
					rec.seen = append(rec.seen, seenRequest{Path: r.URL.Path})
					rec.mu.Unlock()
					w.Header().Set("Content-Length", "2")
					w.Write([]byte("ok"))
					return
				}
				rec.ServeHTTP(w, r)
				seen := rec.requests()
				bodyErr <- seen[len(seen)-1].BodyErr
			})
			ts := startServer(t, &Server{Handler: h})
			c := dialRaw(t, ts.addr)
			c.send(tt.req + follower)
			resp, _, err := c.response("POST")
			switch {
			case tt.wantStatus != 0:
				if err != nil || resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d (err %v), want %d", statusOf(resp), err, tt.wantStatus)
				}
			case err != nil:
				t.Fatalf("reading the handler's response: %v", err)
			}
			c.expectClosed()
			seen := rec.requests()
			for _, s := range seen {
				if s.Path == "/smuggled" {
					t.Fatalf("the smuggled request reached the handler: %+v", seen)
				}
			}
			if tt.wantStatus != 0 && len(seen) != 0 {
				t.Fatalf("handler saw a refused request: %+v", seen)
			}
			if tt.readBody {
				if len(seen) != 1 {
					t.Fatalf("handler saw %d requests, want 1", len(seen))
				}
				if err := <-bodyErr; err == nil {
					t.Fatalf("body read succeeded on broken chunked framing: %q", seen[0].Body)
				}
			}
		})
	}
}

// TestAcceptedFraming covers framing that is valid, or tolerated on
// purpose, with a pipelined follower that must be served as the second
// request after a body consumed exactly.
func TestAcceptedFraming(t *testing.T) {
	hidden := "GET /hidden HTTP/1.1\r\nHost: example.com\r\n\r\n"
	tests := []struct {
		name     string
		req      string
		wantBody string
		readBody bool
	}{
		{name: "same CL twice", req: "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", wantBody: "hello", readBody: true},
		{name: "CL with OWS", req: "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length:  5 \r\n\r\nhello", wantBody: "hello", readBody: true},
		{name: "CL leading zeros", req: "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello", wantBody: "hello", readBody: true},
		{name: "TE case-insensitive", req: "POST /first HTTP/1.1\r\nHost: x\r\ntransfer-encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", wantBody: "hello", readBody: true},
		// "chunked " is "chunked" plus optional whitespace, which RFC 9110
		// §5.5 says to strip: it is chunked framing, nothing else.
		{name: "TE trailing space is chunked", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n", wantBody: "hello", readBody: true},
		{name: "chunk extensions ignored", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n0;x\r\n\r\n", wantBody: "hello", readBody: true},
		{name: "chunk size uppercase hex", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", wantBody: "0123456789", readBody: true},
		{name: "chunked trailers skipped", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\nContent-Length: 99\r\n\r\n", wantBody: "hello", readBody: true},
		{name: "request hidden in a CL body", req: "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: " + fmt.Sprint(len(hidden)) + "\r\n\r\n" + hidden, wantBody: hidden, readBody: true},
		{name: "request hidden in a CL body, unread", req: "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: " + fmt.Sprint(len(hidden)) + "\r\n\r\n" + hidden},
		{name: "request hidden in a chunk", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(hidden)) + "\r\n" + hidden + "\r\n0\r\n\r\n", wantBody: hidden, readBody: true},
		{name: "request hidden in a chunk, unread", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(hidden)) + "\r\n" + hidden + "\r\n0\r\n\r\n"},
		// Bare LF line endings: RFC 9112 §2.2 lets a recipient accept LF
		// alone as a line terminator. Weir does, in the head and in chunked
		// framing; since it re-frames every request it forwards, the
		// upstream never sees them. A bare CR is never a terminator.
		{name: "bare LF head", req: "POST /first HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello", wantBody: "hello", readBody: true},
		{name: "mixed CRLF and LF", req: "POST /first HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\nhello", wantBody: "hello", readBody: true},
		{name: "bare LF chunked", req: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", wantBody: "hello", readBody: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tt.readBody {
					rec.mu.Lock()
					rec.seen = append(rec.seen, seenRequest{Path: r.URL.Path})
					rec.mu.Unlock()
					w.Header().Set("Content-Length", "2")
					w.Write([]byte("ok"))
					return
				}
				rec.ServeHTTP(w, r)
			})
			ts := startServer(t, &Server{Handler: h})
			c := dialRaw(t, ts.addr)
			c.send(tt.req + get("/second"))
			for i := range 2 {
				if resp, body := c.mustResponse("GET"); resp.StatusCode != 200 || string(body) != "ok" {
					t.Fatalf("response %d: %d %q", i, resp.StatusCode, body)
				}
			}
			c.expectOpen()
			seen := rec.requests()
			if len(seen) != 2 || seen[0].Path != "/first" || seen[1].Path != "/second" {
				t.Fatalf("handler saw %+v, want /first then /second", seen)
			}
			if tt.readBody && (seen[0].Body != tt.wantBody || seen[0].BodyErr != nil) {
				t.Fatalf("body %q (err %v), want %q", seen[0].Body, seen[0].BodyErr, tt.wantBody)
			}
		})
	}
}

// TestBareCR checks that a CR alone never ends a line: the request is
// refused, and what follows the CR is not read as a field.
func TestBareCR(t *testing.T) {
	tests := []struct {
		name       string
		req        string
		wantStatus int
	}{
		// The request line's version becomes "HTTP/1.1\rHost: x".
		{name: "CR after the request line", req: "GET / HTTP/1.1\rHost: x\r\n\r\n", wantStatus: 505},
		{name: "CR between fields", req: "GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", wantStatus: 400},
		{name: "CR smuggling a CL", req: "POST / HTTP/1.1\r\nHost: x\r\nX-A: b\rContent-Length: 5\r\n\r\nhello", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := startServer(t, &Server{Handler: rec})
			c := dialRaw(t, ts.addr)
			c.send(tt.req)
			resp, _ := c.mustResponse("GET")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			c.expectClosed()
			if n := len(rec.requests()); n != 0 {
				t.Fatalf("handler saw %d requests", n)
			}
		})
	}
}

// TestUnderscoreFieldsDropped: a field spelled with underscores never
// reaches the handler (nginx's underscores_in_headers off), so no backend
// can mistake Transfer_Encoding for framing.
func TestUnderscoreFieldsDropped(t *testing.T) {
	var seen http.Header
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nX_Secret: 1\r\nX-Ok: 1\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 204") {
		t.Fatalf("status line %q, err %v", line, err)
	}
	if seen.Get("X-Ok") != "1" {
		t.Fatalf("X-Ok missing: %v", seen)
	}
	for k := range seen {
		if strings.Contains(k, "_") || k == "Transfer-Encoding" {
			t.Fatalf("underscore field reached the handler: %v", seen)
		}
	}
}
