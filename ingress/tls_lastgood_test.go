package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func selfSignedPair(t *testing.T, name string) TLSPair {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(k)
	return TLSPair{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})}
}

// TestTranslateTLSLastGood: an invalid TLS Secret keeps serving the pair
// given in Options.LastGoodTLS (with a failure naming the Secret), and
// without one its hosts get no certificate.
func TestTranslateTLSLastGood(t *testing.T) {
	good := selfSignedPair(t, "a.test")
	other := selfSignedPair(t, "a.test")
	bad := TLSPair{Cert: []byte("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"), Key: good.Key}
	tests := []struct {
		name     string
		secret   TLSPair
		lastGood map[string]TLSPair
		wantCert []byte // nil: no certificate
		wantFail string // "": no failure
	}{
		{name: "valid Secret", secret: good, lastGood: map[string]TLSPair{"ns/tls": other}, wantCert: good.Cert},
		{name: "invalid Secret without a last good pair", secret: bad, wantFail: "Secret ns/tls: "},
		{name: "invalid Secret keeps its last good pair", secret: bad, lastGood: map[string]TLSPair{"ns/tls": other}, wantCert: other.Cert, wantFail: "last good certificate keeps serving"},
		{name: "another Secret's last good pair is not used", secret: bad, lastGood: map[string]TLSPair{"ns/other": other}, wantFail: "Secret ns/tls: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, class := netv1.PathTypePrefix, "weir"
			ing := &netv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
				Spec: netv1.IngressSpec{
					IngressClassName: &class,
					TLS:              []netv1.IngressTLS{{Hosts: []string{"a.test"}, SecretName: "tls"}},
					Rules: []netv1.IngressRule{{Host: "a.test", IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{
						Paths: []netv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: "svc", Port: netv1.ServiceBackendPort{Number: 80}}}}},
					}}}},
				},
			}
			objs := &Objects{
				Ingresses: []*netv1.Ingress{ing},
				Services:  []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
				Secrets: []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "ns"}, Type: corev1.SecretTypeTLS,
					Data: map[string][]byte{corev1.TLSCertKey: tc.secret.Cert, corev1.TLSPrivateKeyKey: tc.secret.Key}}},
			}
			res := Translate(objs, Options{IngressClass: "weir", LastGoodTLS: tc.lastGood})
			certs := res.Config.Certificates
			switch {
			case tc.wantCert == nil && len(certs) != 0:
				t.Fatalf("got %d certificates, want none", len(certs))
			case tc.wantCert != nil && (len(certs) != 1 || certs[0].Cert != string(tc.wantCert) || len(certs[0].SNIs) != 1 || certs[0].SNIs[0].Name != "a.test"):
				t.Fatalf("certificates %+v, want the expected one for a.test", certs)
			case tc.wantCert != nil && string(res.TLS["ns/tls"].Cert) != string(tc.wantCert):
				t.Fatalf("Result.TLS[ns/tls] is not the served pair")
			case tc.wantCert == nil && len(res.TLS) != 0:
				t.Fatalf("Result.TLS = %v, want empty", res.TLS)
			}
			var msgs []string
			for _, f := range res.Failures {
				if f.Field == "spec.tls[0].secretName" && f.Reason == ReasonInvalid {
					msgs = append(msgs, f.Message)
				}
			}
			if tc.wantFail == "" && len(msgs) != 0 {
				t.Fatalf("failures %q, want none", msgs)
			}
			if tc.wantFail != "" && (len(msgs) != 1 || !strings.Contains(msgs[0], tc.wantFail)) {
				t.Fatalf("failures %q, want one containing %q (all: %+v)", msgs, tc.wantFail, res.Failures)
			}
		})
	}
}
