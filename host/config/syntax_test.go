package config

import (
	"strings"
	"testing"
)

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // String() of the result
		kind    hostKind
		wantErr string
	}{
		{name: "hostname", in: "example.com", want: "example.com", kind: hostName},
		{name: "hostname with port", in: "example.com:80", want: "example.com:80", kind: hostName},
		{name: "trailing dot", in: "example.com.", want: "example.com.", kind: hostName},
		{name: "ipv4", in: "10.1.2.3:9", want: "10.1.2.3:9", kind: hostIPv4},
		{name: "bare ipv6", in: "2001:DB8::1", want: "[2001:db8::1]", kind: hostIPv6},
		{name: "bracketed ipv6 with port", in: "[::1]:443", want: "[::1]:443", kind: hostIPv6},
		{name: "empty", in: "", wantErr: "empty host"},
		{name: "unclosed bracket", in: "[::1", wantErr: "missing ']'"},
		{name: "junk after bracket", in: "[::1]x", wantErr: `unexpected "x" after ']'`},
		{name: "ipv4 in brackets", in: "[10.0.0.1]", wantErr: `invalid IPv6 address "10.0.0.1"`},
		{name: "zone", in: "fe80::1%eth0", wantErr: "invalid IPv6 address"},
		{name: "bad ipv6", in: "1:2:3:x::", wantErr: "invalid IPv6 address"},
		{name: "port not numeric", in: "a:b", wantErr: `invalid port "b"`},
		{name: "port too long", in: "a:000080", wantErr: `invalid port "000080"`},
		{name: "empty port", in: "a:", wantErr: `invalid port ""`},
		{name: "dots only", in: "..", wantErr: `invalid IPv4 address ".."`},
		{name: "empty label", in: "a..b", wantErr: "empty label"},
		{name: "only digits", in: "123", wantErr: `invalid IPv4 address "123"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hp, err := parseHostPort(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseHostPort(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseHostPort(%q): %v", tt.in, err)
			}
			if hp.String() != tt.want || hp.kind != tt.kind {
				t.Errorf("parseHostPort(%q) = %q kind %d, want %q kind %d", tt.in, hp.String(), hp.kind, tt.want, tt.kind)
			}
		})
	}
}

func TestCheckUUID(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{name: "lower", in: "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", ok: true},
		{name: "upper", in: "0B9A1C2D-3E4F-4A5B-8C6D-7E8F9A0B1C2D", ok: true},
		{name: "short", in: "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2", ok: false},
		{name: "misplaced dash", in: "0b9a1c2d3-e4f-4a5b-8c6d-7e8f9a0b1c2d", ok: false},
		{name: "not hex", in: "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2g", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkUUID(tt.in); (err == nil) != tt.ok {
				t.Errorf("checkUUID(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
