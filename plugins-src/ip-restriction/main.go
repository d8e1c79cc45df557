// Command ip-restriction is Weir's reference "ip-restriction" plugin:
// Kong's bundled plugin of that name (priority 990) rebuilt as a
// proxy-wasm module with sdk/go. The client IP (the source.address
// property, the peer of the downstream connection) is checked against the
// deny list first, then the allow list; a refused request is answered with
// Kong's error JSON, status config.status (default 403) and message
// config.message (default "IP address not allowed: <ip>").
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/ip-restriction/ip-restriction.wasm ./plugins-src/ip-restriction
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "ip-restriction"

// config is Kong's ip-restriction schema.
type config struct {
	Allow   []string `json:"allow"`
	Deny    []string `json:"deny"`
	Status  *float64 `json:"status"`
	Message *string  `json:"message"`
}

type rules struct {
	allow, deny []netip.Prefix
	status      uint32
	message     *string
}

// parsePrefixes accepts Kong's ip_or_cidr entries: an address (a /32 or
// /128) or a CIDR block, IPv4 or IPv6.
func parsePrefixes(field string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
			p = p.Masked()
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("config.%s[%d]: invalid ip or cidr range: %q", field, i, list[i])
		}
		out = append(out, p)
	}
	return out, nil
}

func compile(c config) (*rules, error) {
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		return nil, errors.New("config: at least one of these fields must be non-empty: 'config.allow', 'config.deny'")
	}
	r := &rules{status: 403, message: c.Message}
	var err error
	if r.allow, err = parsePrefixes("allow", c.Allow); err != nil {
		return nil, err
	}
	if r.deny, err = parsePrefixes("deny", c.Deny); err != nil {
		return nil, err
	}
	if c.Status != nil {
		s := *c.Status
		if s != float64(int(s)) || s < 200 || s > 599 {
			return nil, fmt.Errorf("config.status: must be an integer between 200 and 599")
		}
		r.status = uint32(s)
	}
	return r, nil
}

func matches(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// allowed is Kong's access check: deny first, then allow.
func (r *rules) allowed(a netip.Addr) bool {
	if len(r.deny) > 0 && matches(r.deny, a) {
		return false
	}
	if len(r.allow) > 0 && !matches(r.allow, a) {
		return false
	}
	return true
}

// clientAddr parses the source.address property ("ip:port", "[v6]:port"
// or a bare address); IPv4-mapped IPv6 addresses are unmapped so IPv4
// rules apply to them.
func clientAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

type plugin struct {
	proxywasm.DefaultPluginContext
	rules *rules
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	var cfg config
	if err := kong.DecodeConfig(&cfg); err != nil {
		return kong.Fail(name, err)
	}
	r, err := compile(cfg)
	if err != nil {
		return kong.Fail(name, err)
	}
	p.rules = r
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{rules: p.rules} }

type stream struct {
	proxywasm.DefaultHttpContext
	rules *rules
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	raw, err := proxywasm.GetProperty([]string{"source", "address"})
	a, ok := clientAddr(string(raw))
	if err != nil || !ok {
		// Kong: unix domain sockets have no client IP.
		return kong.Error(403, "Cannot identify the client IP address, unix domain sockets are not supported.")
	}
	if s.rules.allowed(a) {
		return proxywasm.ActionContinue
	}
	msg := "IP address not allowed: " + a.String()
	if s.rules.message != nil {
		msg = *s.rules.message
	}
	return kong.Error(s.rules.status, msg)
}
