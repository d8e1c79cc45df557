package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// rawPairs builds a serialized buffer from explicit parts, bypassing
// EncodePairs, so malformed inputs can be written precisely.
func rawPairs(count uint32, lens []uint32, data string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, count)
	for _, l := range lens {
		b = binary.LittleEndian.AppendUint32(b, l)
	}
	return append(b, data...)
}

func TestEncodePairs(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
		want  []byte
	}{
		{name: "empty", pairs: nil, want: []byte{0, 0, 0, 0}},
		{
			// The spec example {"a": "1"}, {"b": "22"} with the right bytes
			// (the spec text has them wrong).
			name:  "spec example",
			pairs: [][2]string{{"a", "1"}, {"b", "22"}},
			want: []byte{
				2, 0, 0, 0,
				1, 0, 0, 0, 1, 0, 0, 0,
				1, 0, 0, 0, 2, 0, 0, 0,
				'a', 0, '1', 0, 'b', 0, '2', '2', 0,
			},
		},
		{
			name:  "empty key and value",
			pairs: [][2]string{{"", ""}},
			want:  []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		},
		{
			name:  "repeated key and embedded NUL",
			pairs: [][2]string{{"x", "a\x00b"}, {"x", ""}},
			want:  rawPairs(2, []uint32{1, 3, 1, 0}, "x\x00a\x00b\x00x\x00\x00"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodePairs(nil, tt.pairs)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("EncodePairs = %v, want %v", got, tt.want)
			}
			if n := PairsSize(tt.pairs); n != len(tt.want) {
				t.Errorf("PairsSize = %d, want %d", n, len(tt.want))
			}
			prefixed := EncodePairs([]byte("pre"), tt.pairs)
			if !bytes.Equal(prefixed, append([]byte("pre"), tt.want...)) {
				t.Errorf("EncodePairs did not append to dst: %v", prefixed)
			}
		})
	}
}

