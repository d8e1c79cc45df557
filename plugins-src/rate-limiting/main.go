// Command rate-limiting is Weir's built-in rate-limiting plugin: Kong's
// rate-limiting (priority 910, access + header_filter). It counts requests
// per identifier (limit_by) in fixed windows through the host's counters
// (weir.counter_incr): in process memory for policy local, in Redis for
// policy redis, shared by every Weir process using that server.
//
// Build: go tool task builtins:build (see plugins-src/README.md).
package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/plugins-src/internal/kongext"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

// config is Kong's rate-limiting schema, defaults included. The redis
// settings are read by the host (which owns the connections).
type config struct {
	Second            *float64 `json:"second"`
	Minute            *float64 `json:"minute"`
	Hour              *float64 `json:"hour"`
	Day               *float64 `json:"day"`
	Month             *float64 `json:"month"`
	Year              *float64 `json:"year"`
	LimitBy           string   `json:"limit_by"`
	HeaderName        string   `json:"header_name"`
	Path              string   `json:"path"`
	Policy            string   `json:"policy"`
	FaultTolerant     bool     `json:"fault_tolerant"`
	HideClientHeaders bool     `json:"hide_client_headers"`
	ErrorCode         int      `json:"error_code"`
	ErrorMessage      string   `json:"error_message"`
}

// period is one configured window, with what the hot path needs
// precomputed (every allocation costs about a microsecond in a Go wasm
// guest).
type period struct {
	name   string // second, minute, ...
	title  string // Second, Minute, ... (header suffix)
	window int64  // seconds
	limit  int64

	windowStr, limitStr string
	limitHdr, remainHdr string // lower-case header names
	keySuffix           string // ":<name>"
}

type plugin struct {
	proxywasm.DefaultPluginContext
	cfg     config
	periods []period
	// scratch encodes counter arguments; the module is single threaded
	// and the bytes are copied by the host during the call.
	scratch []byte
}

