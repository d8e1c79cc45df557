package host_test

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/weirproxy/weir/host"
)

// startWeirACME starts a Weir on 127.0.0.1:0 listeners serving yamlText,
// with renewal checks every renewEvery.
func startWeirACME(t *testing.T, yamlText string, renewEvery time.Duration) *host.Server {
	t.Helper()
	path := t.TempDir() + "/weir.yaml"
	if err := os.WriteFile(path, []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := host.New(host.Options{
		ConfigPath:             path,
		ProxyListen:            "127.0.0.1:0",
		HTTPSListen:            "127.0.0.1:0",
		AdminListen:            "off",
		StatusListen:           "off",
		Logger:                 testLogger(t),
		ACMERenewCheckInterval: renewEvery,
	})
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

func port(a net.Addr) int {
	_, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(p)
	return n
}

// acmeDoc is a config with an echo route for each host, marked acme,
// and weir.acme pointed at Pebble.
func acmeDoc(p *pebble, storage string, acme map[string]any, hosts ...string) map[string]any {
	a := map[string]any{
		"directory": p.Directory,
		"ca_root":   p.MiniCA,
		"email":     "ops@weir.test",
		"storage":   map[string]string{"path": storage},
	}
	for k, v := range acme {
		a[k] = v
	}
	doc := map[string]any{
		"_format_version": "3.0",
		"weir":            map[string]any{"acme": a},
		"services": []any{map[string]any{
			"name":     "echo",
			"protocol": "weir",
			"host":     "echo",
			"routes": []any{
				map[string]any{"name": "acme", "hosts": hosts, "acme": true},
			},
		}},
	}
	return doc
}

// waitForACMECert polls the HTTPS listener until it serves, for sni, a
// certificate that verifies against roots and is not except (nil: any).
func waitForACMECert(t *testing.T, srv *host.Server, sni string, roots *x509.CertPool, d time.Duration, except *x509.Certificate) *x509.Certificate {
	t.Helper()
	var got *x509.Certificate
	var last error
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := servedCert(ctx, srv.HTTPSAddr().String(), sni, roots)
		cancel()
		if err == nil && (except == nil || c.SerialNumber.Cmp(except.SerialNumber) != 0) {
			got = c
			break
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("no new certificate for %s verifying against Pebble's root after %v (last error: %v)", sni, d, last)
	}
	return got
}

func TestE2EACMEChallenges(t *testing.T) {
	tests := []struct {
		name      string
		challenge string
		host      string
	}{
		{name: "HTTP-01 on the proxy listener", challenge: "http-01", host: "http01.weir.test"},
		{name: "TLS-ALPN-01 on the HTTPS listener", challenge: "tls-alpn-01", host: "tlsalpn.weir.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Weir starts without ACME names; Pebble is then pointed at
			// its real ports, and a reload asks for the certificate.
			srv := startWeirACME(t, `{"_format_version": "3.0"}`, 0)
			p := startPebble(t, port(srv.ProxyAddr()), port(srv.HTTPSAddr()), 24*time.Hour)
			storage := t.TempDir()
			doc := acmeDoc(p, storage, map[string]any{"challenges": []string{tc.challenge}}, tc.host)
			if err := srv.Apply([]byte(mustJSON(t, doc))); err != nil {
				t.Fatal(err)
			}
			leaf := waitForACMECert(t, srv, tc.host, p.Roots, 60*time.Second, nil)
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tc.host {
				t.Fatalf("certificate for %v, want [%s]", leaf.DNSNames, tc.host)
			}
			// And the route is served over HTTPS with it.
			c := httpsClient(t, srv, p.Roots, true)
			resp, err := c.Get("https://" + tc.host + "/hello")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Fatalf("status %d proto %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
			// A name nobody configured never triggers an order: the
			// default certificate answers.
			if got := peerLeaf(t, srv, "stranger.weir.test"); got.Subject.CommonName != "localhost" {
				t.Fatalf("an unconfigured name got %q, want the default certificate", got.Subject.CommonName)
			}
		})
	}
}

func TestE2EACMERenewal(t *testing.T) {
	// 20-second certificates, renewed in the second half of their life,
	// checked every second: the listener must switch to a new
	// certificate without a reload.
	srv := startWeirACME(t, `{"_format_version": "3.0"}`, time.Second)
	p := startPebble(t, port(srv.ProxyAddr()), port(srv.HTTPSAddr()), 20*time.Second)
	const name = "renew.weir.test"
	doc := acmeDoc(p, t.TempDir(), map[string]any{"renewal_window_ratio": 0.5}, name)
	if err := srv.Apply([]byte(mustJSON(t, doc))); err != nil {
		t.Fatal(err)
	}
	first := waitForACMECert(t, srv, name, p.Roots, 60*time.Second, nil)
	if life := first.NotAfter.Sub(first.NotBefore); life > time.Minute {
		t.Fatalf("Pebble issued a %v certificate, want a short-lived one", life)
	}
	second := waitForACMECert(t, srv, name, p.Roots, 60*time.Second, first)
	if !second.NotAfter.After(first.NotAfter) {
		t.Fatalf("renewed certificate expires %v, not after the first's %v", second.NotAfter, first.NotAfter)
	}
}

func TestE2EACMEOnDemand(t *testing.T) {
	srv := startWeirACME(t, `{"_format_version": "3.0"}`, 0)
	p := startPebble(t, port(srv.ProxyAddr()), port(srv.HTTPSAddr()), 24*time.Hour)
	doc := acmeDoc(p, t.TempDir(), map[string]any{
		"on_demand": map[string]any{"allow": []string{"*.od.weir.test", "exact.weir.test"}},
	}, "route.weir.test")
	if err := srv.Apply([]byte(mustJSON(t, doc))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		sni       string
		wantIssue bool
	}{
		{name: "allowed by wildcard: issued during the handshake", sni: "a.od.weir.test", wantIssue: true},
		{name: "allowed exactly", sni: "exact.weir.test", wantIssue: true},
		{name: "two labels under the wildcard: refused", sni: "b.a.od.weir.test"},
		{name: "arbitrary name: refused", sni: "attacker.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.wantIssue {
				if got := peerLeaf(t, srv, tc.sni); got.Subject.CommonName != "localhost" {
					t.Fatalf("served %q (%v), want the default certificate", got.Subject.CommonName, got.DNSNames)
				}
				return
			}
			leaf := waitForACMECert(t, srv, tc.sni, p.Roots, 60*time.Second, nil)
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tc.sni {
				t.Fatalf("certificate for %v, want [%s]", leaf.DNSNames, tc.sni)
			}
		})
	}
}

