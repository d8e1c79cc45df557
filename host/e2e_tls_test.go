package host_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tlsDoc is a config with one backend, a catch-all route, an
// https-only route for secure.test (301 on plain HTTP), an http-only
// route for plain.test, and the given certificates.
func tlsDoc(backend string, certs []map[string]any) map[string]any {
	return map[string]any{
		"_format_version": "3.0",
		"services": []any{map[string]any{
			"name": "b",
			"url":  "http://" + backend,
			"routes": []any{
				map[string]any{"name": "any", "paths": []string{"/"}},
				map[string]any{"name": "secure", "hosts": []string{"secure.test"}, "protocols": []string{"https"}, "https_redirect_status_code": 301},
				map[string]any{"name": "plain", "hosts": []string{"plain.test"}, "protocols": []string{"http"}},
			},
		}},
		"certificates": certs,
	}
}

func TestE2ETLSCertificateSelection(t *testing.T) {
	b := newBackend(t, "b1", nil)
	ca := newTestCA(t, "sni CA")
	later := time.Now().Add(time.Hour)
	a := ca.issue(t, "exact", []string{"a.test"}, later)
	w := ca.issue(t, "wildcard", []string{"*.wild.test"}, later)
	l := ca.issue(t, "leaf-names", []string{"leaf-only.test"}, later)
	srv := startWeir(t, mustJSON(t, tlsDoc(b.Addr(), []map[string]any{
		{"cert": a.Cert, "key": a.Key, "snis": []string{"a.test"}},
		{"cert": w.Cert, "key": w.Key, "snis": []any{map[string]string{"name": "*.wild.test"}}},
		{"cert": l.Cert, "key": l.Key}, // no snis: the leaf's DNS names
	})))
	const def = "default"
	tests := []struct {
		name   string
		sni    string
		wantCN string
	}{
		{name: "exact", sni: "a.test", wantCN: "exact"},
		{name: "exact, other case", sni: "A.Test", wantCN: "exact"},
		{name: "wildcard covers one label", sni: "x.wild.test", wantCN: "wildcard"},
		{name: "wildcard does not cover two labels", sni: "y.x.wild.test", wantCN: def},
		{name: "wildcard does not cover its base", sni: "wild.test", wantCN: def},
		{name: "certificate without snis serves its DNS names", sni: "leaf-only.test", wantCN: "leaf-names"},
		{name: "unknown name gets the default", sni: "unknown.test", wantCN: def},
		{name: "no SNI gets the default", sni: "", wantCN: def},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := peerLeaf(t, srv, tc.sni)
			if tc.wantCN == def {
				if len(got.Subject.Organization) == 0 || got.Subject.Organization[0] != "Weir default certificate" || got.Subject.CommonName != "localhost" {
					t.Fatalf("served %q (O=%v), want the generated default certificate", got.Subject.CommonName, got.Subject.Organization)
				}
				return
			}
			if got.Subject.CommonName != tc.wantCN {
				t.Fatalf("served %q, want %q", got.Subject.CommonName, tc.wantCN)
			}
		})
	}
}

func TestE2ETLSHTTP1AndHTTP2(t *testing.T) {
	b := newBackend(t, "b1", nil)
	ca := newTestCA(t, "proto CA")
	a := ca.issue(t, "a", []string{"a.test"}, time.Now().Add(time.Hour))
	srv := startWeir(t, mustJSON(t, tlsDoc(b.Addr(), []map[string]any{{"cert": a.Cert, "key": a.Key, "snis": []string{"a.test"}}})))
	_, httpsPort, _ := net.SplitHostPort(srv.HTTPSAddr().String())
	tests := []struct {
		name      string
		h2        bool
		wantMajor int
	}{
		{name: "HTTP/1.1 over TLS", h2: false, wantMajor: 1},
		{name: "HTTP/2 over TLS (ALPN h2)", h2: true, wantMajor: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := httpsClient(t, srv, ca.Pool, tc.h2)
			for i := range 3 { // several requests on one connection
				resp, err := c.Get("https://a.test/x?i=" + string(rune('0'+i)))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "b1" {
					t.Fatalf("status %d body %q, want 200 b1", resp.StatusCode, body)
				}
				if resp.ProtoMajor != tc.wantMajor {
					t.Fatalf("proto %s, want major %d", resp.Proto, tc.wantMajor)
				}
				if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "a" {
					t.Fatalf("not served with a.test's certificate")
				}
			}
			got := b.Last(t)
			if p := got.Header.Get("X-Forwarded-Proto"); p != "https" {
				t.Errorf("X-Forwarded-Proto %q, want https", p)
			}
			if p := got.Header.Get("X-Forwarded-Port"); p != httpsPort {
				t.Errorf("X-Forwarded-Port %q, want %s", p, httpsPort)
			}
			if h := got.Header.Get("X-Forwarded-Host"); h != "a.test" {
				t.Errorf("X-Forwarded-Host %q, want a.test", h)
			}
		})
	}
}

