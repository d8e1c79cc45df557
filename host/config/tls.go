package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
)

// ACME configures automatic certificates from an ACME CA (RFC 8555),
// obtained and renewed by Weir itself (certmagic). Names come from
// [ACME.Hosts], from the hosts of routes with `acme: true`, and, at the
// first TLS handshake that asks for them, from [OnDemand] when the name
// is on its allow list.
type ACME struct {
	// Email is the ACME account contact (expiry notices). Optional.
	Email string `json:"email,omitempty"`
	// Directory is the CA's ACME directory URL. Default: Let's Encrypt
	// production.
	Directory string `json:"directory,omitempty"`
	// CARoot is PEM: the roots trusted for the directory's HTTPS, for
	// private CAs. Default: the system roots.
	CARoot string `json:"ca_root,omitempty"`
	// EAB is the external account binding some CAs require (ZeroSSL,
	// Google, most private CAs).
	EAB *EAB `json:"eab,omitempty"`
	// Challenges enabled: "http-01" (answered on the proxy listener) and
	// "tls-alpn-01" (answered on the HTTPS listener). Default both.
	Challenges []string `json:"challenges,omitempty"`
	// Hosts are names to manage besides the hosts of acme routes.
	Hosts []string `json:"hosts,omitempty"`
	// OnDemand, when set, lets a TLS handshake for a name without a
	// certificate obtain one, if the name is on the allow list.
	OnDemand *OnDemand `json:"on_demand,omitempty"`
	// Storage is where certificates, keys and locks live. Default: a
	// directory (certmagic's data directory).
	Storage *ACMEStorage `json:"storage,omitempty"`
	// RenewalWindowRatio is the fraction of a certificate's lifetime
	// before its expiry when renewal starts. Default 1/3 (certmagic's).
	RenewalWindowRatio float64 `json:"renewal_window_ratio,omitempty"`
}

// EAB is an ACME external account binding (RFC 8555 §7.3.4).
type EAB struct {
	KeyID string `json:"key_id"`
	// MACKey is base64url, as CAs hand it out.
	MACKey string `json:"mac_key"`
}

// OnDemand guards on-demand issuance: only names matching Allow (exact
// names, or "*.example.com" for one label under example.com) are ever
// asked for, so an arbitrary SNI never triggers an order.
type OnDemand struct {
	Allow []string `json:"allow"`
}

// ACMEStorage selects the certificate storage.
type ACMEStorage struct {
	// Type is "file" (default) or "kubernetes" (Secrets and a Lease lock,
	// shared by replicas).
	Type string `json:"type,omitempty"`
	// Path is the directory for type file.
	Path string `json:"path,omitempty"`
	// Namespace holds the Secrets and Leases for type kubernetes.
	// Default: the pod's namespace (or the kubeconfig context's).
	Namespace string `json:"namespace,omitempty"`
	// Kubeconfig is a kubeconfig file for type kubernetes, for Weir
	// running outside the cluster. Default: the client config Weir was
	// given (`weir ingress --kubeconfig`), else the in-cluster one.
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// ACME challenge types.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

var acmeChallenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}

// tls validates weir.https_listen, weir.acme and the routes' acme flags.
func (v *validator) tls() {
	w := &v.c.Weir
	if w.HTTPSListen != "" && w.HTTPSListen != "off" {
		if err := checkListen(w.HTTPSListen); err != nil {
			v.errs.add("weir.https_listen", err.Error())
		}
	}
	if a := w.ACME; a != nil {
		v.acme(a)
	}
	for i := range v.c.Routes {
		r := v.c.Routes[i]
		if !r.ACME {
			continue
		}
		rep := v.rep("routes", i, routeLabel(r))
		switch {
		case w.ACME == nil:
			rep.add("acme", "needs a weir.acme section (the CA to ask)")
		case len(r.Hosts) == 0:
			rep.add("acme", "the route has no hosts to get certificates for")
		}
		for j, h := range r.Hosts {
			if strings.Contains(h, "*") {
				rep.add(index("hosts", j), fmt.Sprintf("wildcard host %q cannot get an ACME certificate through HTTP-01 or TLS-ALPN-01 (list the names, or use on_demand)", h))
			} else if hp, err := parseHostPort(h); err == nil && hp.kind != hostName {
				rep.add(index("hosts", j), fmt.Sprintf("%q is an IP address; ACME certificates are for names", h))
			}
		}
	}
}

func (v *validator) acme(a *ACME) {
	const p = "weir.acme."
	if a.Email != "" {
		if _, err := mail.ParseAddress(a.Email); err != nil {
			v.errs.add(p+"email", fmt.Sprintf("invalid email %q", a.Email))
		}
	}
	if a.Directory != "" {
		u, err := url.Parse(a.Directory)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			v.errs.add(p+"directory", fmt.Sprintf("invalid directory %q: want an https:// URL", a.Directory))
		}
	}
	if a.CARoot != "" {
		if err := checkPEMCerts(a.CARoot); err != nil {
			v.errs.add(p+"ca_root", err.Error())
		}
	}
	if e := a.EAB; e != nil {
		if e.KeyID == "" {
			v.errs.add(p+"eab.key_id", requiredFieldError)
		}
		if e.MACKey == "" {
			v.errs.add(p+"eab.mac_key", requiredFieldError)
		} else if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e.MACKey, "=")); err != nil {
			v.errs.add(p+"eab.mac_key", "must be base64url")
		}
	}
	for i, c := range a.Challenges {
		if !slices.Contains(acmeChallenges, c) {
			v.errs.add(index(p+"challenges", i), fmt.Sprintf("invalid challenge %q (want %s)", c, oneOf(acmeChallenges)))
		}
	}
	for i, h := range a.Hosts {
		if err := checkSNI(h, false); err != nil {
			v.errs.add(index(p+"hosts", i), fmt.Sprintf("invalid host %q: %v", h, err))
		}
	}
	if od := a.OnDemand; od != nil {
		if len(od.Allow) == 0 {
			v.errs.add(p+"on_demand.allow", "must not be empty: on-demand issuance is only for listed names")
		}
		for i, h := range od.Allow {
			if err := checkSNI(h, true); err != nil || strings.HasSuffix(h, ".*") {
				if err == nil {
					err = fmt.Errorf("a trailing wildcard would allow any TLD")
				}
				v.errs.add(index(p+"on_demand.allow", i), fmt.Sprintf("invalid name %q: %v", h, err))
			}
		}
	}
	if s := a.Storage; s != nil {
		switch s.Type {
		case "", "file":
			if s.Namespace != "" {
				v.errs.add(p+"storage.namespace", "only for type kubernetes")
			}
			if s.Kubeconfig != "" {
				v.errs.add(p+"storage.kubeconfig", "only for type kubernetes")
			}
		case "kubernetes":
			if s.Path != "" {
				v.errs.add(p+"storage.path", "only for type file")
			}
		default:
			v.errs.add(p+"storage.type", fmt.Sprintf("invalid type %q (want \"file\" or \"kubernetes\")", s.Type))
		}
	}
	if r := a.RenewalWindowRatio; r != 0 && (r <= 0 || r >= 1) {
		v.errs.add(p+"renewal_window_ratio", fmt.Sprintf("%g is out of range (0, 1)", r))
	}
}

// checkPEMCerts checks that s holds one or more PEM certificates and
// nothing else.
func checkPEMCerts(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n+1, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("PEM block %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("trailing data after the last PEM certificate")
	}
	return nil
}