// Kong's EXPIRATION table (kong/plugins/rate-limiting/expiration.lua).
var windows = []struct {
	name, title string
	secs        int64
}{
	{"second", "Second", 1}, {"minute", "Minute", 60}, {"hour", "Hour", 3600},
	{"day", "Day", 86400}, {"month", "Month", 2592000}, {"year", "Year", 31536000},
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	p.cfg = config{LimitBy: "consumer", Policy: "local", FaultTolerant: true, ErrorCode: 429, ErrorMessage: "API rate limit exceeded"}
	if err := proxywasm.DecodeConfig(&p.cfg); err != nil {
		proxywasm.LogErrorf("config: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	if err := p.setup(); err != nil {
		proxywasm.LogErrorf("config: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	return proxywasm.OnPluginStartStatusOK
}

// setup checks what the JSON schema cannot (Kong's entity checks) and
// builds the period list.
func (p *plugin) setup() error {
	vals := []*float64{p.cfg.Second, p.cfg.Minute, p.cfg.Hour, p.cfg.Day, p.cfg.Month, p.cfg.Year}
	var prev *period
	for i, w := range windows {
		v := vals[i]
		if v == nil {
			continue
		}
		pd := period{name: w.name, title: w.title, window: w.secs, limit: int64(*v)}
		pd.windowStr = strconv.FormatInt(pd.window, 10)
		pd.limitStr = strconv.FormatInt(pd.limit, 10)
		pd.limitHdr = "x-ratelimit-limit-" + w.name
		pd.remainHdr = "x-ratelimit-remaining-" + w.name
		pd.keySuffix = ":" + w.name
		if prev != nil && pd.limit < prev.limit {
			return fmt.Errorf("config.%s: the limit for %s (%d) must be greater than or equal to the limit for %s (%d)",
				pd.name, pd.name, pd.limit, prev.name, prev.limit)
		}
		p.periods = append(p.periods, pd)
		prev = &p.periods[len(p.periods)-1]
	}
	if len(p.periods) == 0 {
		return fmt.Errorf("config: at least one of second, minute, hour, day, month, year is required")
	}
	switch p.cfg.LimitBy {
	case "header":
		if p.cfg.HeaderName == "" {
			return fmt.Errorf("config.header_name: required when limit_by is header")
		}
	case "path":
		if p.cfg.Path == "" {
			return fmt.Errorf("config.path: required when limit_by is path")
		}
	}
	return nil
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{p: p} }

type stream struct {
	proxywasm.DefaultHttpContext
	p       *plugin
	headers [][2]string // for the client response, lower-case names
}

var (
	pathServiceName = []string{"weir", "service_name"}
	pathURLPath     = []string{"request", "url_path"}
	pathSource      = []string{"source", "address"}
)

// incr adds delta to key+suffix in pd's window (weir.counter_incr),
// encoding the arguments into a reused buffer.
func (p *plugin) incr(key string, pd *period, delta string) (int64, error) {
	p.scratch = encodeIncr(p.scratch[:0], key+pd.keySuffix, pd.windowStr, delta)
	res, err := proxywasm.CallForeignFunction(abi.FFICounterIncr, p.scratch)
	if err != nil {
		return 0, err
	}
	return abi.DecodeInt64(res)
}

// encodeIncr appends abi.CounterIncrArgs{key, window, delta} in the pairs
// encoding (abi.EncodePairs) without building the intermediate pairs.
func encodeIncr(b []byte, key, window, delta string) []byte {
	b = binary.LittleEndian.AppendUint32(b, 3)
	for _, kv := range [3][2]int{{len(abi.KeyKey), len(key)}, {len(abi.KeyWindowSeconds), len(window)}, {len(abi.KeyDelta), len(delta)}} {
		b = binary.LittleEndian.AppendUint32(b, uint32(kv[0]))
		b = binary.LittleEndian.AppendUint32(b, uint32(kv[1]))
	}
	b = append(append(append(append(b, abi.KeyKey...), 0), key...), 0)
	b = append(append(append(append(b, abi.KeyWindowSeconds...), 0), window...), 0)
	return append(append(append(append(b, abi.KeyDelta...), 0), delta...), 0)
}

// identifier is Kong's get_identifier: the limit_by value, falling back
// to the client IP when it is missing.
func (s *stream) identifier() string {
	var id string
	switch s.p.cfg.LimitBy {
	case "service":
		if b, err := proxywasm.GetProperty(pathServiceName); err == nil {
			id = string(b)
		}
	case "consumer":
		if v, ok := kongext.ConsumerID(); ok {
			id = v
		} else if v, ok := kongext.CredentialID(); ok {
			id = v
		}
	case "credential":
		id, _ = kongext.CredentialID()
	case "header":
		id, _ = proxywasm.GetHttpRequestHeader(s.p.cfg.HeaderName)
	case "path":
		if b, err := proxywasm.GetProperty(pathURLPath); err == nil && string(b) == s.p.cfg.Path {
			id = string(b)
		}
	}
	if id != "" {
		return s.p.cfg.LimitBy + ":" + id
	}
	return "ip:" + clientIP()
}

func clientIP() string {
	b, err := proxywasm.GetProperty(pathSource)
	if err != nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(string(b)); err == nil {
		return h
	}
	return string(b)
}

type usage struct {
	pd        *period
	remaining int64 // before this request
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	p := s.p
	id := s.identifier()
	nowNs, _ := proxywasm.GetCurrentTimeNanoseconds()
	now := nowNs / 1e9
	// Count this request in every window atomically and derive the usage
	// before it (Kong reads usage, then increments asynchronously; an
	// atomic increment cannot overshoot across processes).
	var buf [6]usage
	us := buf[:0]
	stop := -1
	for i := range p.periods {
		pd := &p.periods[i]
		n, err := p.incr(id, pd, "1")
		if err != nil {
			s.rollback(id, us)
			if !p.cfg.FaultTolerant {
				proxywasm.LogErrorf("failed to get usage: %v", err)
				kongext.Error(500, "An unexpected error occurred")
				return proxywasm.ActionPause
			}
			proxywasm.LogErrorf("failed to get usage (fault_tolerant: request allowed): %v", err)
			return proxywasm.ActionContinue
		}
		u := usage{pd: pd, remaining: pd.limit - (n - 1)}
		us = append(us, u)
		if u.remaining <= 0 && stop < 0 {
			stop = len(us) - 1
		}
	}
	var reset int64
	if !p.cfg.HideClientHeaders {
		var limit, remaining, window int64
		first := true
		for i, u := range us {
			rem := u.remaining
			if stop < 0 || stop == i {
				rem--
			}
			rem = max(0, rem)
			if first || rem < remaining || (rem == remaining && u.pd.window > window) {
				first = false
				limit, window, remaining = u.pd.limit, u.pd.window, rem
				reset = max(1, window-(now%window))
			}
			if s.headers == nil {
				s.headers = make([][2]string, 0, 2*len(us)+4)
			}
			s.headers = append(s.headers,
				[2]string{u.pd.limitHdr, u.pd.limitStr},
				[2]string{u.pd.remainHdr, strconv.FormatInt(rem, 10)})
		}
		s.headers = append(s.headers,
			[2]string{"ratelimit-limit", strconv.FormatInt(limit, 10)},
			[2]string{"ratelimit-remaining", strconv.FormatInt(remaining, 10)},
			[2]string{"ratelimit-reset", strconv.FormatInt(reset, 10)})
	}
	if stop >= 0 {
		// Kong does not count a rejected request.
		s.rollback(id, us)
		hs := s.headers
		if reset > 0 {
			hs = append(hs, [2]string{"retry-after", strconv.FormatInt(reset, 10)})
		}
		kongext.Error(p.cfg.ErrorCode, p.cfg.ErrorMessage, hs...)
		return proxywasm.ActionPause
	}
	return proxywasm.ActionContinue
}

// rollback takes this request out of the windows it was counted in.
func (s *stream) rollback(id string, us []usage) {
	for _, u := range us {
		if _, err := s.p.incr(id, u.pd, "-1"); err != nil {
			return
		}
	}
}

func (s *stream) OnHttpResponseHeaders(int, bool) proxywasm.Action {
	for _, h := range s.headers {
		_ = proxywasm.ReplaceHttpResponseHeader(h[0], h[1])
	}
	return proxywasm.ActionContinue
}
