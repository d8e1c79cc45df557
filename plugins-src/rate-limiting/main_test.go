package main

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/weirproxy/weir/abi"
)

func TestEncodeIncr(t *testing.T) {
	tests := []struct {
		name          string
		key           string
		window, delta int64
	}{
		{name: "increment", key: "ip:127.0.0.1:minute", window: 60, delta: 1},
		{name: "rollback", key: "consumer:c1:hour", window: 3600, delta: -1},
		{name: "empty key", key: "", window: 1, delta: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := abi.CounterIncrArgs{Key: tc.key, WindowSeconds: tc.window, Delta: tc.delta}.Encode(nil)
			got := encodeIncr([]byte("junk")[:0], tc.key, itoa(tc.window), itoa(tc.delta))
			if !bytes.Equal(got, want) {
				t.Fatalf("encodeIncr = %q, want %q", got, want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
