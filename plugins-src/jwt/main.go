// Command jwt is Weir's built-in jwt plugin: Kong's jwt (priority 1450,
// access phase). It finds one token (query parameters, cookies, Bearer
// headers), finds the jwt credential by the key claim (weir.consumer_lookup),
// verifies the algorithm and signature (HS256/384/512, RS256/384/512,
// PS256/384/512, ES256/384/512, EdDSA) and the registered claims, and
// authenticates the stream as the credential's consumer.
//
// Build: go tool task builtins:build (see plugins-src/README.md).
package main

import (
	"errors"
	"net/url"
	"strings"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/plugins-src/internal/kongext"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

// config is Kong's jwt schema, defaults included.
type config struct {
	URIParamNames     []string `json:"uri_param_names"`
	CookieNames       []string `json:"cookie_names"`
	HeaderNames       []string `json:"header_names"`
	KeyClaimName      string   `json:"key_claim_name"`
	SecretIsBase64    bool     `json:"secret_is_base64"`
	ClaimsToVerify    []string `json:"claims_to_verify"`
	Anonymous         *string  `json:"anonymous"`
	RunOnPreflight    bool     `json:"run_on_preflight"`
	MaximumExpiration float64  `json:"maximum_expiration"`
	Realm             *string  `json:"realm"`
}

type plugin struct {
	proxywasm.DefaultPluginContext
	cfg config
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	p.cfg = config{URIParamNames: []string{"jwt"}, HeaderNames: []string{"authorization"}, KeyClaimName: "iss", RunOnPreflight: true}
	if err := proxywasm.DecodeConfig(&p.cfg); err != nil {
		proxywasm.LogErrorf("config: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	if p.cfg.MaximumExpiration > 0 && !contains(p.cfg.ClaimsToVerify, "exp") {
		proxywasm.LogError("config.claims_to_verify: must contain 'exp' when config.maximum_expiration is set")
		return proxywasm.OnPluginStartStatusFailed
	}
	return proxywasm.OnPluginStartStatusOK
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{cfg: &p.cfg} }

type stream struct {
	proxywasm.DefaultHttpContext
	cfg *config
}

// failure is a 401 with Kong's message (or claim errors object).
type failure struct {
	msg       string
	claims    map[string]string
	withError bool // WWW-Authenticate carries error="invalid_token"
	status    int
}

func (s *stream) wwwAuthenticate(withError bool) string {
	v := "Bearer"
	if s.cfg.Realm != nil {
		v += ` realm="` + *s.cfg.Realm + `"`
		if withError {
			v += ","
		}
	}
	if withError {
		v += ` error="invalid_token"`
	}
	return v
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	if !s.cfg.RunOnPreflight && method == "OPTIONS" {
		return proxywasm.ActionContinue
	}
	if s.cfg.Anonymous != nil && kongext.Authenticated() {
		return proxywasm.ActionContinue
	}
	f := s.authenticate()
	if f == nil {
		return proxywasm.ActionContinue
	}
	if s.cfg.Anonymous != nil && *s.cfg.Anonymous != "" && f.status != 500 {
		if err := kongext.SetAnonymous(*s.cfg.Anonymous); err != nil {
			proxywasm.LogErrorf("anonymous consumer %q: %v", *s.cfg.Anonymous, err)
			kongext.Error(500, "An unexpected error occurred")
			return proxywasm.ActionPause
		}
		return proxywasm.ActionContinue
	}
	if f.status == 500 {
		kongext.Error(500, "An unexpected error occurred")
		return proxywasm.ActionPause
	}
	hdr := [2]string{"www-authenticate", s.wwwAuthenticate(f.withError)}
	if f.claims != nil {
		kongext.Exit(401, f.claims, hdr)
	} else {
		kongext.Exit(401, map[string]string{"message": f.msg}, hdr)
	}
	return proxywasm.ActionPause
}

// tokens collects the distinct tokens from the configured places.
func (s *stream) tokens() []string {
	set := map[string]bool{}
	var order []string
	add := func(t string) {
		if t != "" && !set[t] {
			set[t] = true
			order = append(order, t)
		}
	}
	if len(s.cfg.URIParamNames) > 0 {
		path, _ := proxywasm.GetHttpRequestHeader(":path")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			q, _ := url.ParseQuery(path[i+1:])
			for _, n := range s.cfg.URIParamNames {
				for _, v := range q[n] {
					add(v)
				}
			}
		}
	}
	headers, _ := proxywasm.GetHttpRequestHeaders()
	if len(s.cfg.CookieNames) > 0 {
		for _, c := range kongext.Header(headers, "cookie") {
			for _, part := range strings.Split(c, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
				if ok && contains(s.cfg.CookieNames, name) {
					add(val)
				}
			}
		}
	}
	for _, n := range s.cfg.HeaderNames {
		vs := kongext.Header(headers, n)
		if len(vs) == 0 {
			continue
		}
		v := strings.TrimLeft(vs[0], " \t")
		if len(v) > 6 && strings.EqualFold(v[:6], "bearer") && (v[6] == ' ' || v[6] == '\t') {
			add(strings.TrimSpace(v[7:]))
		}
	}
	return order
}

func (s *stream) authenticate() *failure {
	toks := s.tokens()
	switch len(toks) {
	case 0:
		return &failure{msg: "Unauthorized", status: 401}
	case 1:
	default:
		return &failure{msg: "Multiple tokens provided", withError: true, status: 401}
	}
	tok, err := parse(toks[0])
	if err != nil {
		return &failure{msg: "Bad token; " + err.Error(), withError: true, status: 401}
	}
	kc := s.cfg.KeyClaimName
	keyVal, present := tok.claims[kc]
	if !present {
		keyVal, present = tok.header[kc]
	}
	key, isStr := keyVal.(string)
	if !present || keyVal == nil {
		return &failure{msg: "No mandatory '" + kc + "' in claims", withError: true, status: 401}
	}
	if !isStr || key == "" {
		return &failure{msg: "Invalid '" + kc + "' in claims", withError: true, status: 401}
	}
	info, err := kongext.LookupCredential(abi.CredentialJWT, key)
	if errors.Is(err, kongext.ErrNoConsumer) {
		return &failure{msg: "No credentials found for given '" + kc + "'", withError: true, status: 401}
	}
	if err != nil {
		proxywasm.LogErrorf("consumer lookup: %v", err)
		return &failure{status: 500}
	}
	alg := kongext.CredentialField(info, "algorithm")
	if alg == "" {
		alg = "HS256"
	}
	if tok.alg != alg {
		return &failure{msg: "Invalid algorithm", withError: true, status: 401}
	}
	var secret []byte
	if strings.HasPrefix(alg, "HS") {
		sv := kongext.CredentialField(info, "secret")
		if s.cfg.SecretIsBase64 {
			b, err := b64(sv)
			if err != nil {
				return &failure{msg: "Invalid key/secret", withError: true, status: 401}
			}
			secret = b
		} else {
			secret = []byte(sv)
		}
	} else {
		secret = []byte(kongext.CredentialField(info, "rsa_public_key"))
	}
	if len(secret) == 0 {
		return &failure{msg: "Invalid key/secret", withError: true, status: 401}
	}
	ok, err := tok.verify(alg, secret)
	if err != nil {
		return &failure{msg: "Invalid key/secret", withError: true, status: 401}
	}
	if !ok {
		return &failure{msg: "Invalid signature", withError: true, status: 401}
	}
	nowNs, _ := proxywasm.GetCurrentTimeNanoseconds()
	now := float64(nowNs) / 1e9
	if errs := tok.verifyClaims(s.cfg.ClaimsToVerify, now); len(errs) > 0 {
		return &failure{claims: errs, withError: true, status: 401}
	}
	if s.cfg.MaximumExpiration > 0 {
		if errs := tok.checkMaxExpiration(s.cfg.MaximumExpiration, now); len(errs) > 0 {
			return &failure{claims: errs, withError: true, status: 401}
		}
	}
	if err := kongext.SetConsumer(info.ID, info.CredentialID); err != nil {
		proxywasm.LogErrorf("set consumer: %v", err)
		return &failure{status: 500}
	}
	return nil
}
