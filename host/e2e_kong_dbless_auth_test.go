package host_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestE2EKongDBLessAuth loads a Kong DB-less kong.yml with consumers,
// credentials and the built-in auth and rate-limiting plugins, and checks
// the status codes, messages and headers Kong documents.
func TestE2EKongDBLessAuth(t *testing.T) {
	raw, err := os.ReadFile("testdata/kong-auth.yml")
	if err != nil {
		t.Fatal(err)
	}
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, strings.ReplaceAll(string(raw), "BACKEND", be.Addr()))
	c := newClient(t)
	base := proxyURL(srv)

	// key-auth: no key, bad key.
	r := send(t, c, http.MethodGet, base+"/orders", "")
	expectKong(t, "no key", r, 401, "No API key found in request")
	if r.Header.Get("WWW-Authenticate") != "Key" {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	expectKong(t, "bad key", send(t, c, http.MethodGet, base+"/orders", "", "apikey", "nope"), 401, "Unauthorized")
	// acl: bob is not in orders-team.
	expectKong(t, "bob", send(t, c, http.MethodGet, base+"/orders", "", "apikey", "bob-secret-key"), 403, "You cannot consume this service")

	// alice passes; her consumer-scoped rate-limiting (10/min) replaces
	// the service's (5/min): Kong precedence, never merged.
	avoidWindowEdge(t, time.Minute, 5*time.Second)
	for i := 1; i <= 6; i++ {
		r = send(t, c, http.MethodGet, base+"/orders?apikey=alice-secret-key", "")
		if r.Status != 200 {
			t.Fatalf("alice %d: %d %s", i, r.Status, r.Body)
		}
		if r.Header.Get("X-RateLimit-Limit-Minute") != "10" {
			t.Fatalf("alice's limit %q, want her consumer-scoped 10", r.Header.Get("X-RateLimit-Limit-Minute"))
		}
	}
	up := be.Last(t)
	for k, want := range map[string]string{
		"X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-001", "X-Consumer-Groups": "orders-team",
	} {
		if got := up.Header.Get(k); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(up.RequestURI, "apikey") || up.Header.Get("X-Credential-Identifier") == "" {
		t.Errorf("upstream URI %q (key must be hidden), headers %v", up.RequestURI, up.Header)
	}

	// basic-auth.
	r = send(t, c, http.MethodGet, base+"/billing", "", "Authorization", basic("alice", "wrong"))
	expectKong(t, "basic wrong", r, 401, "Unauthorized")
	if r.Header.Get("WWW-Authenticate") != `Basic realm="service"` {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	r = send(t, c, http.MethodGet, base+"/billing", "", "Authorization", basic("alice", "alice-password"))
	if r.Status != 200 || be.Last(t).Header.Get("Authorization") != "" || be.Last(t).Header.Get("X-Consumer-Username") != "alice" {
		t.Fatalf("basic ok: %d, upstream %v", r.Status, be.Last(t).Header)
	}

	// jwt with claims_to_verify exp.
	now := time.Now().Unix()
	expired := signJWT(t, "HS256", []byte("alice-jwt-secret"), map[string]any{"iss": "alice-issuer", "exp": now - 5})
	r = send(t, c, http.MethodGet, base+"/reports", "", "Authorization", "Bearer "+expired)
	var claims map[string]string
	if r.Status != 401 || json.Unmarshal(r.Body, &claims) != nil || claims["exp"] != "token expired" {
		t.Fatalf("expired jwt: %d %s", r.Status, r.Body)
	}
	valid := signJWT(t, "HS256", []byte("alice-jwt-secret"), map[string]any{"iss": "alice-issuer", "exp": now + 300})
	if r = send(t, c, http.MethodGet, base+"/reports", "", "Authorization", "Bearer "+valid); r.Status != 200 {
		t.Fatalf("valid jwt: %d %s", r.Status, r.Body)
	}

	// No route: Kong's 404.
	expectKong(t, "no route", send(t, c, http.MethodGet, base+"/nowhere", ""), 404, "no Route matched with those values")
}
