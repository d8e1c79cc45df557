package tlsacme

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/config"
)

// BenchmarkHandshake measures TLS 1.3 handshakes with an ECDSA P-256
// certificate over net.Pipe, client and server in one goroutine pair, so
// ns/op is the CPU of both ends. "go" is crypto/tls with a fixed
// certificate (the ceiling); "weir" picks the certificate through the
// Manager (SNI lookup among 1000 names). Full handshakes, then resumed
// ones (session tickets).
func BenchmarkHandshake(b *testing.B) {
	certPEM, keyPEM := selfSignedPEM(b, "bench", false, "bench.test")
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		b.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)

	m, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	cfgs := []config.Certificate{{Cert: certPEM, Key: keyPEM, SNIs: []config.SNI{{Name: "bench.test"}}}}
	for i := range 999 { // a realistic table around the name asked for
		c, k := certPEM, keyPEM
		cfgs = append(cfgs, config.Certificate{Cert: c, Key: k, SNIs: []config.SNI{{Name: "n" + itoa(i) + ".other.test"}}})
	}
	set, err := BuildCerts(cfgs, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	m.SetCerts(set)

	servers := []struct {
		name string
		cfg  *tls.Config
	}{
		{"go", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}},
		{"weir", m.TLSConfig()},
	}
	for _, s := range servers {
		for _, resumed := range []bool{false, true} {
			name := s.name + "/full"
			if resumed {
				name = s.name + "/resumed"
			}
			b.Run(name, func(b *testing.B) {
				cc := &tls.Config{ServerName: "bench.test", RootCAs: pool, NextProtos: []string{"h2"}}
				if resumed {
					cc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
					handshake(b, s.cfg, cc) // prime the ticket
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if st := handshake(b, s.cfg, cc); st.DidResume != resumed {
						b.Fatalf("DidResume %v, want %v", st.DidResume, resumed)
					}
				}
			})
		}
	}
}

// handshake runs one handshake over a pipe; the server writes a byte so
// that the client reads the TLS 1.3 session ticket sent after it.
func handshake(b *testing.B, sc, cc *tls.Config) tls.ConnectionState {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	errc := make(chan error, 1)
	go func() {
		srv := tls.Server(c2, sc)
		if err := srv.Handshake(); err != nil {
			errc <- err
			return
		}
		_, err := srv.Write([]byte{1})
		errc <- err
	}()
	cl := tls.Client(c1, cc)
	if err := cl.Handshake(); err != nil {
		b.Fatal(err)
	}
	var one [1]byte
	if _, err := cl.Read(one[:]); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return cl.ConnectionState()
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
