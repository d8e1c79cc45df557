package tlsacme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/config"
)

// selfSignedPEM makes a certificate for names with an ECDSA or RSA key.
func selfSignedPEM(t testing.TB, cn string, rsaKey bool, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	var pub, priv any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

func TestBuildCertsErrorsNameCertificateAndField(t *testing.T) {
	c1, k1 := selfSignedPEM(t, "one", false, "one.test")
	_, k2 := selfSignedPEM(t, "two", false, "two.test")
	certs := []config.Certificate{
		{Cert: c1, Key: k1, SNIs: []config.SNI{{Name: "one.test"}}},
		{Cert: c1, Key: k2, SNIs: []config.SNI{{Name: "two.test"}}},
		{ID: "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", Cert: c1, Key: k1, CertAlt: "junk", KeyAlt: k1},
	}
	_, err := BuildCerts(certs, time.Now())
	if err == nil {
		t.Fatal("BuildCerts accepted a mismatched key and a bad cert_alt")
	}
	for _, want := range []string{
		`certificates[1] (certificate for "two.test").key: the private key does not match cert`,
		`certificates[2] (certificate "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d").cert_alt: no PEM certificate found`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "certificates[0]") {
		t.Errorf("the good certificate was reported: %v", err)
	}
}

func TestLookupPrefersWhatTheClientSupports(t *testing.T) {
	ec, eck := selfSignedPEM(t, "ecdsa", false, "dual.test")
	rc, rck := selfSignedPEM(t, "rsa", true, "dual.test")
	set, err := BuildCerts([]config.Certificate{{Cert: ec, Key: eck, CertAlt: rc, KeyAlt: rck}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		hello  *tls.ClientHelloInfo
		wantCN string
	}{
		{name: "modern client gets ECDSA", hello: &tls.ClientHelloInfo{
			ServerName:        "dual.test",
			SupportedVersions: []uint16{tls.VersionTLS13},
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256},
			SupportedCurves:   []tls.CurveID{tls.CurveP256},
		}, wantCN: "ecdsa"},
		{name: "RSA-only client gets the alternate", hello: &tls.ClientHelloInfo{
			ServerName:        "dual.test",
			SupportedVersions: []uint16{tls.VersionTLS13},
			SignatureSchemes:  []tls.SignatureScheme{tls.PSSWithSHA256},
			SupportedCurves:   []tls.CurveID{tls.X25519},
		}, wantCN: "rsa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := set.Lookup(tc.hello)
			if got == nil || got.Leaf.Subject.CommonName != tc.wantCN {
				t.Fatalf("got %v, want %s", got, tc.wantCN)
			}
		})
	}
}

func TestAllowMatch(t *testing.T) {
	allow := []string{"*.tenants.test", "Exact.Test"}
	tests := []struct {
		name string
		want bool
	}{
		{"a.tenants.test", true},
		{"exact.test", true},
		{"tenants.test", false},
		{"b.a.tenants.test", false},
		{"evil.test", false},
		{"a.tenants.test.evil.test", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := allowMatch(allow, tc.name); got != tc.want {
			t.Errorf("allowMatch(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	cfg := &config.Config{
		Weir: config.Weir{ACME: &config.ACME{Hosts: []string{"B.test", "a.test"}}},
		Routes: []*config.Route{
			{Name: "on", ACME: true, Hosts: []string{"c.test:8443", "a.test", "*.wild.test"}},
			{Name: "off", Hosts: []string{"not.test"}},
		},
	}
	got := Names(cfg)
	want := []string{"a.test", "b.test", "c.test"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	cfg.Weir.ACME = nil
	if got := Names(cfg); got != nil {
		t.Fatalf("Names without weir.acme = %v, want none", got)
	}
}