func TestE2ETLSRouteProtocols(t *testing.T) {
	b := newBackend(t, "b1", nil)
	ca := newTestCA(t, "protocols CA")
	later := time.Now().Add(time.Hour)
	sec := ca.issue(t, "secure", []string{"secure.test"}, later)
	pl := ca.issue(t, "plain", []string{"plain.test"}, later)
	srv := startWeir(t, mustJSON(t, tlsDoc(b.Addr(), []map[string]any{
		{"cert": sec.Cert, "key": sec.Key},
		{"cert": pl.Cert, "key": pl.Key},
	})))
	plainC := newClient(t)
	tlsC := httpsClient(t, srv, ca.Pool, true)
	tests := []struct {
		name         string
		tls          bool
		host         string
		wantStatus   int
		wantLocation string
		wantBackend  bool
	}{
		{name: "https-only route over http redirects with its code", host: "secure.test", wantStatus: 301, wantLocation: "https://secure.test/p?q=1"},
		{name: "https-only route over https is served", tls: true, host: "secure.test", wantStatus: 200, wantBackend: true},
		{name: "http-only route over http is served", host: "plain.test", wantStatus: 200, wantBackend: true},
		{name: "http-only route over https matches no route", tls: true, host: "plain.test", wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.Hits.Load()
			var r response
			if tc.tls {
				req, _ := http.NewRequest(http.MethodGet, "https://"+tc.host+"/p?q=1", nil)
				r = do(t, tlsC, req)
			} else {
				req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+"/p?q=1", nil)
				req.Host = tc.host
				r = do(t, plainC, req)
			}
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", r.Status, tc.wantStatus, r.Body)
			}
			if got := r.Header.Get("Location"); got != tc.wantLocation {
				t.Errorf("Location %q, want %q", got, tc.wantLocation)
			}
			if hit := b.Hits.Load() != before; hit != tc.wantBackend {
				t.Errorf("backend hit %v, want %v", hit, tc.wantBackend)
			}
		})
	}
}

func TestE2ETLSBadCertificateNeverReplacesGood(t *testing.T) {
	b := newBackend(t, "b1", nil)
	ca := newTestCA(t, "reload CA")
	later := time.Now().Add(time.Hour)
	good := ca.issue(t, "good", []string{"a.test"}, later)
	other := ca.issue(t, "other", []string{"a.test"}, later)
	next := ca.issue(t, "next", []string{"a.test"}, later)
	doc := func(cert, key string) []byte {
		return []byte(mustJSON(t, tlsDoc(b.Addr(), []map[string]any{{"cert": cert, "key": key, "snis": []string{"a.test"}}})))
	}
	srv := startWeir(t, string(doc(good.Cert, good.Key)))
	if got := peerLeaf(t, srv, "a.test").SerialNumber; got.Cmp(good.Serial) != 0 {
		t.Fatalf("serving serial %v, want the configured %v", got, good.Serial)
	}
	const where = `certificates[0] (certificate for "a.test")`
	tests := []struct {
		name    string
		cfg     []byte
		wantErr string
	}{
		{name: "cert is not PEM", cfg: doc("not a certificate", good.Key), wantErr: where + ".cert: no PEM certificate found"},
		{name: "cert PEM holds garbage", cfg: doc("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", good.Key), wantErr: where + ".cert: "},
		{name: "key is not PEM", cfg: doc(good.Cert, "nope"), wantErr: where + ".key: no PEM private key found"},
		{name: "key of another certificate", cfg: doc(good.Cert, other.Key), wantErr: where + ".key: the private key does not match cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := srv.Apply(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Apply error %v, want one containing %q", err, tc.wantErr)
			}
			if got := peerLeaf(t, srv, "a.test").SerialNumber; got.Cmp(good.Serial) != 0 {
				t.Fatalf("after a rejected config the listener serves serial %v, want the good %v", got, good.Serial)
			}
		})
	}
	if err := srv.Apply(doc(next.Cert, next.Key)); err != nil {
		t.Fatalf("a good certificate was rejected: %v", err)
	}
	if got := peerLeaf(t, srv, "a.test").SerialNumber; got.Cmp(next.Serial) != 0 {
		t.Fatalf("after a good reload the listener serves serial %v, want %v", got, next.Serial)
	}
}

