// Command basic-auth is Weir's built-in basic-auth plugin: Kong's
// basic-auth (priority 1100, access phase). It reads Proxy-Authorization,
// then Authorization, looks the username up (weir.consumer_lookup) and
// checks the password against the salted SHA-256 the host stores, in
// constant time.
//
// Build: go tool task builtins:build (see plugins-src/README.md).
package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/plugins-src/internal/kongext"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

// config is Kong's basic-auth schema, defaults included.
type config struct {
	Anonymous       *string `json:"anonymous"`
	HideCredentials bool    `json:"hide_credentials"`
	Realm           string  `json:"realm"`
}

type plugin struct {
	proxywasm.DefaultPluginContext
	cfg config
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	p.cfg = config{Realm: "service"}
	if err := proxywasm.DecodeConfig(&p.cfg); err != nil {
		proxywasm.LogErrorf("config: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{cfg: &p.cfg} }

type stream struct {
	proxywasm.DefaultHttpContext
	cfg *config
}

// credentials parses "Basic base64(user:pass)" from a header, as Kong's
// retrieve_credentials does, and hides the header if configured.
func (s *stream) credentials(name string) (user, pass string, ok bool) {
	v, err := proxywasm.GetHttpRequestHeader(name)
	if err != nil || v == "" {
		return "", "", false
	}
	if s.cfg.HideCredentials {
		_ = proxywasm.RemoveHttpRequestHeader(name)
	}
	v = strings.TrimLeft(v, " \t")
	if len(v) < 5 || !strings.EqualFold(v[:5], "basic") {
		return "", "", false
	}
	enc := strings.TrimSpace(v[5:])
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	u, p, found := strings.Cut(string(dec), ":")
	if !found || u == "" {
		return "", "", false
	}
	return u, p, true
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	if s.cfg.Anonymous != nil && kongext.Authenticated() {
		return proxywasm.ActionContinue
	}
	status := s.authenticate()
	if status == 0 {
		return proxywasm.ActionContinue
	}
	if s.cfg.Anonymous != nil && *s.cfg.Anonymous != "" && status == 401 {
		if err := kongext.SetAnonymous(*s.cfg.Anonymous); err != nil {
			proxywasm.LogErrorf("anonymous consumer %q: %v", *s.cfg.Anonymous, err)
			kongext.Error(500, "An unexpected error occurred")
			return proxywasm.ActionPause
		}
		return proxywasm.ActionContinue
	}
	if status == 500 {
		kongext.Error(500, "An unexpected error occurred")
	} else {
		kongext.Error(401, "Unauthorized", [2]string{"www-authenticate", `Basic realm="` + s.cfg.Realm + `"`})
	}
	return proxywasm.ActionPause
}

// authenticate returns 0 on success, else the status to answer.
func (s *stream) authenticate() int {
	_, e1 := proxywasm.GetHttpRequestHeader("proxy-authorization")
	_, e2 := proxywasm.GetHttpRequestHeader("authorization")
	if e1 != nil && e2 != nil {
		return 401
	}
	var info abi.ConsumerInfo
	var pass string
	found := false
	for _, h := range []string{"proxy-authorization", "authorization"} {
		u, p, ok := s.credentials(h)
		if !ok {
			continue
		}
		ci, err := kongext.LookupCredential(abi.CredentialBasicAuth, u)
		if errors.Is(err, kongext.ErrNoConsumer) {
			continue
		}
		if err != nil {
			proxywasm.LogErrorf("consumer lookup: %v", err)
			return 500
		}
		info, pass, found = ci, p, true
		break
	}
	if !found || !verify(kongext.CredentialField(info, "password"), pass) {
		return 401
	}
	if err := kongext.SetConsumer(info.ID, info.CredentialID); err != nil {
		proxywasm.LogErrorf("set consumer: %v", err)
		return 500
	}
	return 0
}

// verify checks pass against "sha256$<salt hex>$<digest hex>" in
// constant time.
func verify(stored, pass string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != "sha256" {
		return false
	}
	salt, err1 := hex.DecodeString(parts[1])
	want, err2 := hex.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		return false
	}
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(pass))
	return subtle.ConstantTimeCompare(h.Sum(nil), want) == 1
}
