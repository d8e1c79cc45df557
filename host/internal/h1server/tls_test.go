package h1server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tls.test"}, DNSNames: []string{"tls.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startTLSServer serves s behind tls.NewListener, as the HTTPS listener
// does.
func startTLSServer(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{testCert(t)}, NextProtos: []string{"h2", "http/1.1", "acme-tls/1"}}
	if s.Logger == nil {
		s.Logger, _ = quietLogger()
	}
	done := make(chan struct{})
	go func() {
		s.Serve(tls.NewListener(ln, cfg))
		close(done)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestTLSConnections(t *testing.T) {
	var seenTLS, seenH2 atomic.Pointer[tls.ConnectionState]
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			seenH2.Store(r.TLS)
		} else {
			seenTLS.Store(r.TLS)
		}
		io.WriteString(w, r.Proto)
	})
	s := &Server{Handler: h, H2: &http.Server{Handler: h}}
	addr := startTLSServer(t, s)
	tests := []struct {
		name      string
		protos    []string
		wantProto string // "" : the connection closes after the handshake
	}{
		{name: "http/1.1 is served here, with r.TLS", protos: []string{"http/1.1"}, wantProto: "HTTP/1.1"},
		{name: "no ALPN is HTTP/1.1", protos: nil, wantProto: "HTTP/1.1"},
		{name: "h2 goes to the HTTP/2 server, with r.TLS", protos: []string{"h2"}, wantProto: "HTTP/2.0"},
		{name: "acme-tls/1 ends with the handshake", protos: []string{"acme-tls/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "tls.test", NextProtos: tc.protos}
			if tc.wantProto == "" {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				if _, err := c.Read(make([]byte, 1)); err == nil {
					t.Fatalf("the connection stayed open after an acme-tls/1 handshake")
				}
				return
			}
			tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: tc.wantProto == "HTTP/2.0"}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: ioTimeout}
			resp, err := c.Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != tc.wantProto {
				t.Fatalf("served as %q, want %q", body, tc.wantProto)
			}
			st := seenTLS.Load()
			if tc.wantProto == "HTTP/2.0" {
				st = seenH2.Load()
			}
			if st == nil || st.ServerName != "tls.test" || !st.HandshakeComplete {
				t.Fatalf("handler saw r.TLS = %+v, want the connection state", st)
			}
		})
	}
}

func TestTLSPriorKnowledgeH2IsRefused(t *testing.T) {
	// Over TLS HTTP/2 is chosen with ALPN; a preface without it closes.
	s := &Server{Handler: http.NotFoundHandler(), H2C: &http.Server{Handler: http.NotFoundHandler()}}
	addr := startTLSServer(t, s)
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("got %d bytes; want the connection closed", n)
	}
}
