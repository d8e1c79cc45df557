package proxy

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/counters"
)

func testExt(t *testing.T) *Extensions {
	ix, err := consumers.Build(&config.Config{Consumers: []config.Consumer{
		{Username: "alice", CustomID: "a1", KeyauthCredentials: []config.KeyauthCredential{{ID: "cred-1", Key: "k1"}},
			ACLs: []config.ACLGroup{{Group: "g1"}, {Group: "g2"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	return &Extensions{Consumers: ix, Counters: counters.NewLocal(), Now: func() time.Time { return now }}
}

// TestForeignFunctions covers the weir.* extensions as the proxy serves
// them: statuses for bad arguments and unknown names, and the effects of
// set_consumer on properties and upstream headers.
func TestForeignFunctions(t *testing.T) {
	ext := testExt(t)
	r := httptest.NewRequest("GET", "http://x/", nil)
	r.Header.Set("X-Consumer-Username", "forged")
	r.Header.Set("X-Anonymous-Consumer", "true")
	c := &chainHost{r: r, route: &Route{Name: "r", Ext: ext}, cur: &Plugin{Name: "rate-limiting", Scope: "r|"}}

	tests := []struct {
		name   string
		fn     string
		args   []byte
		status abi.Status
	}{
		{name: "lookup bad args", fn: abi.FFIConsumerLookup, args: []byte("garbage"), status: abi.StatusBadArgument},
		{name: "lookup unknown type", fn: abi.FFIConsumerLookup, args: abi.EncodePairs(nil, [][2]string{{"credential_type", "nope"}, {"key", "k"}}), status: abi.StatusBadArgument},
		{name: "lookup miss", fn: abi.FFIConsumerLookup, args: abi.ConsumerLookupArgs{CredentialType: abi.CredentialKeyAuth, Key: "nope"}.Encode(nil), status: abi.StatusNotFound},
		{name: "lookup hit", fn: abi.FFIConsumerLookup, args: abi.ConsumerLookupArgs{CredentialType: abi.CredentialKeyAuth, Key: "k1"}.Encode(nil), status: abi.StatusOK},
		{name: "set both id and username", fn: abi.FFISetConsumer, args: abi.EncodePairs(nil, [][2]string{{"id", "a"}, {"username", "b"}}), status: abi.StatusBadArgument},
		{name: "set unknown", fn: abi.FFISetConsumer, args: abi.SetConsumerArgs{Username: "nobody"}.Encode(nil), status: abi.StatusNotFound},
		{name: "counter bad window", fn: abi.FFICounterIncr, args: abi.EncodePairs(nil, [][2]string{{"key", "k"}, {"window_seconds", "0"}}), status: abi.StatusBadArgument},
		{name: "unknown name", fn: "weir.nope", status: abi.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, st := c.CallForeignFunction(tc.fn, tc.args); st != tc.status {
				t.Fatalf("status %v, want %v", st, tc.status)
			}
		})
	}

	if _, st := c.Property(splitDots(abi.PropWeirConsumerID)); st != abi.StatusNotFound {
		t.Fatalf("consumer id before authentication: %v", st)
	}
	if _, st := c.CallForeignFunction(abi.FFISetConsumer, abi.SetConsumerArgs{Username: "alice", CredentialID: "cred-1"}.Encode(nil)); st != abi.StatusOK {
		t.Fatalf("set_consumer: %v", st)
	}
	for prop, want := range map[string]string{
		abi.PropWeirConsumerUsername: "alice", abi.PropWeirConsumerCustomID: "a1", abi.PropWeirCredentialID: "cred-1",
	} {
		if v, st := c.Property(splitDots(prop)); st != abi.StatusOK || string(v) != want {
			t.Errorf("%s = %q (%v), want %q", prop, v, st, want)
		}
	}
	gv, st := c.Property(splitDots(abi.PropWeirConsumerGroups))
	pairs, err := abi.ParsePairs(gv)
	if st != abi.StatusOK || err != nil || len(pairs) != 2 || pairs[1][1] != "g2" {
		t.Errorf("groups %v %v %v", pairs, st, err)
	}
	if r.Header.Get("X-Consumer-Username") != "alice" || r.Header.Get("X-Consumer-Custom-Id") != "a1" ||
		r.Header.Get("X-Credential-Identifier") != "cred-1" || r.Header.Get("X-Anonymous-Consumer") != "" {
		t.Errorf("upstream headers %v", r.Header)
	}

	// Counters are namespaced by the calling plugin's name and scope.
	incr := func(cur *Plugin) int64 {
		c.cur = cur
		v, st := c.CallForeignFunction(abi.FFICounterIncr, abi.CounterIncrArgs{Key: "k", WindowSeconds: 60, Delta: 1}.Encode(nil))
		n, err := abi.DecodeInt64(v)
		if st != abi.StatusOK || err != nil {
			t.Fatalf("counter_incr: %v %v", st, err)
		}
		return n
	}
	a, b := &Plugin{Name: "rate-limiting", Scope: "r1|"}, &Plugin{Name: "rate-limiting", Scope: "r2|"}
	if incr(a) != 1 || incr(a) != 2 || incr(b) != 1 {
		t.Fatal("counters of two scopes are not separate")
	}
	c.cur = a
	v, st := c.CallForeignFunction(abi.FFICounterGet, abi.CounterGetArgs{Key: "k", WindowSeconds: 60}.Encode(nil))
	if n, _ := abi.DecodeInt64(v); st != abi.StatusOK || n != 2 {
		t.Fatalf("counter_get %d %v", n, st)
	}

	// Without extensions: NOT_FOUND for consumers, UNIMPLEMENTED for counters.
	bare := &chainHost{r: httptest.NewRequest("GET", "http://x/", nil), route: &Route{}}
	if _, st := bare.CallForeignFunction(abi.FFIConsumerLookup, abi.ConsumerLookupArgs{CredentialType: abi.CredentialKeyAuth, Key: "k1"}.Encode(nil)); st != abi.StatusNotFound {
		t.Errorf("lookup without extensions: %v", st)
	}
	if _, st := bare.CallForeignFunction(abi.FFICounterIncr, abi.CounterIncrArgs{Key: "k", WindowSeconds: 1, Delta: 1}.Encode(nil)); st != abi.StatusUnimplemented {
		t.Errorf("counter without a store: %v", st)
	}
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