func TestE2ETLSExpiredCertificateStillServes(t *testing.T) {
	// Kong accepts expired certificates; rejecting them would block every
	// unrelated reload once one expires. Weir serves it and warns.
	b := newBackend(t, "b1", nil)
	ca := newTestCA(t, "expired CA")
	old := ca.issue(t, "expired", []string{"a.test"}, time.Now().Add(-time.Minute))
	srv := startWeir(t, mustJSON(t, tlsDoc(b.Addr(), []map[string]any{{"cert": old.Cert, "key": old.Key}})))
	if got := peerLeaf(t, srv, "a.test"); got.SerialNumber.Cmp(old.Serial) != 0 {
		t.Fatalf("serving serial %v, want the expired certificate's %v", got.SerialNumber, old.Serial)
	}
}

func TestE2EUpstreamTLS(t *testing.T) {
	upCA := newTestCA(t, "upstream CA")
	clientCA := newTestCA(t, "client CA")
	serverCert := upCA.issue(t, "upstream", []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	client := clientCA.issue(t, "weir-client", nil, time.Now().Add(time.Hour))
	pair, err := tls.X509KeyPair([]byte(serverCert.Cert), []byte(serverCert.Key))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.TLS.PeerCertificates[0].Subject.CommonName
		io.WriteString(w, "tls-ok")
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}
	up.StartTLS()
	t.Cleanup(up.Close)
	const certID, caID = "8a0b1c2d-0000-4000-8000-000000000001", "8a0b1c2d-0000-4000-8000-000000000002"
	svc := func(name, path string, extra map[string]any) map[string]any {
		s := map[string]any{
			"name":   name,
			"url":    "https://" + up.Listener.Addr().String(),
			"routes": []any{map[string]any{"name": name, "paths": []string{path}}},
		}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	srv := startWeir(t, mustJSON(t, map[string]any{
		"_format_version": "3.0",
		"services": []any{
			svc("ok", "/ok", map[string]any{"ca_certificates": []string{caID}, "client_certificate": map[string]string{"id": certID}}),
			svc("noca", "/noca", map[string]any{"client_certificate": map[string]string{"id": certID}}),
			svc("noverify", "/noverify", map[string]any{"tls_verify": false, "client_certificate": certID}),
			svc("nocert", "/nocert", map[string]any{"ca_certificates": []string{caID}}),
		},
		"certificates":    []any{map[string]any{"id": certID, "cert": client.Cert, "key": client.Key}},
		"ca_certificates": []any{map[string]any{"id": caID, "cert": upCA.PEM}},
	}))
	c := newClient(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
	}{
		{name: "verified against the CA bundle, client certificate presented", path: "/ok", wantStatus: 200},
		{name: "verification is on by default: unknown CA fails", path: "/noca", wantStatus: 502},
		{name: "tls_verify false skips verification", path: "/noverify", wantStatus: 200},
		// Same address and server name as /ok: a pooled connection from
		// /ok (with its client certificate) must not be reused here.
		{name: "no client certificate: the upstream refuses", path: "/nocert", wantStatus: 502},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+tc.path, nil)
			r := do(t, c, req)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantStatus == 200 {
				if cn := <-seen; cn != "weir-client" {
					t.Errorf("upstream saw client certificate %q, want weir-client", cn)
				}
			}
		})
	}
}
