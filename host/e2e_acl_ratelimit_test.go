package host_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// authConsumers is a consumers block shared by the auth plugin tests.
const authConsumers = `
consumers:
  - username: alice
    keyauth_credentials: [{key: alice-key}]
    acls: [{group: gold}, {group: staff}]
  - username: bob
    keyauth_credentials: [{key: bob-key}]
    acls: [{group: silver}]
  - username: carol
    keyauth_credentials: [{key: carol-key}]
`

// TestE2EACL: acl after key-auth allows and denies by group, with Kong's
// messages and X-Consumer-Groups.
func TestE2EACL(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
`+authConsumers+`
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: allow
        paths: [/allow]
        plugins:
          - name: key-auth
          - name: acl
            config: {allow: [gold]}
      - name: deny
        paths: [/deny]
        plugins:
          - name: key-auth
          - name: acl
            config: {deny: [gold], hide_groups_header: true}
      - name: noauth
        paths: [/noauth]
        plugins:
          - name: acl
            config: {allow: [gold]}
`)
	c := newClient(t)
	base := proxyURL(srv)
	cases := []struct {
		name       string
		path       string
		key        string
		wantStatus int
		wantMsg    string
		wantGroups string // upstream X-Consumer-Groups ("-" = absent)
	}{
		{name: "allow member", path: "/allow/x", key: "alice-key", wantStatus: 200, wantGroups: "gold, staff"},
		{name: "allow non-member", path: "/allow/x", key: "bob-key", wantStatus: 403, wantMsg: "You cannot consume this service"},
		{name: "allow no groups", path: "/allow/x", key: "carol-key", wantStatus: 403, wantMsg: "You cannot consume this service"},
		{name: "deny member", path: "/deny/x", key: "alice-key", wantStatus: 403, wantMsg: "You cannot consume this service"},
		{name: "deny non-member, hidden header", path: "/deny/x", key: "bob-key", wantStatus: 200, wantGroups: "-"},
		{name: "deny consumer without groups", path: "/deny/x", key: "carol-key", wantStatus: 200, wantGroups: "-"},
		{name: "no consumer", path: "/noauth/x", wantStatus: 401, wantMsg: "Unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hs []string
			if tc.key != "" {
				hs = []string{"apikey", tc.key}
			}
			// A client-sent groups header must never reach the upstream.
			hs = append(hs, "X-Consumer-Groups", "forged")
			r := send(t, c, http.MethodGet, base+tc.path, "", hs...)
			expectKong(t, tc.name, r, tc.wantStatus, tc.wantMsg)
			if tc.wantGroups != "" {
				got := be.Last(t).Header.Get("X-Consumer-Groups")
				if tc.wantGroups == "-" && got != "" || tc.wantGroups != "-" && got != tc.wantGroups {
					t.Errorf("upstream X-Consumer-Groups %q, want %q", got, tc.wantGroups)
				}
			}
		})
	}
}

// avoidWindowEdge waits (bounded) until now is at least margin away from
// the end of the current fixed window of length window, so a test that
// counts requests does not straddle two windows.
func avoidWindowEdge(t testing.TB, window, margin time.Duration) {
	t.Helper()
	for i := 0; i < 100; i++ {
		left := window - time.Duration(time.Now().UnixNano())%window
		if left > margin {
			return
		}
		time.Sleep(left + 10*time.Millisecond)
	}
}

func headerInt(t testing.TB, r response, name string) int {
	t.Helper()
	v := r.Header.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("header %s = %q, want an integer (headers %v)", name, v, r.Header)
	}
	return n
}

// TestE2ERateLimitingLocal covers rate-limiting with the local policy:
// windows, headers, limit_by variants, error_code/message,
// hide_client_headers, and consumer-scoped configs after key-auth.
func TestE2ERateLimitingLocal(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
`+authConsumers+`
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: ip
        paths: [/ip]
        plugins:
          - name: rate-limiting
            config: {minute: 3, hour: 10}
      - name: second
        paths: [/second]
        plugins:
          - name: rate-limiting
            config: {second: 1, limit_by: ip}
      - name: hidden
        paths: [/hidden]
        plugins:
          - name: rate-limiting
            config: {hour: 1, hide_client_headers: true, error_code: 503, error_message: "slow down"}
      - name: header
        paths: [/header]
        plugins:
          - name: rate-limiting
            config: {day: 1, limit_by: header, header_name: x-tenant}
      - name: path
        paths: [/path]
        plugins:
          - name: rate-limiting
            config: {month: 1, limit_by: path, path: /path/limited}
      - name: service
        paths: [/svc]
        plugins:
          - name: rate-limiting
            config: {year: 2, limit_by: service}
      - name: consumer
        paths: [/consumer]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: {hour: 2, limit_by: consumer}
      - name: credential
        paths: [/credential]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: {hour: 1, limit_by: credential}
plugins:
  - name: rate-limiting
    consumer: bob
    route: consumer
    config: {hour: 5, limit_by: consumer}
`)
	c := newClient(t)
	base := proxyURL(srv)
	avoidWindowEdge(t, time.Minute, 5*time.Second)

	t.Run("minute and hour headers", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			r := send(t, c, "GET", base+"/ip/x", "")
			if r.Status != 200 {
				t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
			}
			if got := headerInt(t, r, "X-RateLimit-Remaining-Minute"); got != 3-i {
				t.Errorf("request %d: X-RateLimit-Remaining-Minute %d, want %d", i, got, 3-i)
			}
			if got := headerInt(t, r, "X-RateLimit-Remaining-Hour"); got != 10-i {
				t.Errorf("request %d: X-RateLimit-Remaining-Hour %d, want %d", i, got, 10-i)
			}
			if headerInt(t, r, "X-RateLimit-Limit-Minute") != 3 || headerInt(t, r, "X-RateLimit-Limit-Hour") != 10 {
				t.Errorf("limit headers %v", r.Header)
			}
			// The most constraining window is the minute.
			if headerInt(t, r, "RateLimit-Limit") != 3 || headerInt(t, r, "RateLimit-Remaining") != 3-i {
				t.Errorf("RateLimit-* %v", r.Header)
			}
			if reset := headerInt(t, r, "RateLimit-Reset"); reset < 1 || reset > 60 {
				t.Errorf("RateLimit-Reset %d", reset)
			}
		}
		r := send(t, c, "GET", base+"/ip/x", "")
		expectKong(t, "4th", r, 429, "API rate limit exceeded")
		ra := headerInt(t, r, "Retry-After")
		if ra < 1 || ra > 60 || headerInt(t, r, "RateLimit-Reset") != ra {
			t.Errorf("Retry-After %d, RateLimit-Reset %s", ra, r.Header.Get("RateLimit-Reset"))
		}
		if headerInt(t, r, "X-RateLimit-Remaining-Minute") != 0 || headerInt(t, r, "RateLimit-Remaining") != 0 {
			t.Errorf("remaining on 429: %v", r.Header)
		}
		// A rejected request is not counted: the hour still shows 7 left.
		if got := headerInt(t, r, "X-RateLimit-Remaining-Hour"); got != 7 {
			t.Errorf("X-RateLimit-Remaining-Hour on 429 %d, want 7", got)
		}
	})

	t.Run("second window", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			r1 := send(t, c, "GET", base+"/second/x", "")
			r2 := send(t, c, "GET", base+"/second/x", "")
			if r1.Status == 200 && r2.Status == 429 {
				if headerInt(t, r2, "X-RateLimit-Limit-Second") != 1 || headerInt(t, r2, "Retry-After") != 1 {
					t.Errorf("headers %v", r2.Header)
				}
				return
			}
		}
		t.Fatal("never saw a second-window 429 within a second")
	})

	t.Run("hide_client_headers error_code error_message", func(t *testing.T) {
		r := send(t, c, "GET", base+"/hidden/x", "")
		if r.Status != 200 || r.Header.Get("X-RateLimit-Limit-Hour") != "" || r.Header.Get("RateLimit-Limit") != "" {
			t.Fatalf("status %d headers %v", r.Status, r.Header)
		}
		r = send(t, c, "GET", base+"/hidden/x", "")
		expectKong(t, "hidden 2nd", r, 503, "slow down")
		if r.Header.Get("Retry-After") != "" || r.Header.Get("RateLimit-Remaining") != "" {
			t.Errorf("hidden headers leaked: %v", r.Header)
		}
	})

	t.Run("limit_by header", func(t *testing.T) {
		if r := send(t, c, "GET", base+"/header/x", "", "x-tenant", "t1"); r.Status != 200 {
			t.Fatalf("t1: %d", r.Status)
		}
		expectKong(t, "t1 again", send(t, c, "GET", base+"/header/x", "", "x-tenant", "t1"), 429, "API rate limit exceeded")
		if r := send(t, c, "GET", base+"/header/x", "", "x-tenant", "t2"); r.Status != 200 {
			t.Fatalf("t2 has its own counter: %d", r.Status)
		}
	})

	t.Run("limit_by path", func(t *testing.T) {
		if r := send(t, c, "GET", base+"/path/limited", ""); r.Status != 200 {
			t.Fatalf("first: %d", r.Status)
		}
		expectKong(t, "second", send(t, c, "GET", base+"/path/limited", ""), 429, "API rate limit exceeded")
		// Another path falls back to the client IP: its own counter.
		if r := send(t, c, "GET", base+"/path/other", ""); r.Status != 200 {
			t.Fatalf("other path: %d %s", r.Status, r.Body)
		}
	})

	t.Run("limit_by service", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if r := send(t, c, "GET", base+"/svc/x", ""); r.Status != 200 {
				t.Fatalf("request %d: %d", i, r.Status)
			}
		}
		r := send(t, c, "GET", base+"/svc/x", "")
		expectKong(t, "3rd", r, 429, "API rate limit exceeded")
		if headerInt(t, r, "X-RateLimit-Limit-Year") != 2 {
			t.Errorf("headers %v", r.Header)
		}
	})

	t.Run("limit_by consumer with a consumer-scoped config", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if r := send(t, c, "GET", base+"/consumer/x", "", "apikey", "alice-key"); r.Status != 200 {
				t.Fatalf("alice %d: %d", i, r.Status)
			}
		}
		expectKong(t, "alice 3rd", send(t, c, "GET", base+"/consumer/x", "", "apikey", "alice-key"), 429, "API rate limit exceeded")
		// bob has his own config (consumer + route beats route): 5.
		for i := 0; i < 5; i++ {
			r := send(t, c, "GET", base+"/consumer/x", "", "apikey", "bob-key")
			if r.Status != 200 {
				t.Fatalf("bob %d: %d", i, r.Status)
			}
			if headerInt(t, r, "X-RateLimit-Limit-Hour") != 5 {
				t.Fatalf("bob's limit %s, want his consumer-scoped 5", r.Header.Get("X-RateLimit-Limit-Hour"))
			}
		}
		expectKong(t, "bob 6th", send(t, c, "GET", base+"/consumer/x", "", "apikey", "bob-key"), 429, "API rate limit exceeded")
	})

	t.Run("limit_by credential", func(t *testing.T) {
		if r := send(t, c, "GET", base+"/credential/x", "", "apikey", "carol-key"); r.Status != 200 {
			t.Fatalf("carol: %d", r.Status)
		}
		expectKong(t, "carol 2nd", send(t, c, "GET", base+"/credential/x", "", "apikey", "carol-key"), 429, "API rate limit exceeded")
		if r := send(t, c, "GET", base+"/credential/x", "", "apikey", "alice-key"); r.Status != 200 {
			t.Fatalf("alice has her own credential counter: %d", r.Status)
		}
	})
}

