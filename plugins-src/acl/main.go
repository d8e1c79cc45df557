// Command acl is Weir's built-in acl plugin: Kong's acl (priority 950,
// access phase). It allows or denies the consumer authenticated by an
// earlier plugin by its acl groups (weir.consumer.groups), and tells the
// upstream the consumer's groups in X-Consumer-Groups.
//
// Build: go tool task builtins:build (see plugins-src/README.md).
package main

import (
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kongext"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

// config is Kong's acl schema. Exactly one of Allow and Deny is set (the
// schema enforces it).
type config struct {
	Allow                        []string `json:"allow"`
	Deny                         []string `json:"deny"`
	HideGroupsHeader             bool     `json:"hide_groups_header"`
	AlwaysUseAuthenticatedGroups bool     `json:"always_use_authenticated_groups"`
	IncludeConsumerGroups        bool     `json:"include_consumer_groups"`
}

type plugin struct {
	proxywasm.DefaultPluginContext
	cfg   config
	deny  bool
	names map[string]bool
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	if err := proxywasm.DecodeConfig(&p.cfg); err != nil {
		proxywasm.LogErrorf("config: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	list := p.cfg.Allow
	if len(p.cfg.Deny) > 0 {
		p.deny, list = true, p.cfg.Deny
	}
	if (len(p.cfg.Allow) > 0) == (len(p.cfg.Deny) > 0) {
		proxywasm.LogError("config: exactly one of allow and deny is required")
		return proxywasm.OnPluginStartStatusFailed
	}
	p.names = map[string]bool{}
	for _, g := range list {
		p.names[g] = true
	}
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{p: p} }

type stream struct {
	proxywasm.DefaultHttpContext
	p *plugin
}

const (
	msgForbidden    = "You cannot consume this service"
	msgUnauthorized = "Unauthorized"
)

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	p := s.p
	if _, ok := kongext.ConsumerID(); !ok {
		// Kong: no consumer (and no authenticated groups from a plugin
		// Weir lacks, such as ldap-auth) is a 401.
		kongext.Error(401, msgUnauthorized)
		return proxywasm.ActionPause
	}
	groups, err := kongext.ConsumerGroups()
	if err != nil {
		groups = nil
	}
	in := false
	for _, g := range groups {
		if p.names[g] {
			in = true
			break
		}
	}
	blocked := in == p.deny
	if blocked {
		kongext.Error(403, msgForbidden)
		return proxywasm.ActionPause
	}
	if p.cfg.HideGroupsHeader {
		_ = proxywasm.RemoveHttpRequestHeader("x-consumer-groups")
	} else if len(groups) > 0 {
		_ = proxywasm.ReplaceHttpRequestHeader("x-consumer-groups", strings.Join(groups, ", "))
	} else {
		_ = proxywasm.RemoveHttpRequestHeader("x-consumer-groups")
	}
	return proxywasm.ActionContinue
}
