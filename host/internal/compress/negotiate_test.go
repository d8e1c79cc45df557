package compress

import (
	"net/http"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name       string
		algorithms []string // nil = default (zstd, gzip)
		accept     []string
		want       encoding
	}{
		{name: "empty field accepts nothing", accept: []string{""}, want: encNone},
		{name: "gzip", accept: []string{"gzip"}, want: encGzip},
		{name: "zstd", accept: []string{"zstd"}, want: encZstd},
		{name: "tie goes to server preference", accept: []string{"gzip, zstd"}, want: encZstd},
		{name: "higher q wins over preference", accept: []string{"gzip;q=1, zstd;q=0.9"}, want: encGzip},
		{name: "q=0 refuses", accept: []string{"zstd;q=0, gzip"}, want: encGzip},
		{name: "all refused", accept: []string{"zstd;q=0, gzip;q=0.0"}, want: encNone},
		{name: "smallest positive q accepts", accept: []string{"zstd;q=0.001"}, want: encZstd},
		{name: "star", accept: []string{"*"}, want: encZstd},
		{name: "star refused", accept: []string{"*;q=0"}, want: encNone},
		{name: "star weighs unlisted codings", accept: []string{"gzip;q=0.5, *;q=0.1"}, want: encGzip},
		{name: "explicit refusal beats star", accept: []string{"*;q=0.8, zstd;q=0"}, want: encGzip},
		{name: "unsupported codings only", accept: []string{"br, deflate, compress"}, want: encNone},
		{name: "identity only", accept: []string{"identity"}, want: encNone},
		{name: "identity tie compresses", accept: []string{"identity, gzip"}, want: encGzip},
		{name: "identity preferred", accept: []string{"identity;q=1, gzip;q=0.5"}, want: encNone},
		{name: "identity refused", accept: []string{"gzip;q=0.5, identity;q=0"}, want: encGzip},
		{name: "star weighs identity when unlisted", accept: []string{"gzip;q=0.2, zstd;q=0.2, *"}, want: encNone},
		{name: "x-gzip alias", accept: []string{"x-gzip"}, want: encGzip},
		{name: "case-insensitive", accept: []string{"GZip;Q=0.5"}, want: encGzip},
		{name: "whitespace around members", accept: []string{" gzip ; q=0.5 ,\tzstd ; q=0.4 "}, want: encGzip},
		{name: "q above 1 is malformed and ignored", accept: []string{"gzip;q=2"}, want: encNone},
		{name: "1.001 is malformed", accept: []string{"gzip;q=1.001, zstd;q=0.1"}, want: encZstd},
		{name: "four decimals are malformed", accept: []string{"zstd;q=0.1234, gzip;q=0.1"}, want: encGzip},
		{name: "garbage q is malformed", accept: []string{"gzip;q=abc, zstd;q=0.1"}, want: encZstd},
		{name: "empty q is malformed", accept: []string{"gzip;q="}, want: encNone},
		{name: "first mention counts", accept: []string{"gzip;q=0, gzip"}, want: encNone},
		{name: "several field lines", accept: []string{"br", "gzip"}, want: encGzip},
		{name: "empty members", accept: []string{",, ,gzip,,"}, want: encGzip},
		{name: "other parameters ignored", accept: []string{"gzip;level=9"}, want: encGzip},
		{name: "gzip-only server ignores zstd", algorithms: []string{"gzip"}, accept: []string{"zstd"}, want: encNone},
		{name: "gzip-only server takes star", algorithms: []string{"gzip"}, accept: []string{"*"}, want: encGzip},
		{name: "gzip-preferring server", algorithms: []string{"gzip", "zstd"}, accept: []string{"zstd, gzip"}, want: encGzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, Options{Algorithms: tt.algorithms})
			if got := c.negotiate(tt.accept); got != tt.want {
				t.Errorf("negotiate(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func TestParseQValue(t *testing.T) {
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{in: "0", want: 0, wantOK: true},
		{in: "0.", want: 0, wantOK: true},
		{in: "0.5", want: 500, wantOK: true},
		{in: "0.05", want: 50, wantOK: true},
		{in: "0.123", want: 123, wantOK: true},
		{in: "1", want: 1000, wantOK: true},
		{in: "1.000", want: 1000, wantOK: true},
		{in: "1.5", wantOK: false},
		{in: "0.1234", wantOK: false},
		{in: "2", wantOK: false},
		{in: "-0", wantOK: false},
		{in: ".5", wantOK: false},
		{in: "0,5", wantOK: false},
		{in: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseQValue(tt.in)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("parseQValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestWrapNotApplicable(t *testing.T) {
	c := mustNew(t, Options{})
	tests := []struct {
		name   string
		method string
		accept string // "-" = no header
		header map[string]string
	}{
		{name: "no Accept-Encoding", method: http.MethodGet, accept: "-"},
		{name: "unsupported coding", method: http.MethodGet, accept: "br"},
		{name: "identity only", method: http.MethodGet, accept: "identity"},
		{name: "all refused", method: http.MethodGet, accept: "gzip;q=0, zstd;q=0"},
		{name: "HEAD", method: http.MethodHead, accept: "gzip"},
		{name: "CONNECT", method: http.MethodConnect, accept: "gzip"},
		{name: "upgrade request", method: http.MethodGet, accept: "gzip", header: map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}},
		{name: "request no-transform", method: http.MethodGet, accept: "gzip", header: map[string]string{"Cache-Control": "max-age=0, no-transform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(tt.method, tt.accept)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			base := newRecordingWriter()
			var got http.ResponseWriter
			allocs := testing.AllocsPerRun(100, func() {
				var finish func()
				got, finish = c.Wrap(base, r)
				finish()
			})
			if got != http.ResponseWriter(base) {
				t.Errorf("Wrap returned %T, want the original writer", got)
			}
			if allocs != 0 {
				t.Errorf("Wrap allocated %v times per call, want 0", allocs)
			}
		})
	}
}

func TestWrapNeverTwice(t *testing.T) {
	c := mustNew(t, Options{})
	r := newRequest(http.MethodGet, "gzip")
	base := newRecordingWriter()
	outer, finishOuter := c.Wrap(base, r)
	if outer == http.ResponseWriter(base) {
		t.Fatal("first Wrap did not wrap")
	}
	inner, finishInner := c.Wrap(outer, r)
	if inner != outer {
		t.Errorf("second Wrap returned a new writer %p, want the first %p", inner, outer)
	}
	finishInner()
	finishOuter()
}

// FuzzNegotiate checks that arbitrary Accept-Encoding values never panic,
// never allocate, and only pick an offered coding the client did not refuse.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip", "zstd;q=0.5, gzip;q=0.4", "*;q=0", ";;,,;q=", "identity;q=1, *", "gzip;q=1.0000"} {
		f.Add(s)
	}
	c := mustNew(f, Options{Algorithms: []string{"gzip"}})
	f.Fuzz(func(t *testing.T, ae string) {
		values := []string{ae}
		var got encoding
		if allocs := testing.AllocsPerRun(1, func() { got = c.negotiate(values) }); allocs != 0 {
			t.Errorf("negotiate(%q) allocated %v times", ae, allocs)
		}
		if got == encZstd {
			t.Errorf("negotiate(%q) picked zstd, which is not offered", ae)
		}
		if got == encGzip {
			// The client must have said gzip (or x-gzip or *) somewhere.
			if !containsFold(ae, "gzip") && !containsFold(ae, "*") {
				t.Errorf("negotiate(%q) picked gzip without the client asking", ae)
			}
		}
	})
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool { return equalFold(a, b) }
