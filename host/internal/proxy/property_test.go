package proxy

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/weirproxy/weir/abi"
)

// TestChainHostProperty: every property the proxy serves, by its path
// segments, from the request itself; values come from one scratch buffer
// and a repeated read allocates nothing.
func TestChainHostProperty(t *testing.T) {
	r := benchRequest()
	r.Header.Set("Referer", "https://ref.example/")
	x := &exchange{id: "req-1"}
	rt := &Route{Name: "r1", Service: &Service{Name: "s1"}}
	c := &chainHost{r: r, x: x, fw: &forwarded{path: "/api/v1/items", query: "limit=10"}, route: rt}
	le := func(n int64) string { return string(binary.LittleEndian.AppendUint64(nil, uint64(n))) }
	tests := []struct {
		path string
		want string
	}{
		{"request.path", "/api/v1/items?limit=10"},
		{"request.url_path", "/api/v1/items"},
		{"request.query", "limit=10"},
		{"request.host", "example.com"},
		{"request.scheme", "http"},
		{"request.method", "GET"},
		{"request.protocol", "HTTP/1.1"},
		{"request.id", "req-1"},
		{"request.useragent", "bench/1.0"},
		{"request.referer", "https://ref.example/"},
		{"source.address", "127.0.0.1:54321"},
		{"source.port", le(54321)},
		{"destination.port", le(8000)},
		{"destination.address", "127.0.0.1:8000"},
		{"route_name", "r1"},
		{"weir.route_name", "r1"},
		{"cluster_name", "s1"},
		{"weir.service_name", "s1"},
	}
	for _, tt := range tests {
		segs := strings.Split(tt.path, ".")
		got, st := c.Property(segs)
		if st != abi.StatusOK || string(got) != tt.want {
			t.Errorf("Property(%q) = %q, %v; want %q", tt.path, got, st, tt.want)
		}
	}
	for _, p := range []string{"response.code", "weir.consumer.id", "weir.trace_id", "no.such.property"} {
		if got, st := c.Property(strings.Split(p, ".")); st != abi.StatusNotFound {
			t.Errorf("Property(%q) = %q, %v; want NOT_FOUND", p, got, st)
		}
	}
	if st := c.SetProperty([]string{"my", "prop"}, []byte("v1")); st != abi.StatusOK {
		t.Fatal(st)
	}
	if got, st := c.Property([]string{"my", "prop"}); st != abi.StatusOK || !bytes.Equal(got, []byte("v1")) {
		t.Errorf("a set property reads back %q, %v", got, st)
	}
	segs := []string{"request", "path"}
	if n := testing.AllocsPerRun(100, func() { c.Property(segs) }); n != 0 {
		t.Errorf("reading request.path allocates %v times", n)
	}
}
