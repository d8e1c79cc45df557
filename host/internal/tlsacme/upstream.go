package tlsacme

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/weirproxy/weir/host/config"
)

// UpstreamTLS completes the client TLS config of an https or grpcs
// service (Kong's semantics):
//   - ca_certificates (ids of top-level ca_certificates) replace the
//     system roots for verification;
//   - client_certificate (the id of a top-level certificate, as
//     `{id: ...}` or a bare string) is presented for mutual TLS; a
//     service without one inherits its upstream's;
//   - tls_verify (default on in Weir) is applied by the caller.
//
// It returns a string identifying the client certificate and CA bundle,
// which the connection pools use in their key so that services with
// different identities never share a connection. Errors name the field.
func UpstreamTLS(tc *tls.Config, svc *config.Service, up *config.Upstream, cfg *config.Config) (ident string, err error) {
	var id strings.Builder
	ref := svc.ClientCertificate
	field := "client_certificate"
	if len(ref) == 0 || string(ref) == "null" {
		if up != nil {
			ref, field = up.ClientCertificate, fmt.Sprintf("client_certificate (inherited from upstream %q)", up.Name)
		}
	}
	if len(ref) > 0 && string(ref) != "null" {
		cid, err := refID(ref)
		if err != nil {
			return "", fmt.Errorf("%s: %v", field, err)
		}
		cc := findCert(cfg, cid)
		if cc == nil {
			return "", fmt.Errorf("%s: no certificate with id %q", field, cid)
		}
		pair, err := parsePair(cc.Cert, cc.Key, "cert", "key")
		if err != nil {
			return "", fmt.Errorf("%s: certificate %q: %v", field, cid, err)
		}
		tc.Certificates = []tls.Certificate{*pair}
		id.WriteString("client=")
		id.WriteString(digest(pair.Certificate[0]))
	}
	if len(svc.CACertificates) > 0 {
		pool := x509.NewCertPool()
		for i, caID := range svc.CACertificates {
			pemText, err := findCA(cfg, caID)
			if err != nil {
				return "", fmt.Errorf("ca_certificates[%d]: %v", i, err)
			}
			if !pool.AppendCertsFromPEM([]byte(pemText)) {
				return "", fmt.Errorf("ca_certificates[%d]: ca_certificate %q holds no PEM certificate", i, caID)
			}
			id.WriteString(";ca=")
			id.WriteString(digest([]byte(pemText)))
		}
		tc.RootCAs = pool
	}
	return id.String(), nil
}

func refID(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, nil
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.ID == "" {
		return "", fmt.Errorf("want {id: <certificate id>}")
	}
	return o.ID, nil
}

func findCert(cfg *config.Config, id string) *config.Certificate {
	for i := range cfg.Certificates {
		if cfg.Certificates[i].ID == id {
			return &cfg.Certificates[i]
		}
	}
	return nil
}

func findCA(cfg *config.Config, id string) (string, error) {
	for i, raw := range cfg.CACertificates {
		var ca struct {
			ID   string `json:"id"`
			Cert string `json:"cert"`
		}
		if err := json.Unmarshal(raw, &ca); err != nil {
			return "", fmt.Errorf("ca_certificates entity %d: %v", i, err)
		}
		if ca.ID == id {
			if ca.Cert == "" {
				return "", fmt.Errorf("ca_certificate %q has no cert", id)
			}
			return ca.Cert, nil
		}
	}
	return "", fmt.Errorf("no ca_certificate with id %q", id)
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
