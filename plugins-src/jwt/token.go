package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"hash"
	"math/big"
	"strings"
)

// token is a decoded (not yet verified) JWS compact token.
type token struct {
	header  map[string]any
	claims  map[string]any
	alg     string
	signed  string // header.payload
	sig     []byte
	rawText string
}

func b64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parse decodes a token as Kong's jwt_parser does; errors are the text
// after "Bad token; ".
func parse(s string) (*token, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("invalid JWT")
	}
	t := &token{signed: parts[0] + "." + parts[1], rawText: s}
	hb, err := b64(parts[0])
	if err != nil {
		return nil, errors.New("invalid header")
	}
	if json.Unmarshal(hb, &t.header) != nil || t.header == nil {
		return nil, errors.New("invalid header JSON")
	}
	cb, err := b64(parts[1])
	if err != nil {
		return nil, errors.New("invalid claims")
	}
	if json.Unmarshal(cb, &t.claims) != nil || t.claims == nil {
		return nil, errors.New("invalid claims JSON")
	}
	if t.sig, err = b64(parts[2]); err != nil {
		return nil, errors.New("invalid signature encoding")
	}
	alg, _ := t.header["alg"].(string)
	if alg == "" {
		return nil, errors.New("invalid alg")
	}
	t.alg = alg
	return t, nil
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash) {
	switch alg[len(alg)-3:] {
	case "384":
		return crypto.SHA384, sha512.New384
	case "512":
		return crypto.SHA512, sha512.New
	}
	return crypto.SHA256, sha256.New
}

func publicKey(pemText []byte) (any, error) {
	blk, _ := pem.Decode(pemText)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	switch blk.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}

// verify checks the signature; an error means the key is unusable.
func (t *token) verify(alg string, key []byte) (bool, error) {
	if alg == "EdDSA" {
		pk, err := publicKey(key)
		if err != nil {
			return false, err
		}
		ek, ok := pk.(ed25519.PublicKey)
		if !ok {
			return false, errors.New("not an Ed25519 key")
		}
		return ed25519.Verify(ek, []byte(t.signed), t.sig), nil
	}
	ch, newHash := hashFor(alg)
	if strings.HasPrefix(alg, "HS") {
		m := hmac.New(newHash, key)
		m.Write([]byte(t.signed))
		return hmac.Equal(m.Sum(nil), t.sig), nil
	}
	h := newHash()
	h.Write([]byte(t.signed))
	digest := h.Sum(nil)
	pk, err := publicKey(key)
	if err != nil {
		return false, err
	}
	switch alg[:2] {
	case "RS", "PS":
		rk, ok := pk.(*rsa.PublicKey)
		if !ok {
			return false, errors.New("not an RSA key")
		}
		if alg[:2] == "RS" {
			return rsa.VerifyPKCS1v15(rk, ch, digest, t.sig) == nil, nil
		}
		return rsa.VerifyPSS(rk, ch, digest, t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil, nil
	case "ES":
		ek, ok := pk.(*ecdsa.PublicKey)
		if !ok {
			return false, errors.New("not an ECDSA key")
		}
		n := (ek.Curve.Params().BitSize + 7) / 8
		if len(t.sig) != 2*n {
			return false, nil
		}
		r := new(big.Int).SetBytes(t.sig[:n])
		s := new(big.Int).SetBytes(t.sig[n:])
		return ecdsa.Verify(ek, digest, r, s), nil
	}
	return false, errors.New("unsupported algorithm")
}

// verifyClaims is Kong's verify_registered_claims for exp and nbf.
func (t *token) verifyClaims(names []string, now float64) map[string]string {
	errs := map[string]string{}
	for _, n := range names {
		v, ok := t.claims[n].(float64)
		if !ok {
			errs[n] = "must be a number"
			continue
		}
		switch n {
		case "exp":
			if v <= now {
				errs[n] = "token expired"
			}
		case "nbf":
			if v > now {
				errs[n] = "token not valid yet"
			}
		}
	}
	return errs
}

// checkMaxExpiration is Kong's check_maximum_expiration.
func (t *token) checkMaxExpiration(max, now float64) map[string]string {
	v, ok := t.claims["exp"].(float64)
	if !ok {
		return map[string]string{"exp": "must be a number"}
	}
	if v > now+max {
		return map[string]string{"exp": "exceeds maximum allowed expiration"}
	}
	return nil
}
