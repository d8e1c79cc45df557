package kongext

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/weirproxy/weir/abi"
)

func TestAppendPairs2(t *testing.T) {
	tests := []struct {
		name           string
		k1, v1, k2, v2 string
	}{
		{name: "lookup", k1: abi.KeyCredentialType, v1: abi.CredentialKeyAuth, k2: abi.KeyKey, v2: "secret"},
		{name: "empty values", k1: "a", v1: "", k2: "b", v2: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := abi.EncodePairs(nil, [][2]string{{tc.k1, tc.v1}, {tc.k2, tc.v2}})
			if got := AppendPairs2([]byte("x")[:0], tc.k1, tc.v1, tc.k2, tc.v2); !bytes.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestAppendObject(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{name: "message first", in: map[string]string{"request_id": "r1", "message": "Unauthorized"}, want: `{"message":"Unauthorized","request_id":"r1"}`},
		{name: "escapes", in: map[string]string{"message": "a\"b\\c\n\x01é"}},
		{name: "claims sorted", in: map[string]string{"nbf": "x", "exp": "y"}, want: `{"exp":"y","nbf":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendObject(nil, tc.in)
			if tc.want != "" && string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			var back map[string]string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("not JSON: %s: %v", got, err)
			}
			for k, v := range tc.in {
				if back[k] != v {
					t.Fatalf("round trip %q: %q, want %q", k, back[k], v)
				}
			}
		})
	}
}

func TestHeaderFirst(t *testing.T) {
	h := [][2]string{{"apikey", "a"}, {"Other", "x"}, {"APIKEY", "b"}}
	if v, n := HeaderFirst(h, "ApiKey"); v != "a" || n != 2 {
		t.Fatalf("HeaderFirst = %q, %d", v, n)
	}
	if v, n := HeaderFirst(h, "none"); v != "" || n != 0 {
		t.Fatalf("missing: %q, %d", v, n)
	}
}
