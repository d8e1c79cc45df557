//go:build !wasip1

package proxytest

import (
	"slices"
	"testing"

	"github.com/weirproxy/weir/abi"
)

func newTestHost(t *testing.T) (*HostEmulator, *emuHost, uint32) {
	t.Helper()
	e, err := NewHostEmulator(Options{})
	if e != nil {
		t.Cleanup(e.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e, (*emuHost)(e), e.InitializeHttpContext()
}

func TestSetBufferBytes(t *testing.T) {
	tests := []struct {
		name        string
		start, size uint32
		data        string
		want        string
	}{
		{name: "replace all", start: 0, size: 1 << 31, data: "new", want: "new"},
		{name: "prepend", start: 0, size: 0, data: ">", want: ">hello"},
		{name: "append", start: 1 << 31, size: 0, data: "!", want: "hello!"},
		{name: "middle", start: 1, size: 3, data: "EL", want: "hELo"},
		{name: "size past end", start: 3, size: 100, data: "p", want: "help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, h, id := newTestHost(t)
			e.CallOnRequestBody(id, []byte("hello"), true)
			if st := h.SetBufferBytes(abi.BufferHTTPRequestBody, tt.start, tt.size, []byte(tt.data)); st != abi.StatusOK {
				t.Fatalf("status %v", st)
			}
			if got := string(e.GetCurrentRequestBody(id)); got != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBufferErrors(t *testing.T) {
	_, h, _ := newTestHost(t)
	tests := []struct {
		name string
		call func() abi.Status
		want abi.Status
	}{
		{name: "unknown buffer type", call: func() abi.Status { _, st := h.GetBufferBytes(99, 0, 1); return st }, want: abi.StatusBadArgument},
		{name: "no callout response", call: func() abi.Status { _, st := h.GetBufferBytes(abi.BufferHTTPCallResponseBody, 0, 1); return st }, want: abi.StatusNotFound},
		{name: "configuration is read-only", call: func() abi.Status { return h.SetBufferBytes(abi.BufferPluginConfiguration, 0, 0, []byte("x")) }, want: abi.StatusBadArgument},
		{name: "start beyond body", call: func() abi.Status { _, st := h.GetBufferBytes(abi.BufferHTTPRequestBody, 5, 1); return st }, want: abi.StatusBadArgument},
		{name: "unknown map type", call: func() abi.Status { _, st := h.GetHeaderMapPairs(42); return st }, want: abi.StatusBadArgument},
		{name: "bad pairs", call: func() abi.Status { return h.SetHeaderMapPairs(abi.MapHTTPRequestHeaders, []byte{9, 0, 0, 0}) }, want: abi.StatusBadArgument},
		{name: "bad log level", call: func() abi.Status { return h.Log(9, "x") }, want: abi.StatusBadArgument},
		{name: "status out of range", call: func() abi.Status { return h.SendLocalResponse(42, "", nil, nil, -1) }, want: abi.StatusBadArgument},
		{name: "counter decrement", call: func() abi.Status {
			id, _ := h.DefineMetric(abi.MetricCounter, "c")
			return h.IncrementMetric(id, -1)
		}, want: abi.StatusBadArgument},
		{name: "metric redefined with other type", call: func() abi.Status {
			h.DefineMetric(abi.MetricCounter, "m")
			_, st := h.DefineMetric(abi.MetricGauge, "m")
			return st
		}, want: abi.StatusBadArgument},
		{name: "unknown queue", call: func() abi.Status { return h.EnqueueSharedQueue(77, nil) }, want: abi.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.call(); got != tt.want {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReplaceHeaderKeepsOneValue(t *testing.T) {
	e, h, id := newTestHost(t)
	e.CallOnRequestHeaders(id, [][2]string{{"a", "1"}, {"B", "2"}, {"c", "3"}, {"b", "4"}}, true)
	if st := h.ReplaceHeaderMapValue(abi.MapHTTPRequestHeaders, "b", "x"); st != abi.StatusOK {
		t.Fatal(st)
	}
	want := [][2]string{{"a", "1"}, {"B", "x"}, {"c", "3"}}
	if got := e.GetCurrentRequestHeaders(id); !slices.Equal(got, want) {
		t.Errorf("headers = %q, want %q", got, want)
	}
	if st := h.RemoveHeaderMapValue(abi.MapHTTPRequestHeaders, "absent"); st != abi.StatusOK {
		t.Errorf("remove absent: %v, want OK", st)
	}
	n, _ := h.GetHeaderMapSize(abi.MapHTTPRequestHeaders)
	if int(n) != abi.PairsSize(want) {
		t.Errorf("map size = %d, want %d bytes", n, abi.PairsSize(want))
	}
}
