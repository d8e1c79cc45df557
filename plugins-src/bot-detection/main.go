// Command bot-detection is Weir's reference "bot-detection" plugin:
// Kong's bundled plugin of that name (priority 2500) rebuilt as a
// proxy-wasm module with sdk/go. The User-Agent (trimmed) is matched
// against config.allow (a match passes), then config.deny and Kong's
// built-in bad-bot list (a match is refused 403 "Forbidden"); more than
// one User-Agent header is refused 400 "Only one User-Agent header
// allowed"; no User-Agent passes.
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/bot-detection/bot-detection.wasm ./plugins-src/bot-detection
package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "bot-detection"

// config is Kong's bot-detection schema.
type config struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

type rules struct {
	allow, deny []*regexp.Regexp
	// cache remembers verdicts per User-Agent (Kong keeps an LRU of
	// 10^4 per config); bounded, cleared when full.
	cache map[string]bool
}

const cacheMax = 10000

// bots is the compiled built-in list, shared by every configuration.
var bots []*regexp.Regexp

func compileList(field string, list []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(list))
	for i, s := range list {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("config.%s[%d]: %q is not a valid regex: %v", field, i, s, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func compile(c config) (*rules, error) {
	if bots == nil {
		var err error
		if bots, err = compileList("built-in", badBots); err != nil {
			return nil, err
		}
	}
	r := &rules{cache: map[string]bool{}}
	var err error
	if r.allow, err = compileList("allow", c.Allow); err != nil {
		return nil, err
	}
	if r.deny, err = compileList("deny", c.Deny); err != nil {
		return nil, err
	}
	return r, nil
}

func matchAny(list []*regexp.Regexp, s string) bool {
	for _, re := range list {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// refused is Kong's examine_agent: allow, then deny, then the bot list.
func (r *rules) refused(ua string) bool {
	ua = strings.TrimSpace(ua)
	if v, ok := r.cache[ua]; ok {
		return v
	}
	v := false
	switch {
	case matchAny(r.allow, ua):
	case matchAny(r.deny, ua), matchAny(bots, ua):
		v = true
	}
	if len(r.cache) >= cacheMax {
		clear(r.cache)
	}
	r.cache[ua] = v
	return v
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
	hs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return proxywasm.ActionContinue
	}
	ua, n := "", 0
	for _, kv := range hs {
		if strings.EqualFold(kv[0], "user-agent") {
			ua, n = kv[1], n+1
		}
	}
	switch {
	case n == 0:
		return proxywasm.ActionContinue
	case n > 1:
		return kong.Error(400, "Only one User-Agent header allowed")
	case s.rules.refused(ua):
		return kong.Error(403, "Forbidden")
	}
	return proxywasm.ActionContinue
}
