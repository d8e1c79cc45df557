package tlsacme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/weirproxy/weir/host/config"
)

// Certs is an immutable set of configured certificates indexed by the
// server names they serve. It is built beside the running one and
// swapped in whole, so a handshake sees either the old set or the new.
type Certs struct {
	exact    map[string][]*tls.Certificate // lower-case name
	wildcard map[string][]*tls.Certificate // "*.example.com" under key "example.com"
	suffix   map[string][]*tls.Certificate // "example.*" under key "example"
	// Warnings are things worth logging that do not reject the config
	// (an expired certificate still serves, as Kong's does).
	Warnings []string
}

// Len reports how many server names the set serves.
func (c *Certs) Len() int {
	if c == nil {
		return 0
	}
	return len(c.exact) + len(c.wildcard) + len(c.suffix)
}

// BuildCerts parses the configured certificates. An error names the
// certificate and the field (`certificates[2] (certificate for
// "a.example").key: ...`); nothing is kept from a set that fails.
//
// A certificate serves its snis; one without snis serves the DNS names
// in its leaf. Where several certificates could serve a name, the first
// declared wins, exact names before wildcards.
func BuildCerts(cfg []config.Certificate, now time.Time) (*Certs, error) {
	c := &Certs{
		exact:    map[string][]*tls.Certificate{},
		wildcard: map[string][]*tls.Certificate{},
		suffix:   map[string][]*tls.Certificate{},
	}
	var errs []error
	for i := range cfg {
		cc := &cfg[i]
		where := fmt.Sprintf("certificates[%d] (%s)", i, certLabel(cc))
		var pairs []*tls.Certificate
		main, err := parsePair(cc.Cert, cc.Key, "cert", "key")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", where, err))
			continue
		}
		pairs = append(pairs, main)
		if cc.CertAlt != "" || cc.KeyAlt != "" {
			alt, err := parsePair(cc.CertAlt, cc.KeyAlt, "cert_alt", "key_alt")
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%w", where, err))
				continue
			}
			pairs = append(pairs, alt)
		}
		for _, p := range pairs {
			if now.After(p.Leaf.NotAfter) {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s: certificate expired at %s", where, p.Leaf.NotAfter.UTC().Format(time.RFC3339)))
			}
		}
		names := make([]string, 0, len(cc.SNIs))
		for _, s := range cc.SNIs {
			names = append(names, s.Name)
		}
		if len(names) == 0 {
			names = main.Leaf.DNSNames
		}
		for _, n := range names {
			c.add(strings.ToLower(n), pairs)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (c *Certs) add(name string, pairs []*tls.Certificate) {
	m, key := c.exact, name
	switch {
	case strings.HasPrefix(name, "*."):
		m, key = c.wildcard, name[2:]
	case strings.HasSuffix(name, ".*"):
		m, key = c.suffix, name[:len(name)-2]
	}
	if _, dup := m[key]; !dup {
		m[key] = pairs
	}
}

// Lookup returns the certificate for a server name: an exact name, then
// a leading wildcard covering one label, then a trailing wildcard
// ("example.*"). Among a certificate and its alternate, the first the
// client supports (ECDSA or RSA) is chosen. It returns nil when none
// matches.
func (c *Certs) Lookup(hello *tls.ClientHelloInfo) *tls.Certificate {
	if c == nil || hello.ServerName == "" {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if p := c.exact[name]; p != nil {
		return pick(hello, p)
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if p := c.wildcard[name[i+1:]]; p != nil {
			return pick(hello, p)
		}
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if p := c.suffix[name[:i]]; p != nil {
			return pick(hello, p)
		}
	}
	return nil
}

func pick(hello *tls.ClientHelloInfo, pairs []*tls.Certificate) *tls.Certificate {
	if len(pairs) > 1 {
		for _, p := range pairs {
			if hello.SupportsCertificate(p) == nil {
				return p
			}
		}
	}
	return pairs[0]
}

// parsePair parses a PEM certificate chain and its key; errors start
// with the field at fault.
func parsePair(certPEM, keyPEM, certField, keyField string) (*tls.Certificate, error) {
	var certs [][]byte
	rest := []byte(certPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %d is %q, want CERTIFICATE", certField, len(certs)+1, b.Type)
		}
		certs = append(certs, b.Bytes)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate found", certField)
	}
	leaf, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %v", certField, err)
	}
	for i, der := range certs[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("%s: chain certificate %d: %v", certField, i+2, err)
		}
	}
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM private key found", keyField)
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("%s: the private key does not match %s", keyField, certField)
		}
		return nil, fmt.Errorf("%s: %v", keyField, err)
	}
	pair.Leaf = leaf
	return &pair, nil
}

func certLabel(c *config.Certificate) string {
	switch {
	case len(c.SNIs) > 0:
		return fmt.Sprintf("certificate for %q", c.SNIs[0].Name)
	case c.ID != "":
		return fmt.Sprintf("certificate %q", c.ID)
	}
	return "certificate"
}

// SelfSigned makes the default certificate served when no configured or
// managed certificate matches the client's server name (Kong serves a
// generated one too, so no real certificate leaks to a scanner that
// guesses no name). ECDSA P-256, valid for a year, CN "localhost".
func SelfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Weir default certificate"}},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