func TestDecodePairs(t *testing.T) {
	tooLarge := make([]byte, MaxPairsBytes+1)
	tests := []struct {
		name    string
		in      []byte
		want    [][2]string
		wantErr error
	}{
		{name: "zero bytes is empty", in: nil},
		{name: "single NUL is empty", in: []byte{0}},
		{name: "count zero", in: []byte{0, 0, 0, 0}},
		{name: "spec example", in: EncodePairs(nil, [][2]string{{"a", "1"}, {"b", "22"}}),
			want: [][2]string{{"a", "1"}, {"b", "22"}}},
		{name: "pseudo headers", in: EncodePairs(nil, [][2]string{{":method", "GET"}, {":path", "/"}}),
			want: [][2]string{{":method", "GET"}, {":path", "/"}}},
		{name: "value with NUL", in: rawPairs(1, []uint32{1, 3}, "k\x00a\x00b\x00"),
			want: [][2]string{{"k", "a\x00b"}}},
		{name: "single non-zero byte", in: []byte{1}, wantErr: ErrPairsTruncated},
		{name: "three bytes", in: []byte{0, 0, 0}, wantErr: ErrPairsTruncated},
		{name: "count without table", in: []byte{1, 0, 0, 0}, wantErr: ErrPairsTruncated},
		{name: "table without data", in: rawPairs(1, []uint32{1, 1}, ""), wantErr: ErrPairsTruncated},
		{name: "key missing NUL at end", in: rawPairs(1, []uint32{1, 1}, "k"), wantErr: ErrPairsTruncated},
		{name: "value cut short", in: rawPairs(1, []uint32{1, 2}, "k\x00v\x00"), wantErr: ErrPairsTruncated},
		{name: "huge key length", in: rawPairs(1, []uint32{0xFFFFFFFF, 0}, "k\x00\x00"), wantErr: ErrPairsTruncated},
		{name: "huge value length", in: rawPairs(1, []uint32{1, 0xFFFFFFF0}, "k\x00v\x00"), wantErr: ErrPairsTruncated},
		{name: "count beyond table", in: rawPairs(3, []uint32{0, 0}, "\x00\x00"), wantErr: ErrPairsTruncated},
		{name: "key not NUL terminated", in: rawPairs(1, []uint32{1, 1}, "kxv\x00"), wantErr: ErrPairsBadTerminator},
		{name: "value not NUL terminated", in: rawPairs(1, []uint32{1, 1}, "k\x00vx"), wantErr: ErrPairsBadTerminator},
		{name: "trailing byte", in: append(EncodePairs(nil, [][2]string{{"k", "v"}}), 0), wantErr: ErrPairsTrailingBytes},
		{name: "count zero with trailing data", in: []byte{0, 0, 0, 0, 0}, wantErr: ErrPairsTrailingBytes},
		{name: "too many", in: rawPairs(MaxPairsCount+1, nil, ""), wantErr: ErrPairsTooMany},
		{name: "max uint32 count", in: rawPairs(0xFFFFFFFF, nil, ""), wantErr: ErrPairsTooMany},
		{name: "too large", in: tooLarge, wantErr: ErrPairsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]string
			calls := 0
			err := DecodePairs(tt.in, func(k, v []byte) bool {
				calls++
				got = append(got, [2]string{string(k), string(v)})
				return true
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DecodePairs error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && calls != 0 {
				t.Errorf("fn called %d times for an invalid buffer", calls)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("DecodePairs = %q, want %q", got, tt.want)
			}
			parsed, err := ParsePairs(tt.in)
			if !errors.Is(err, tt.wantErr) || !slices.Equal(parsed, tt.want) {
				t.Errorf("ParsePairs = %q, %v; want %q, %v", parsed, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDecodePairsLimits(t *testing.T) {
	tests := []struct {
		name    string
		pairs   [][2]string
		wantErr error
	}{
		{name: "exactly MaxPairsCount", pairs: make([][2]string, MaxPairsCount)},
		{name: "one more than MaxPairsCount", pairs: make([][2]string, MaxPairsCount+1), wantErr: ErrPairsTooMany},
		{name: "exactly MaxPairsBytes", pairs: [][2]string{{"k", strings.Repeat("v", MaxPairsBytes-4-8-2-1)}}},
		{name: "one byte over MaxPairsBytes", pairs: [][2]string{{"k", strings.Repeat("v", MaxPairsBytes-4-8-2)}}, wantErr: ErrPairsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			err := DecodePairs(EncodePairs(nil, tt.pairs), func(k, v []byte) bool { n++; return true })
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && n != len(tt.pairs) {
				t.Errorf("decoded %d pairs, want %d", n, len(tt.pairs))
			}
		})
	}
}

func TestDecodePairsStopsEarly(t *testing.T) {
	b := EncodePairs(nil, [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}})
	var keys []string
	err := DecodePairs(b, func(k, v []byte) bool {
		keys = append(keys, string(k))
		return string(k) != "b"
	})
	if err != nil || !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("got %q, %v; want [a b], nil", keys, err)
	}
}

func TestDecodePairsAliasesInput(t *testing.T) {
	b := EncodePairs(nil, [][2]string{{"key", "value"}})
	err := DecodePairs(b, func(k, v []byte) bool {
		if cap(k) != len(k) || cap(v) != len(v) {
			t.Errorf("slices may be appended into the buffer: cap(k)=%d len(k)=%d cap(v)=%d len(v)=%d",
				cap(k), len(k), cap(v), len(v))
		}
		if &k[0] != &b[12] {
			t.Error("key does not alias the input buffer")
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

var benchHeaders = [][2]string{
	{":authority", "api.example.com"},
	{":path", "/v1/orders/12345?expand=items"},
	{":method", "GET"},
	{":scheme", "https"},
	{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
	{"accept", "application/json"},
	{"accept-encoding", "gzip, deflate, br"},
	{"authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig"},
	{"x-request-id", "7f3c2a9e-4b1d-4c8e-9f2a-1d3e5b7c9a0f"},
	{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
}

func TestPairsZeroAlloc(t *testing.T) {
	buf := make([]byte, 0, PairsSize(benchHeaders))
	enc := testing.AllocsPerRun(100, func() { buf = EncodePairs(buf[:0], benchHeaders) })
	if enc != 0 {
		t.Errorf("EncodePairs with capacity: %v allocs, want 0", enc)
	}
	n := 0
	fn := func(k, v []byte) bool { n += len(k) + len(v); return true }
	dec := testing.AllocsPerRun(100, func() {
		if err := DecodePairs(buf, fn); err != nil {
			t.Fatal(err)
		}
	})
	if dec != 0 {
		t.Errorf("DecodePairs: %v allocs, want 0", dec)
	}
	bad := rawPairs(1, []uint32{1, 1}, "kxv\x00")
	decBad := testing.AllocsPerRun(100, func() { _ = DecodePairs(bad, fn) })
	if decBad != 0 {
		t.Errorf("DecodePairs on a malformed buffer: %v allocs, want 0", decBad)
	}
}

func BenchmarkEncodePairs(b *testing.B) {
	buf := make([]byte, 0, PairsSize(benchHeaders))
	b.SetBytes(int64(PairsSize(benchHeaders)))
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodePairs(buf[:0], benchHeaders)
	}
}

func BenchmarkDecodePairs(b *testing.B) {
	buf := EncodePairs(nil, benchHeaders)
	n := 0
	fn := func(k, v []byte) bool { n += len(k) + len(v); return true }
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodePairs(buf, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodePairs feeds arbitrary (hostile) bytes to the decoder: it must
// never panic, must not call fn on an error, and a buffer it accepts must
// re-encode to the same bytes (the format is canonical, except for the two
// accepted empty forms) and decode again to the same pairs.
func FuzzDecodePairs(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(EncodePairs(nil, [][2]string{{"a", "1"}, {"b", "22"}}))
	f.Add(EncodePairs(nil, benchHeaders))
	f.Add(rawPairs(1, []uint32{0xFFFFFFFF, 0}, "k\x00\x00"))
	f.Add(rawPairs(2, []uint32{1, 1}, "k\x00v\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var pairs [][2]string
		err := DecodePairs(b, func(k, v []byte) bool {
			pairs = append(pairs, [2]string{string(k), string(v)})
			return true
		})
		if err != nil {
			if pairs != nil {
				t.Fatalf("fn called before error %v", err)
			}
			return
		}
		enc := EncodePairs(nil, pairs)
		if len(b) > 1 && !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in: %q\nout: %q", b, enc)
		}
		if len(b) <= 1 && len(pairs) != 0 {
			t.Fatalf("empty form %q decoded to %q", b, pairs)
		}
		again, err := ParsePairs(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(pairs) == 0 {
			pairs = nil
		}
		if !slices.Equal(again, pairs) {
			t.Fatalf("round trip: got %q, want %q", again, pairs)
		}
	})
}

// FuzzPairsRoundTrip encodes arbitrary pairs and decodes them back.
func FuzzPairsRoundTrip(f *testing.F) {
	f.Add("a", "1", "b", "22", uint8(2))
	f.Add("", "", "", "", uint8(0))
	f.Add("k\x00", "\x00v", "x", "", uint8(7))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, n uint8) {
		src := [][2]string{{k1, v1}, {k2, v2}}
		var pairs [][2]string
		for i := range int(n % 8) {
			pairs = append(pairs, src[i%2])
		}
		b := EncodePairs(nil, pairs)
		if len(b) != PairsSize(pairs) {
			t.Fatalf("len = %d, PairsSize = %d", len(b), PairsSize(pairs))
		}
		got, err := ParsePairs(b)
		if len(b) > MaxPairsBytes {
			if !errors.Is(err, ErrPairsTooLarge) {
				t.Fatalf("oversized buffer: err = %v, want ErrPairsTooLarge", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParsePairs: %v", err)
		}
		if !slices.Equal(got, pairs) {
			t.Fatalf("round trip: got %q, want %q", got, pairs)
		}
	})
}
