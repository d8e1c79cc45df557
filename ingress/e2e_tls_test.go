package ingress_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/util/retry"
)

// testCA signs leaf certificates for the TLS e2e test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weir e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{cert: c, key: k, pool: pool}
}

// issue returns a PEM certificate and key for names, with serial.
func (ca *testCA) issue(t *testing.T, serial int64, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

// servedSerial handshakes with the HTTPS listener for sni, verifying
// against roots, and returns the leaf's serial ("" and the error when the
// handshake or the verification fails).
func (k *cluster) servedSerial(sni string, roots *x509.CertPool) (string, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: sni, RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", k.proxy.Server.HTTPSAddr().String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// TestE2EIngressTLS serves an Ingress's spec.tls from a kubernetes.io/tls
// Secret over HTTPS by SNI, with the controller against a real
// kube-apiserver: the certificate verifies against the test CA, a new
// certificate in the Secret is served without a restart, and invalid PEM
// in the Secret raises an Event naming the Secret while the last good
// certificate keeps serving.
func TestE2EIngressTLS(t *testing.T) {
	k := newCluster(t)
	ctx := context.Background()
	const host, secret = "secure.e2e.test", "site-tls"
	ca := newTestCA(t)
	web := k.startPod("tls-web-1")
	k.service("tls-web", 80, "http", nil, web)

	setSecret := func(crt, key []byte) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := k.cs.CoreV1().Secrets(k.ns).Get(ctx, secret, metav1.GetOptions{})
			if err != nil {
				_, err = k.cs.CoreV1().Secrets(k.ns).Create(ctx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: k.ns},
					Type:       corev1.SecretTypeTLS,
					Data:       map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
				}, metav1.CreateOptions{})
				return err
			}
			s.Data = map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}
			_, err = k.cs.CoreV1().Secrets(k.ns).Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitServed := func(what, serial string) {
		t.Helper()
		k.eventually(what, func() string {
			got, err := k.servedSerial(host, ca.pool)
			if err != nil {
				return err.Error()
			}
			if got != serial {
				return "serial " + got + ", want " + serial
			}
			return ""
		})
	}

	crt1, key1 := ca.issue(t, 1001, host)
	setSecret(crt1, key1)
	ing := ingressObj("secure", nil, str("weir"), "", rule(host, path("/", netv1.PathTypePrefix, "tls-web", 80)))
	ing.Spec.TLS = []netv1.IngressTLS{{Hosts: []string{host}, SecretName: secret}}
	k.applyIngress(ing)
	waitServed("the Secret's certificate served for "+host, "1001")

	// The route itself answers over HTTPS, with the certificate verified.
	addr := k.proxy.Server.HTTPSAddr().String()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	httpsGet := func() (int, reply, error) {
		resp, err := hc.Get("https://" + host + "/hello")
		if err != nil {
			return 0, reply{}, err
		}
		defer resp.Body.Close()
		var r reply
		err = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r, err
	}
	if st, r, err := httpsGet(); err != nil || st != 200 || r.Pod != "tls-web-1" || r.Host != host {
		t.Fatalf("GET https://%s/hello: %d from %q (host %q), %v; want 200 from tls-web-1", host, st, r.Pod, r.Host, err)
	}
	// Another name gets the default certificate, which the test CA does
	// not sign.
	if _, err := k.servedSerial("other.e2e.test", ca.pool); err == nil {
		t.Fatalf("a name outside spec.tls got a certificate signed by the Secret's CA")
	}

	// Hot reload: a new certificate in the Secret is served by the same
	// listener, no restart.
	crt2, key2 := ca.issue(t, 1002, host)
	setSecret(crt2, key2)
	waitServed("the updated Secret's certificate served", "1002")

	// Invalid PEM: an Event on the Ingress names the Secret, and the last
	// good certificate keeps serving.
	setSecret([]byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"), key2)
	want := k.ns + "/" + secret
	k.eventually("an Event naming the invalid Secret", func() string {
		evs, err := k.cs.CoreV1().Events(k.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "secure").String()})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == "Invalid" && strings.Contains(e.Message, want) {
				return ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return fmt.Sprintf("events: %q", seen)
	})
	for i := range 3 {
		if got, err := k.servedSerial(host, ca.pool); err != nil || got != "1002" {
			t.Fatalf("handshake %d after the invalid update: serial %q, %v; want the last good 1002", i, got, err)
		}
	}
	if st, r, err := httpsGet(); err != nil || st != 200 || r.Pod != "tls-web-1" {
		t.Fatalf("GET after the invalid update: %d from %q, %v; want 200 from tls-web-1", st, r.Pod, err)
	}

	// Fixing the Secret serves the new certificate.
	crt3, key3 := ca.issue(t, 1003, host)
	setSecret(crt3, key3)
	waitServed("the repaired Secret's certificate served", "1003")
}
