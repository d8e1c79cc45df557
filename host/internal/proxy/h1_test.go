package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weirproxy/weir/host/internal/httpwire"
)

func TestReadHead(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantErr    error
		status     int
		contentLen int64
		chunked    bool
		close      bool
		forwarded  http.Header // what copyTo must produce
	}{
		{
			name:       "simple",
			in:         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
			status:     200,
			contentLen: 5,
			forwarded:  http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}},
		},
		{
			name:       "no reason phrase, bare LF, odd case and spaces",
			in:         "HTTP/1.1 204\nx-custom-HEADER:   a b  \n\n",
			status:     204,
			contentLen: -1,
			forwarded:  http.Header{"X-Custom-Header": {"a b"}},
		},
		{
			name:       "chunked wins over content-length and is hop-by-hop",
			in:         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n",
			status:     200,
			contentLen: -1,
			chunked:    true,
			forwarded:  http.Header{"Content-Length": {"10"}},
		},
		{
			name:       "connection tokens are hop-by-hop",
			in:         "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Ok: 1\r\n\r\n",
			status:     200,
			contentLen: -1,
			close:      true,
			forwarded:  http.Header{"X-Ok": {"1"}},
		},
		{
			name:       "HTTP/1.0 closes unless keep-alive",
			in:         "HTTP/1.0 200 OK\r\n\r\n",
			status:     200,
			contentLen: -1,
			close:      true,
			forwarded:  http.Header{},
		},
		{
			name:       "HTTP/1.0 keep-alive",
			in:         "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			status:     200,
			contentLen: 0,
			forwarded:  http.Header{"Content-Length": {"0"}},
		},
		{
			name:       "repeated headers keep their order",
			in:         "HTTP/1.1 302 Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nLocation: /x\r\n\r\n",
			status:     302,
			contentLen: -1,
			forwarded:  http.Header{"Set-Cookie": {"a=1", "b=2"}, "Location": {"/x"}},
		},
		{name: "garbage status line", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: errMalformed},
		{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: errMalformed},
		{name: "obs-fold refused", in: "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", wantErr: errMalformed},
		{name: "space before colon refused", in: "HTTP/1.1 200 OK\r\nA : b\r\n\r\n", wantErr: errMalformed},
		{name: "conflicting content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", wantErr: errMalformed},
		{name: "bad content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: errMalformed},
		{name: "unknown transfer-encoding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: errMalformed},
		{name: "truncated head", in: "HTTP/1.1 200 OK\r\nA: b\r\n", wantErr: errMalformed},
		{name: "status below 100", in: "HTTP/1.1 099 Weird\r\n\r\n", wantErr: errMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h respHead
			got, err := h.read(bufio.NewReader(strings.NewReader(tc.in)))
			if !got {
				t.Fatalf("gotBytes = false")
			}
			if tc.wantErr != nil {
				if err != tc.wantErr {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if h.status != tc.status || h.contentLen != tc.contentLen || h.chunked != tc.chunked || h.close != tc.close {
				t.Fatalf("got status=%d len=%d chunked=%v close=%v, want %d %d %v %v",
					h.status, h.contentLen, h.chunked, h.close, tc.status, tc.contentLen, tc.chunked, tc.close)
			}
			dst := http.Header{}
			h.copyTo(dst)
			if len(dst) != len(tc.forwarded) {
				t.Fatalf("forwarded %v, want %v", dst, tc.forwarded)
			}
			for k, want := range tc.forwarded {
				if strings.Join(dst[k], "|") != strings.Join(want, "|") {
					t.Fatalf("header %s = %q, want %q", k, dst[k], want)
				}
			}
		})
	}
}

func TestReadHeadEmptyConnection(t *testing.T) {
	var h respHead
	got, err := h.read(bufio.NewReader(strings.NewReader("")))
	if got || err != io.EOF {
		t.Fatalf("got=%v err=%v, want false, EOF (stale connection signature)", got, err)
	}
}

func TestBodyReader(t *testing.T) {
	tests := []struct {
		name     string
		head     string
		body     string
		want     string
		wantErr  bool
		trailers http.Header
	}{
		{name: "length", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", body: "hello world", want: "hello"},
		{name: "length truncated", head: "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", body: "short", want: "short", wantErr: true},
		{name: "chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: "5\r\nhello\r\n1;ext=1\r\n \r\nC\r\nworld, more!\r\n0\r\n\r\n", want: "hello world, more!"},
		{name: "chunked trailers", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: "3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nContent-Length: 9\r\n\r\n", want: "abc",
			trailers: http.Header{http.TrailerPrefix + "Grpc-Status": {"0"}}},
		{name: "chunked bad size", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body: "zz\r\n", wantErr: true},
		{name: "chunked missing CRLF", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body: "3\r\nabcX\r\n0\r\n\r\n", want: "abc", wantErr: true},
		{name: "chunked truncated", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body: "10\r\nabc", want: "abc", wantErr: true},
		{name: "until close", head: "HTTP/1.0 200 OK\r\n\r\n", body: "all of it", want: "all of it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.head + tc.body))
			var h respHead
			if _, err := h.read(br); err != nil {
				t.Fatal(err)
			}
			hdr := http.Header{}
			var b httpwire.BodyReader
			b.Reset(br, h.chunked, h.contentLen, hdr)
			got, err := io.ReadAll(&b)
			if string(got) != tc.want {
				t.Fatalf("body = %q, want %q", got, tc.want)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			for k, v := range tc.trailers {
				if strings.Join(hdr[k], ",") != strings.Join(v, ",") {
					t.Fatalf("trailer %s = %v, want %v (all: %v)", k, hdr[k], v, hdr)
				}
			}
			if _, bad := hdr[http.TrailerPrefix+"Content-Length"]; bad {
				t.Fatal("Content-Length must never be accepted as a trailer")
			}
		})
	}
}

func FuzzReadHead(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nA: b\r\n\r\n")
	f.Add("HTTP/1.0 404 Not Found\r\nConnection: x, close\r\nX: y\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReader(strings.NewReader(in))
		var h respHead
		if _, err := h.read(br); err != nil {
			return
		}
		if h.status < 100 || h.status > 999 {
			t.Fatalf("accepted status %d", h.status)
		}
		dst := http.Header{}
		h.copyTo(dst)
		for k, vv := range dst {
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n\x00") || strings.ContainsAny(k, "\r\n: ") {
					t.Fatalf("unsafe header forwarded: %q: %q", k, v)
				}
			}
		}
		var b httpwire.BodyReader
		b.Reset(br, h.chunked, h.contentLen, dst)
		io.Copy(io.Discard, io.LimitReader(&b, 1<<20))
	})
}

func TestNormalizePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/public/../admin", "/admin"},
		{"/..", "/"},
		{"/../../x", "/x"},
		{"/a/b/..", "/a/"},
		{"/a/.", "/a/"},
		{"/%61dmin", "/admin"},
		{"/a%2fb", "/a%2Fb"},
		{"/%2e%2e/admin", "/admin"},
		{"/a.b/c..d/.e", "/a.b/c..d/.e"},
		{"/%zz", "/%25zz"},
		{"/%7%30", "/%2570"},
		{"/100%", "/100%25"},
	}
	for _, tc := range tests {
		if got := normalizePath(tc.in); got != tc.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normalizePath("/already/normal/path") }); n != 0 {
		t.Errorf("normal path allocates %v times", n)
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2e/x", "/a/./b/../../c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" || p[0] != '/' {
			return
		}
		n := normalizePath(p)
		if n == "" || n[0] != '/' {
			t.Fatalf("normalizePath(%q) = %q: not absolute", p, n)
		}
		if normalizePath(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", p, n, normalizePath(n))
		}
		for _, seg := range strings.Split(n, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("dot segment left in %q (from %q)", n, p)
			}
		}
	})
}

// TestUpstreamPath checks Kong's path_handling v0 table (Kong's own
// router tests use these service/route/request triples).
func TestUpstreamPath(t *testing.T) {
	tests := []struct {
		name               string
		base, req, postfix string
		strip              bool
		want               string
	}{
		{name: "root service, strip, rest", base: "/", req: "/r/a", postfix: "/a", strip: true, want: "/a"},
		{name: "root service, strip, nothing left", base: "/", req: "/r", postfix: "", strip: true, want: "/"},
		{name: "empty service path is root", base: "", req: "/r/a", postfix: "/a", strip: true, want: "/a"},
		{name: "root service, no strip", base: "/", req: "/r/a", postfix: "/r/a", strip: false, want: "/r/a"},
		{name: "slash base, strip, nothing left, request ends in /", base: "/s/", req: "/r/", postfix: "", strip: true, want: "/s/"},
		{name: "slash base, strip, nothing left", base: "/s2/", req: "/ss", postfix: "", strip: true, want: "/s2"},
		{name: "slash base, strip, /rest", base: "/s/", req: "/r/a", postfix: "/a", strip: true, want: "/s/a"},
		{name: "slash base, strip, bare rest", base: "/s/", req: "/ra", postfix: "a", strip: true, want: "/s/a"},
		{name: "slash base, no strip", base: "/s/", req: "/r/a", postfix: "/r/a", strip: false, want: "/s/r/a"},
		{name: "plain base, strip, nothing left", base: "/s", req: "/r", postfix: "", strip: true, want: "/s"},
		{name: "plain base, strip, nothing left, request ends in /", base: "/s", req: "/r/", postfix: "", strip: true, want: "/s/"},
		{name: "plain base, strip, /rest", base: "/s", req: "/r/a", postfix: "/a", strip: true, want: "/s/a"},
		{name: "plain base, strip, bare rest (Kong: /tv0req -> /s/req)", base: "/s", req: "/tv0req", postfix: "req", strip: true, want: "/s/req"},
		{name: "plain base, no strip, root request", base: "/s", req: "/", postfix: "/", strip: false, want: "/s"},
		{name: "plain base, no strip", base: "/s", req: "/r/a", postfix: "/r/a", strip: false, want: "/s/r/a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := upstreamPath(tc.base, tc.req, tc.postfix, tc.strip); got != tc.want {
				t.Fatalf("upstreamPath(%q, %q, %q, %v) = %q, want %q", tc.base, tc.req, tc.postfix, tc.strip, got, tc.want)
			}
		})
	}
}
