package abi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestForeignFunctionsTable(t *testing.T) {
	tests := []struct {
		name            string
		fn              string
		wantOrigin      Origin
		wantImplemented bool
	}{
		{name: "consumer lookup", fn: FFIConsumerLookup, wantOrigin: OriginWeir, wantImplemented: true},
		{name: "set consumer", fn: FFISetConsumer, wantOrigin: OriginWeir, wantImplemented: true},
		{name: "counter incr", fn: FFICounterIncr, wantOrigin: OriginWeir, wantImplemented: true},
		{name: "counter get", fn: FFICounterGet, wantOrigin: OriginWeir, wantImplemented: true},
		{name: "clear route cache no-op", fn: FFIClearRouteCache, wantOrigin: OriginEnvoy, wantImplemented: true},
		{name: "compress", fn: FFICompress, wantOrigin: OriginEnvoy},
		{name: "uncompress", fn: FFIUncompress, wantOrigin: OriginEnvoy},
		{name: "verify signature", fn: FFIVerifySignature, wantOrigin: OriginEnvoy},
		{name: "sign", fn: FFISign, wantOrigin: OriginEnvoy},
		{name: "filter state", fn: FFISetEnvoyFilterState, wantOrigin: OriginEnvoy},
		{name: "declare property", fn: FFIDeclareProperty, wantOrigin: OriginEnvoy},
		{name: "expr create", fn: FFIExprCreate, wantOrigin: OriginEnvoy},
		{name: "expr evaluate", fn: FFIExprEvaluate, wantOrigin: OriginEnvoy},
		{name: "expr delete", fn: FFIExprDelete, wantOrigin: OriginEnvoy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := LookupForeignFunction(tt.fn)
			if !ok {
				t.Fatalf("%q not found", tt.fn)
			}
			if f.Origin != tt.wantOrigin || f.Implemented != tt.wantImplemented {
				t.Errorf("%q: origin %v implemented %v; want %v, %v", tt.fn, f.Origin, f.Implemented, tt.wantOrigin, tt.wantImplemented)
			}
			if (f.Origin == OriginWeir) != strings.HasPrefix(f.Name, "weir.") {
				t.Errorf("%q: Weir functions and only they are named weir.*", f.Name)
			}
		})
	}
	if len(tests) != len(ForeignFunctions) {
		t.Errorf("test covers %d functions, table has %d", len(tests), len(ForeignFunctions))
	}
	if _, ok := LookupForeignFunction("weir.nothing"); ok {
		t.Error("unknown name found")
	}
}

func TestConsumerLookupArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    ConsumerLookupArgs
		wantErr string
	}{
		{name: "round trip", in: ConsumerLookupArgs{CredentialType: CredentialKeyAuth, Key: "s3cr3t"}.Encode(nil),
			want: ConsumerLookupArgs{CredentialType: CredentialKeyAuth, Key: "s3cr3t"}},
		{name: "unknown keys ignored", in: EncodePairs(nil, [][2]string{{"future", "x"}, {KeyCredentialType, "jwt"}, {KeyKey, "iss"}}),
			want: ConsumerLookupArgs{CredentialType: CredentialJWT, Key: "iss"}},
		{name: "missing key", in: EncodePairs(nil, [][2]string{{KeyCredentialType, "basic-auth"}}), wantErr: `"key" is required`},
		{name: "empty key", in: ConsumerLookupArgs{CredentialType: "oauth2"}.Encode(nil), wantErr: `"key" is required`},
		{name: "missing type", in: EncodePairs(nil, [][2]string{{KeyKey, "k"}}), wantErr: `"credential_type" is required`},
		{name: "unknown type", in: ConsumerLookupArgs{CredentialType: "ldap-auth", Key: "k"}.Encode(nil), wantErr: `unknown credential_type "ldap-auth"`},
		{name: "duplicate key", in: EncodePairs(nil, [][2]string{{KeyCredentialType, "key-auth"}, {KeyKey, "a"}, {KeyKey, "b"}}), wantErr: `"key" given twice`},
		{name: "malformed pairs", in: []byte{1, 0, 0, 0}, wantErr: "shorter than its declared lengths"},
		{name: "empty buffer", in: nil, wantErr: "is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeConsumerLookupArgs(tt.in)
			checkArgsErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConsumerInfo(t *testing.T) {
	full := ConsumerInfo{
		ID: "c1", Username: "alice", CustomID: "ext-1", CredentialID: "cred-9",
		Tags:       []string{"gold", "internal"},
		Credential: [][2]string{{"password", "hash"}, {"algorithm", "HS256"}},
	}
	tests := []struct {
		name    string
		in      []byte
		want    ConsumerInfo
		wantErr string
	}{
		{name: "round trip", in: full.Encode(nil), want: full},
		{name: "only id", in: ConsumerInfo{ID: "c2"}.Encode(nil), want: ConsumerInfo{ID: "c2"}},
		{name: "wire keys", in: EncodePairs(nil, [][2]string{{"id", "c3"}, {"tag", "t"}, {"credential.secret", "s"}, {"other", "x"}}),
			want: ConsumerInfo{ID: "c3", Tags: []string{"t"}, Credential: [][2]string{{"secret", "s"}}}},
		{name: "empty", in: nil, want: ConsumerInfo{}},
		{name: "duplicate id", in: EncodePairs(nil, [][2]string{{"id", "a"}, {"id", "b"}}), wantErr: `"id" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeConsumerInfo(tt.in)
			checkArgsErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	pairs, err := ParsePairs(full.Encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"id", "c1"}, {"username", "alice"}, {"custom_id", "ext-1"}, {"credential_id", "cred-9"},
		{"tag", "gold"}, {"tag", "internal"}, {"credential.password", "hash"}, {"credential.algorithm", "HS256"},
	}
	if !reflect.DeepEqual(pairs, want) {
		t.Errorf("wire form %q, want %q", pairs, want)
	}
}

func TestSetConsumerArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    SetConsumerArgs
		wantErr string
	}{
		{name: "by id", in: SetConsumerArgs{ID: "c1", CredentialID: "k1"}.Encode(nil), want: SetConsumerArgs{ID: "c1", CredentialID: "k1"}},
		{name: "by username", in: SetConsumerArgs{Username: "alice"}.Encode(nil), want: SetConsumerArgs{Username: "alice"}},
		{name: "neither", in: SetConsumerArgs{CredentialID: "k"}.Encode(nil), wantErr: "exactly one of"},
		{name: "both", in: SetConsumerArgs{ID: "c1", Username: "alice"}.Encode(nil), wantErr: "exactly one of"},
		{name: "malformed", in: []byte{9}, wantErr: "shorter than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSetConsumerArgs(tt.in)
			checkArgsErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCounterIncrArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    CounterIncrArgs
		wantErr string
	}{
		{name: "round trip", in: CounterIncrArgs{Key: "ip:10.0.0.1", WindowSeconds: 60, Delta: 3}.Encode(nil),
			want: CounterIncrArgs{Key: "ip:10.0.0.1", WindowSeconds: 60, Delta: 3}},
		{name: "negative delta", in: CounterIncrArgs{Key: "k", WindowSeconds: 1, Delta: -2}.Encode(nil),
			want: CounterIncrArgs{Key: "k", WindowSeconds: 1, Delta: -2}},
		{name: "delta defaults to 1", in: EncodePairs(nil, [][2]string{{"key", "k"}, {"window_seconds", "3600"}}),
			want: CounterIncrArgs{Key: "k", WindowSeconds: 3600, Delta: 1}},
		{name: "max window", in: CounterIncrArgs{Key: "k", WindowSeconds: MaxCounterWindowSeconds, Delta: 1}.Encode(nil),
			want: CounterIncrArgs{Key: "k", WindowSeconds: MaxCounterWindowSeconds, Delta: 1}},
		{name: "window too big", in: CounterIncrArgs{Key: "k", WindowSeconds: MaxCounterWindowSeconds + 1}.Encode(nil), wantErr: "must be an integer in [1,"},
		{name: "zero window", in: CounterIncrArgs{Key: "k"}.Encode(nil), wantErr: "must be an integer in [1,"},
		{name: "window not a number", in: EncodePairs(nil, [][2]string{{"key", "k"}, {"window_seconds", "1m"}}), wantErr: `window_seconds "1m"`},
		{name: "missing window", in: EncodePairs(nil, [][2]string{{"key", "k"}}), wantErr: `"window_seconds" is required`},
		{name: "missing key", in: EncodePairs(nil, [][2]string{{"window_seconds", "1"}}), wantErr: `"key" is required`},
		{name: "key too long", in: CounterIncrArgs{Key: strings.Repeat("k", MaxCounterKeyBytes+1), WindowSeconds: 1}.Encode(nil), wantErr: "limit 512"},
		{name: "bad delta", in: EncodePairs(nil, [][2]string{{"key", "k"}, {"window_seconds", "1"}, {"delta", "x"}}), wantErr: `delta "x"`},
		{name: "delta overflow", in: EncodePairs(nil, [][2]string{{"key", "k"}, {"window_seconds", "1"}, {"delta", "9223372036854775808"}}), wantErr: "not a decimal int64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCounterIncrArgs(tt.in)
			checkArgsErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCounterGetArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    CounterGetArgs
		wantErr string
	}{
		{name: "round trip", in: CounterGetArgs{Key: "k", WindowSeconds: 60}.Encode(nil), want: CounterGetArgs{Key: "k", WindowSeconds: 60}},
		{name: "delta ignored", in: CounterIncrArgs{Key: "k", WindowSeconds: 1, Delta: 5}.Encode(nil), want: CounterGetArgs{Key: "k", WindowSeconds: 1}},
		{name: "negative window", in: CounterGetArgs{Key: "k", WindowSeconds: -1}.Encode(nil), wantErr: "must be an integer"},
		{name: "duplicate window", in: EncodePairs(nil, [][2]string{{"key", "k"}, {"window_seconds", "1"}, {"window_seconds", "2"}}), wantErr: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCounterGetArgs(tt.in)
			checkArgsErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func checkArgsErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrForeignArgs) {
		t.Fatalf("error %v does not wrap ErrForeignArgs", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// TestDecodeForeignArgsAllocs: decoding allocates only the strings the
// result holds.
func TestDecodeForeignArgsAllocs(t *testing.T) {
	incr := CounterIncrArgs{Key: "consumer:alice", WindowSeconds: 60, Delta: 1}.Encode(nil)
	lookup := ConsumerLookupArgs{CredentialType: CredentialKeyAuth, Key: "alice-key"}.Encode(nil)
	set := SetConsumerArgs{ID: "c1", CredentialID: "k1"}.Encode(nil)
	for _, tt := range []struct {
		name string
		want float64
		f    func() error
	}{
		{"counter_incr", 1, func() error { _, err := DecodeCounterIncrArgs(incr); return err }},
		{"consumer_lookup", 1, func() error { _, err := DecodeConsumerLookupArgs(lookup); return err }},
		{"set_consumer", 2, func() error { _, err := DecodeSetConsumerArgs(set); return err }},
	} {
		if err := tt.f(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := testing.AllocsPerRun(100, func() { _ = tt.f() }); got > tt.want {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.want)
		}
	}
}
