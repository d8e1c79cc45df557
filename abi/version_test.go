package abi

import (
	"errors"
	"strings"
	"testing"
)

func TestDetectVersion(t *testing.T) {
	tests := []struct {
		name        string
		exports     []string
		want        Version
		wantErr     error
		errContains []string
	}{
		{name: "0.2.1 Rust/C++ SDK", exports: []string{"memory", "_initialize", "proxy_abi_version_0_2_1", "proxy_on_context_create"}, want: V0_2_1},
		{name: "0.2.0 TinyGo SDK", exports: []string{"_start", "proxy_abi_version_0_2_0", "malloc"}, want: V0_2_0},
		{name: "0.1.0 old SDK", exports: []string{"proxy_abi_version_0_1_0", "malloc"}, want: V0_1_0},
		{name: "duplicate marker tolerated", exports: []string{"proxy_abi_version_0_2_1", "proxy_abi_version_0_2_1"}, want: V0_2_1},
		{name: "no exports", exports: nil, wantErr: ErrNoABIVersion},
		{name: "no marker", exports: []string{"_start", "malloc", "proxy_on_request_headers"}, wantErr: ErrNoABIVersion},
		{name: "similar name is not a marker", exports: []string{"proxy_abi_version"}, wantErr: ErrNoABIVersion},
		{name: "future version", exports: []string{"proxy_abi_version_0_3_0"}, wantErr: ErrUnknownABIVersion,
			errContains: []string{`"proxy_abi_version_0_3_0"`, "proxy_abi_version_0_2_1"}},
		{name: "garbage suffix", exports: []string{"proxy_abi_version_"}, wantErr: ErrUnknownABIVersion,
			errContains: []string{`"proxy_abi_version_"`}},
		{name: "two known markers", exports: []string{"proxy_abi_version_0_2_0", "_start", "proxy_abi_version_0_2_1"}, wantErr: ErrMultipleABIVersions,
			errContains: []string{"proxy_abi_version_0_2_0", "proxy_abi_version_0_2_1"}},
		{name: "known and future", exports: []string{"proxy_abi_version_0_2_1", "proxy_abi_version_1_0_0", "proxy_abi_version_0_2_1"}, wantErr: ErrMultipleABIVersions,
			errContains: []string{"proxy_abi_version_1_0_0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectVersion(tt.exports)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DetectVersion error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("DetectVersion = %v, want %v", got, tt.want)
			}
			for _, s := range tt.errContains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestVersionStrings(t *testing.T) {
	tests := []struct {
		name       string
		v          Version
		wantString string
		wantMarker string
	}{
		{name: "unknown", v: VersionUnknown, wantString: "unknown", wantMarker: ""},
		{name: "0.1.0", v: V0_1_0, wantString: "0.1.0", wantMarker: "proxy_abi_version_0_1_0"},
		{name: "0.2.0", v: V0_2_0, wantString: "0.2.0", wantMarker: "proxy_abi_version_0_2_0"},
		{name: "0.2.1", v: V0_2_1, wantString: "0.2.1", wantMarker: "proxy_abi_version_0_2_1"},
		{name: "out of range", v: Version(9), wantString: "unknown", wantMarker: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if got := tt.v.MarkerExport(); got != tt.wantMarker {
				t.Errorf("MarkerExport() = %q, want %q", got, tt.wantMarker)
			}
		})
	}
	for i := 1; i < len(Versions); i++ {
		if Versions[i-1] >= Versions[i] {
			t.Errorf("Versions not ascending: %v", Versions)
		}
	}
}