func TestE2EACMEReplicasShareStorageOneCertificate(t *testing.T) {
	// Two Weirs share one storage (file storage here; Secret storage
	// against a real kube-apiserver is the same certmagic path, tested
	// with the ingress harness). Pebble validates HTTP-01 on replica a's
	// port only, so if b orders, a must answer b's challenge from the
	// shared storage. Between them they obtain one certificate.
	a := startWeirACME(t, `{"_format_version": "3.0"}`, 0)
	b := startWeirACME(t, `{"_format_version": "3.0"}`, 0)
	p := startPebble(t, port(a.ProxyAddr()), port(a.HTTPSAddr()), 24*time.Hour)
	storage := t.TempDir()
	const name = "shared.weir.test"
	doc := []byte(mustJSON(t, acmeDoc(p, storage, map[string]any{"challenges": []string{"http-01"}}, name)))
	errs := make(chan error, 2)
	for _, srv := range []*host.Server{a, b} {
		go func() { errs <- srv.Apply(doc) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	la := waitForACMECert(t, a, name, p.Roots, 60*time.Second, nil)
	lb := waitForACMECert(t, b, name, p.Roots, 60*time.Second, nil)
	if la.SerialNumber.Cmp(lb.SerialNumber) != 0 {
		t.Fatalf("replicas serve different certificates (%v and %v): both ordered", la.SerialNumber, lb.SerialNumber)
	}
	if n := p.Issued.Load(); n != 1 {
		t.Fatalf("Pebble issued %d certificates, want 1", n)
	}
}
