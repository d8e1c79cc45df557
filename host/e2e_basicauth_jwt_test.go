package host_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"net/http"
	"strings"
	"testing"
	"time"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestE2EBasicAuth drives the built-in basic-auth plugin: both headers,
// realm, hide_credentials, anonymous, Kong's 401.
func TestE2EBasicAuth(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
consumers:
  - username: alice
    basicauth_credentials: [{username: alice-login, password: "s3cr:et"}]
  - username: guest
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: default
        paths: [/default]
        plugins: [{name: basic-auth}]
      - name: custom
        paths: [/custom]
        plugins: [{name: basic-auth, config: {realm: weir, hide_credentials: true}}]
      - name: anon
        paths: [/anon]
        plugins: [{name: basic-auth, config: {anonymous: guest}}]
`)
	c := newClient(t)
	base := proxyURL(srv)
	cases := []struct {
		name       string
		path       string
		headers    []string
		wantStatus int
		wantWWW    string
		upstream   func(t *testing.T, r recorded)
	}{
		{name: "no header", path: "/default/x", wantStatus: 401, wantWWW: `Basic realm="service"`},
		{name: "wrong password", path: "/default/x", headers: []string{"Authorization", basic("alice-login", "nope")}, wantStatus: 401, wantWWW: `Basic realm="service"`},
		{name: "unknown user", path: "/default/x", headers: []string{"Authorization", basic("mallory", "s3cr:et")}, wantStatus: 401},
		{name: "not basic", path: "/default/x", headers: []string{"Authorization", "Bearer abc"}, wantStatus: 401},
		{name: "garbage base64", path: "/default/x", headers: []string{"Authorization", "Basic !!!"}, wantStatus: 401},
		{name: "authorization ok, password with colon", path: "/default/x", headers: []string{"Authorization", basic("alice-login", "s3cr:et")}, wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Consumer-Username") != "alice" || r.Header.Get("Authorization") == "" || r.Header.Get("X-Credential-Identifier") == "" {
					t.Errorf("upstream headers %v", r.Header)
				}
			}},
		{name: "proxy-authorization ok", path: "/default/x", headers: []string{"Proxy-Authorization", basic("alice-login", "s3cr:et")}, wantStatus: 200},
		{name: "lowercase scheme", path: "/default/x", headers: []string{"Authorization", "basic " + base64.StdEncoding.EncodeToString([]byte("alice-login:s3cr:et"))}, wantStatus: 200},
		{name: "realm", path: "/custom/x", wantStatus: 401, wantWWW: `Basic realm="weir"`},
		{name: "hide_credentials", path: "/custom/x", headers: []string{"Authorization", basic("alice-login", "s3cr:et")}, wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("Authorization") != "" {
					t.Errorf("credentials forwarded")
				}
			}},
		{name: "anonymous", path: "/anon/x", wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Consumer-Username") != "guest" || r.Header.Get("X-Anonymous-Consumer") != "true" {
					t.Errorf("upstream headers %v", r.Header)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, c, http.MethodGet, base+tc.path, "", tc.headers...)
			msg := ""
			if tc.wantStatus == 401 {
				msg = "Unauthorized"
			}
			expectKong(t, tc.name, r, tc.wantStatus, msg)
			if tc.wantWWW != "" && r.Header.Get("WWW-Authenticate") != tc.wantWWW {
				t.Errorf("WWW-Authenticate %q, want %q", r.Header.Get("WWW-Authenticate"), tc.wantWWW)
			}
			if tc.upstream != nil {
				tc.upstream(t, be.Last(t))
			}
		})
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signJWT builds a compact JWS with alg over claims; key is a []byte
// secret (HS*), *rsa.PrivateKey or *ecdsa.PrivateKey.
func signJWT(t testing.TB, alg string, key any, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(map[string]any{"alg": alg, "typ": "JWT"})
	cb, _ := json.Marshal(claims)
	signed := b64url(hb) + "." + b64url(cb)
	var h crypto.Hash
	var nh func() hash.Hash
	switch alg[2:] {
	case "256":
		h, nh = crypto.SHA256, sha256.New
	case "384":
		h, nh = crypto.SHA384, sha512.New384
	case "512":
		h, nh = crypto.SHA512, sha512.New
	}
	var sig []byte
	switch k := key.(type) {
	case []byte:
		m := hmac.New(nh, k)
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		d := nh()
		d.Write([]byte(signed))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, d.Sum(nil)); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		d := nh()
		d.Write([]byte(signed))
		r, s, err := ecdsa.Sign(rand.Reader, k, d.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
	}
	return signed + "." + b64url(sig)
}

func pubPEM(t testing.TB, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func indentPEM(p string) string {
	return "|\n" + "          " + strings.ReplaceAll(strings.TrimSpace(p), "\n", "\n          ")
}

// TestE2EJWT drives the built-in jwt plugin: every supported algorithm,
// token locations, Kong's messages, claims and config fields.
func TestE2EJWT(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	b64secret := base64.StdEncoding.EncodeToString([]byte("raw-bytes-secret"))
	be := newBackend(t, "b1", nil)
	cfg := `
_format_version: "3.0"
consumers:
  - username: alice
    jwt_secrets:
      - {key: hs256, secret: s256}
      - {key: hs384, secret: s384, algorithm: HS384}
      - {key: hs512, secret: s512, algorithm: HS512}
      - {key: b64, secret: "` + b64secret + `"}
  - username: bob
    jwt_secrets:
`
	for _, k := range []struct {
		key, alg, pem string
	}{
		{"rs256", "RS256", pubPEM(t, &rsaKey.PublicKey)},
		{"rs384", "RS384", pubPEM(t, &rsaKey.PublicKey)},
		{"rs512", "RS512", pubPEM(t, &rsaKey.PublicKey)},
		{"es256", "ES256", pubPEM(t, &ec256.PublicKey)},
		{"es384", "ES384", pubPEM(t, &ec384.PublicKey)},
	} {
		cfg += "      - key: " + k.key + "\n        algorithm: " + k.alg + "\n        rsa_public_key: " + indentPEM(k.pem) + "\n"
	}
	cfg += `  - username: guest
services:
  - name: api
    url: http://` + be.Addr() + `
    routes:
      - name: default
        paths: [/default]
        plugins: [{name: jwt}]
      - name: claims
        paths: [/claims]
        plugins: [{name: jwt, config: {claims_to_verify: [exp, nbf], maximum_expiration: 3600, realm: weir}}]
      - name: custom
        paths: [/custom]
        plugins:
          - name: jwt
            config: {uri_param_names: [token], cookie_names: [session], header_names: [x-jwt], key_claim_name: kid, run_on_preflight: false}
      - name: base64
        paths: [/base64]
        plugins: [{name: jwt, config: {secret_is_base64: true}}]
      - name: anon
        paths: [/anon]
        plugins: [{name: jwt, config: {anonymous: guest}}]
`
	srv := startWeir(t, cfg)
	c := newClient(t)
	base := proxyURL(srv)
	now := time.Now().Unix()
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	hs := func(claims map[string]any) string { return signJWT(t, "HS256", []byte("s256"), claims) }

	type tcase struct {
		name       string
		path       string
		headers    []string
		wantStatus int
		wantBody   map[string]string
		wantWWW    string
		wantUser   string
	}
	cases := []tcase{
		{name: "no token", path: "/default/x", wantStatus: 401, wantBody: map[string]string{"message": "Unauthorized"}, wantWWW: "Bearer"},
		{name: "garbage", path: "/default/x", headers: bearer("abc"), wantStatus: 401, wantBody: map[string]string{"message": "Bad token; invalid JWT"}, wantWWW: `Bearer error="invalid_token"`},
		{name: "multiple tokens", path: "/default/x?jwt=" + hs(map[string]any{"iss": "hs256", "a": 1}), headers: bearer(hs(map[string]any{"iss": "hs256"})),
			wantStatus: 401, wantBody: map[string]string{"message": "Multiple tokens provided"}},
		{name: "no iss", path: "/default/x", headers: bearer(hs(map[string]any{"sub": "x"})), wantStatus: 401, wantBody: map[string]string{"message": "No mandatory 'iss' in claims"}},
		{name: "empty iss", path: "/default/x", headers: bearer(hs(map[string]any{"iss": ""})), wantStatus: 401, wantBody: map[string]string{"message": "Invalid 'iss' in claims"}},
		{name: "unknown iss", path: "/default/x", headers: bearer(hs(map[string]any{"iss": "nobody"})), wantStatus: 401, wantBody: map[string]string{"message": "No credentials found for given 'iss'"}},
		{name: "wrong algorithm", path: "/default/x", headers: bearer(signJWT(t, "HS384", []byte("s256"), map[string]any{"iss": "hs256"})), wantStatus: 401, wantBody: map[string]string{"message": "Invalid algorithm"}},
		{name: "bad signature", path: "/default/x", headers: bearer(signJWT(t, "HS256", []byte("wrong"), map[string]any{"iss": "hs256"})), wantStatus: 401, wantBody: map[string]string{"message": "Invalid signature"}},
		{name: "HS256", path: "/default/x", headers: bearer(hs(map[string]any{"iss": "hs256"})), wantStatus: 200, wantUser: "alice"},
		{name: "HS384", path: "/default/x", headers: bearer(signJWT(t, "HS384", []byte("s384"), map[string]any{"iss": "hs384"})), wantStatus: 200, wantUser: "alice"},
		{name: "HS512", path: "/default/x", headers: bearer(signJWT(t, "HS512", []byte("s512"), map[string]any{"iss": "hs512"})), wantStatus: 200, wantUser: "alice"},
		{name: "RS256", path: "/default/x", headers: bearer(signJWT(t, "RS256", rsaKey, map[string]any{"iss": "rs256"})), wantStatus: 200, wantUser: "bob"},
		{name: "RS384", path: "/default/x", headers: bearer(signJWT(t, "RS384", rsaKey, map[string]any{"iss": "rs384"})), wantStatus: 200, wantUser: "bob"},
		{name: "RS512", path: "/default/x", headers: bearer(signJWT(t, "RS512", rsaKey, map[string]any{"iss": "rs512"})), wantStatus: 200, wantUser: "bob"},
		{name: "ES256", path: "/default/x", headers: bearer(signJWT(t, "ES256", ec256, map[string]any{"iss": "es256"})), wantStatus: 200, wantUser: "bob"},
		{name: "ES384", path: "/default/x", headers: bearer(signJWT(t, "ES384", ec384, map[string]any{"iss": "es384"})), wantStatus: 200, wantUser: "bob"},
		{name: "ES256 forged", path: "/default/x", headers: bearer(signJWT(t, "ES256", ec384, map[string]any{"iss": "es256"})), wantStatus: 401, wantBody: map[string]string{"message": "Invalid signature"}},
		{name: "RS256 with another key", path: "/default/x", headers: bearer(signJWT(t, "RS256", mustRSA(t), map[string]any{"iss": "rs256"})), wantStatus: 401, wantBody: map[string]string{"message": "Invalid signature"}},
		{name: "query param", path: "/default/x?jwt=" + hs(map[string]any{"iss": "hs256"}), wantStatus: 200, wantUser: "alice"},
		{name: "expired", path: "/claims/x", headers: bearer(hs(map[string]any{"iss": "hs256", "exp": now - 10, "nbf": now - 20})), wantStatus: 401,
			wantBody: map[string]string{"exp": "token expired"}, wantWWW: `Bearer realm="weir", error="invalid_token"`},
		{name: "not yet valid", path: "/claims/x", headers: bearer(hs(map[string]any{"iss": "hs256", "exp": now + 60, "nbf": now + 600})), wantStatus: 401,
			wantBody: map[string]string{"nbf": "token not valid yet"}},
		{name: "exp missing", path: "/claims/x", headers: bearer(hs(map[string]any{"iss": "hs256", "nbf": now - 1})), wantStatus: 401,
			wantBody: map[string]string{"exp": "must be a number"}},
		{name: "too far exp", path: "/claims/x", headers: bearer(hs(map[string]any{"iss": "hs256", "exp": now + 7200, "nbf": now - 1})), wantStatus: 401,
			wantBody: map[string]string{"exp": "exceeds maximum allowed expiration"}},
		{name: "valid claims", path: "/claims/x", headers: bearer(hs(map[string]any{"iss": "hs256", "exp": now + 60, "nbf": now - 1})), wantStatus: 200, wantUser: "alice"},
		{name: "custom header and key claim", path: "/custom/x", headers: []string{"X-Jwt", "Bearer " + hs(map[string]any{"kid": "hs256"})}, wantStatus: 200, wantUser: "alice"},
		{name: "custom cookie", path: "/custom/x", headers: []string{"Cookie", "a=b; session=" + hs(map[string]any{"kid": "hs256"})}, wantStatus: 200, wantUser: "alice"},
		{name: "custom query", path: "/custom/x?token=" + hs(map[string]any{"kid": "hs256"}), wantStatus: 200, wantUser: "alice"},
		{name: "custom ignores authorization", path: "/custom/x", headers: bearer(hs(map[string]any{"kid": "hs256"})), wantStatus: 401, wantBody: map[string]string{"message": "Unauthorized"}},
		{name: "secret_is_base64", path: "/base64/x", headers: bearer(signJWT(t, "HS256", []byte("raw-bytes-secret"), map[string]any{"iss": "b64"})), wantStatus: 200, wantUser: "alice"},
		{name: "anonymous", path: "/anon/x", wantStatus: 200, wantUser: "guest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, c, http.MethodGet, base+tc.path, "", tc.headers...)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantBody != nil {
				var got map[string]string
				if err := json.Unmarshal(r.Body, &got); err != nil {
					t.Fatalf("body %s: %v", r.Body, err)
				}
				if len(got) != len(tc.wantBody) {
					t.Errorf("body %v, want %v", got, tc.wantBody)
				}
				for k, v := range tc.wantBody {
					if got[k] != v {
						t.Errorf("body[%s] = %q, want %q", k, got[k], v)
					}
				}
			}
			if tc.wantWWW != "" && r.Header.Get("WWW-Authenticate") != tc.wantWWW {
				t.Errorf("WWW-Authenticate %q, want %q", r.Header.Get("WWW-Authenticate"), tc.wantWWW)
			}
			if tc.wantUser != "" {
				if got := be.Last(t).Header.Get("X-Consumer-Username"); got != tc.wantUser {
					t.Errorf("consumer %q, want %q", got, tc.wantUser)
				}
			}
		})
	}
	t.Run("preflight skipped when run_on_preflight is false", func(t *testing.T) {
		if r := send(t, c, http.MethodOptions, base+"/custom/x", ""); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		if r := send(t, c, http.MethodOptions, base+"/default/x", ""); r.Status != 401 {
			t.Fatalf("default run_on_preflight: status %d", r.Status)
		}
	})
}

func mustRSA(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