// TestE2EBuiltinConfigErrors: a bad built-in config is refused with an
// error naming the plugin and the field, and the running config is kept.
func TestE2EBuiltinConfigErrors(t *testing.T) {
	be := newBackend(t, "b1", nil)
	good := `
_format_version: "3.0"
consumers: [{username: alice}]
services:
  - name: api
    url: http://` + be.Addr() + `
    routes: [{name: r, paths: [/]}]
`
	srv := startWeir(t, good)
	tests := []struct {
		name    string
		plugins string
		want    []string
	}{
		{name: "wrong type", plugins: `[{name: rate-limiting, config: {minute: "ten"}}]`, want: []string{`plugins[0] (plugin "rate-limiting")`, "config.minute"}},
		{name: "no window", plugins: `[{name: rate-limiting, config: {policy: local}}]`, want: []string{`plugin "rate-limiting"`, "required"}},
		{name: "unknown field", plugins: `[{name: key-auth, config: {key_namez: [a]}}]`, want: []string{`plugin "key-auth"`, "key_namez"}},
		{name: "bad enum", plugins: `[{name: rate-limiting, config: {minute: 1, limit_by: nobody}}]`, want: []string{"config.limit_by"}},
		{name: "header without name", plugins: `[{name: rate-limiting, config: {minute: 1, limit_by: header}}]`, want: []string{"header_name"}},
		{name: "redis without host", plugins: `[{name: rate-limiting, config: {minute: 1, policy: redis}}]`, want: []string{"redis"}},
		{name: "decreasing limits", plugins: `[{name: rate-limiting, config: {second: 10, minute: 5}}]`, want: []string{`plugin "rate-limiting"`, "minute", "greater than or equal"}},
		{name: "acl both lists", plugins: `[{name: acl, config: {allow: [a], deny: [b]}}]`, want: []string{`plugin "acl"`, "config"}},
		{name: "acl no list", plugins: `[{name: acl, config: {}}]`, want: []string{`plugin "acl"`}},
		{name: "key-auth consumer-scoped", plugins: `[{name: key-auth, consumer: alice}]`, want: []string{`plugin "key-auth"`, "consumer"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := srv.Apply([]byte(good + "plugins: " + tc.plugins + "\n"))
			if err == nil {
				t.Fatal("Apply accepted a bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if r := get(t, newClient(t), proxyURL(srv)+"/"); r.Status != 200 {
				t.Fatalf("the running config stopped serving: %d", r.Status)
			}
		})
	}
}
