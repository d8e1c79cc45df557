package abi

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{name: "single segment", in: "plugin_root_id", want: []string{"plugin_root_id"}},
		{name: "single segment with trailing NUL (C++ SDK)", in: "plugin_root_id\x00", want: []string{"plugin_root_id"}},
		{name: "two segments", in: "request\x00path", want: []string{"request", "path"}},
		{name: "three segments trailing NUL", in: "request\x00headers\x00x-foo\x00", want: []string{"request", "headers", "x-foo"}},
		{name: "dotted single segment kept", in: "request.path", want: []string{"request.path"}},
		{name: "empty", in: "", wantErr: ErrPropertyPathEmpty},
		{name: "only NUL", in: "\x00", wantErr: ErrPropertyPathEmpty},
		{name: "leading NUL", in: "\x00request", wantErr: ErrPropertyPathEmptySegment},
		{name: "double NUL", in: "request\x00\x00path", wantErr: ErrPropertyPathEmptySegment},
		{name: "two trailing NULs", in: "request\x00\x00", wantErr: ErrPropertyPathEmptySegment},
		{name: "at max length", in: strings.Repeat("a", MaxPropertyPathBytes), want: []string{strings.Repeat("a", MaxPropertyPathBytes)}},
		{name: "too long", in: strings.Repeat("a", MaxPropertyPathBytes+1), wantErr: ErrPropertyPathTooLong},
		{name: "max segments", in: strings.Repeat("a\x00", MaxPropertyPathSegments), want: slices.Repeat([]string{"a"}, MaxPropertyPathSegments)},
		{name: "too deep", in: strings.Repeat("a\x00", MaxPropertyPathSegments+1), wantErr: ErrPropertyPathTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitPath([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SplitPath(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("SplitPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestJoinPath(t *testing.T) {
	tests := []struct {
		name string
		segs []string
		want string
	}{
		{name: "none", segs: nil, want: ""},
		{name: "one", segs: []string{"node"}, want: "node"},
		{name: "three", segs: []string{"request", "headers", "x-foo"}, want: "request\x00headers\x00x-foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JoinPath(tt.segs...)
			if string(got) != tt.want {
				t.Fatalf("JoinPath(%q) = %q, want %q", tt.segs, got, tt.want)
			}
			if len(tt.segs) == 0 {
				return
			}
			back, err := SplitPath(got)
			if err != nil || !slices.Equal(back, tt.segs) {
				t.Errorf("SplitPath(JoinPath) = %q, %v", back, err)
			}
		})
	}
}

func TestLookupProperty(t *testing.T) {
	tests := []struct {
		name     string
		segs     []string
		wantName string
		wantType ValueKind
		wantRest []string
		wantOK   bool
	}{
		{name: "top level", segs: []string{"plugin_root_id"}, wantName: PropPluginRootID, wantType: ValueString, wantOK: true},
		{name: "two segments", segs: []string{"request", "path"}, wantName: PropRequestPath, wantType: ValueString, wantOK: true},
		{name: "map with key", segs: []string{"request", "headers", "x-foo"}, wantName: PropRequestHeaders, wantType: ValuePairs, wantRest: []string{"x-foo"}, wantOK: true},
		{name: "dotted key stays a key", segs: []string{"response", "headers", "x.a"}, wantName: PropResponseHeaders, wantType: ValuePairs, wantRest: []string{"x.a"}, wantOK: true},
		{name: "weir three levels", segs: []string{"weir", "consumer", "id"}, wantName: PropWeirConsumerID, wantType: ValueString, wantOK: true},
		{name: "proto sub-field", segs: []string{"node", "id"}, wantName: PropNode, wantType: ValueBytes, wantRest: []string{"id"}, wantOK: true},
		{name: "timestamp", segs: []string{"request", "time"}, wantName: PropRequestTime, wantType: ValueTimestamp, wantOK: true},
		{name: "bool", segs: []string{"connection", "mtls"}, wantName: PropConnectionMTLS, wantType: ValueBool, wantOK: true},
		{name: "namespace alone", segs: []string{"request"}},
		{name: "unknown", segs: []string{"xds", "node"}},
		{name: "empty", segs: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, p, rest, ok := LookupProperty(tt.segs)
			if ok != tt.wantOK || name != tt.wantName || p.Type != tt.wantType || !slices.Equal(rest, tt.wantRest) {
				t.Errorf("LookupProperty(%q) = %q, %v, %q, %v; want %q, %v, %q, %v",
					tt.segs, name, p.Type, rest, ok, tt.wantName, tt.wantType, tt.wantRest, tt.wantOK)
			}
		})
	}
}

func TestPropertiesTable(t *testing.T) {
	consts := stringConsts(t, "property.go")
	n := 0
	for name, v := range consts {
		if !strings.HasPrefix(name, "Prop") {
			continue
		}
		n++
		if _, ok := Properties[v]; !ok {
			t.Errorf("constant %s = %q missing from Properties", name, v)
		}
	}
	if n != len(Properties) {
		t.Errorf("%d Prop* constants, %d Properties entries", n, len(Properties))
	}
	for name, p := range Properties {
		if p.Type.String() == "invalid" || p.Doc == "" {
			t.Errorf("%s: malformed %+v", name, p)
		}
		if strings.HasPrefix(name, "weir") && !strings.HasPrefix(name, "weir.") {
			t.Errorf("%s: Weir properties live under weir.*", name)
		}
	}
}

func TestValueCodecs(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	tests := []struct {
		name   string
		encode []byte
		want   []byte
		decode func([]byte) (any, error)
		value  any
	}{
		{name: "int", encode: EncodeInt64(nil, 0x0102030405060708), want: []byte{8, 7, 6, 5, 4, 3, 2, 1},
			decode: func(b []byte) (any, error) { return DecodeInt64(b) }, value: int64(0x0102030405060708)},
		{name: "negative int", encode: EncodeInt64(nil, -1), want: bytes.Repeat([]byte{0xff}, 8),
			decode: func(b []byte) (any, error) { return DecodeInt64(b) }, value: int64(-1)},
		{name: "min int", encode: EncodeInt64(nil, math.MinInt64), want: []byte{0, 0, 0, 0, 0, 0, 0, 0x80},
			decode: func(b []byte) (any, error) { return DecodeInt64(b) }, value: int64(math.MinInt64)},
		{name: "true", encode: EncodeBool(nil, true), want: []byte{1},
			decode: func(b []byte) (any, error) { return DecodeBool(b) }, value: true},
		{name: "false", encode: EncodeBool(nil, false), want: []byte{0},
			decode: func(b []byte) (any, error) { return DecodeBool(b) }, value: false},
		{name: "duration", encode: EncodeDuration(nil, 1500*time.Millisecond), want: EncodeInt64(nil, 1_500_000_000),
			decode: func(b []byte) (any, error) { return DecodeDuration(b) }, value: 1500 * time.Millisecond},
		{name: "timestamp", encode: EncodeTimestamp(nil, ts), want: EncodeInt64(nil, ts.UnixNano()),
			decode: func(b []byte) (any, error) { return DecodeTimestamp(b) }, value: ts},
		{name: "list", encode: EncodeList(nil, []string{"h2", "http/1.1"}),
			want: EncodePairs(nil, [][2]string{{"h2", ""}, {"http/1.1", ""}}),
			decode: func(b []byte) (any, error) {
				p, err := ParsePairs(b)
				return len(p), err
			}, value: 2},
		{name: "empty list", encode: EncodeList(nil, nil), want: []byte{0, 0, 0, 0},
			decode: func(b []byte) (any, error) {
				p, err := ParsePairs(b)
				return len(p), err
			}, value: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.encode, tt.want) {
				t.Fatalf("encoded %v, want %v", tt.encode, tt.want)
			}
			got, err := tt.decode(tt.encode)
			if err != nil {
				t.Fatal(err)
			}
			if g, ok := got.(time.Time); ok {
				if !g.Equal(tt.value.(time.Time)) {
					t.Errorf("decoded %v, want %v", g, tt.value)
				}
			} else if got != tt.value {
				t.Errorf("decoded %v, want %v", got, tt.value)
			}
		})
	}
}

func TestValueDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		decode func() error
	}{
		{name: "int short", decode: func() error { _, err := DecodeInt64(make([]byte, 7)); return err }},
		{name: "int long", decode: func() error { _, err := DecodeInt64(make([]byte, 9)); return err }},
		{name: "bool empty", decode: func() error { _, err := DecodeBool(nil); return err }},
		{name: "bool two bytes", decode: func() error { _, err := DecodeBool([]byte{1, 0}); return err }},
		{name: "duration short", decode: func() error { _, err := DecodeDuration([]byte{1}); return err }},
		{name: "timestamp empty", decode: func() error { _, err := DecodeTimestamp(nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(); !errors.Is(err, ErrPropertyValueSize) {
				t.Errorf("error = %v, want ErrPropertyValueSize", err)
			}
		})
	}
	if v, err := DecodeBool([]byte{7}); err != nil || !v {
		t.Errorf("DecodeBool(7) = %v, %v; want true, nil", v, err)
	}
}
