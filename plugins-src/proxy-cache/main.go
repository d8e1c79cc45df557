// Command proxy-cache is Weir's reference "proxy-cache" plugin: Kong's
// bundled plugin of that name (priority 100) with its memory strategy,
// rebuilt as a proxy-wasm module with sdk/go.
//
// A cacheable request (method in request_method; with cache_control, no
// Cache-Control no-store/no-cache and no Authorization) is looked up by
// Kong's cache key (route, consumer, method, path, query arguments or
// vary_query_params, vary_headers). A fresh entry is answered locally
// (X-Cache-Status: Hit, Age); otherwise the request goes upstream
// (X-Cache-Status: Miss, or Refresh for a stale entry) and a cacheable
// response (status in response_code, Content-Type in content_type; with
// cache_control, a positive s-maxage/max-age/Expires and no
// private/no-store/no-cache) is stored. Anything not cacheable is marked
// X-Cache-Status: Bypass.
//
// Entries live in the host's shared data (proxy_get/set_shared_data), so
// every instance of the plugin's pool sees the same cache; see cache.go
// for the size bound.
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/proxy-cache/proxy-cache.wasm ./plugins-src/proxy-cache
package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "proxy-cache"

// config is Kong's proxy-cache schema (kong/plugins/proxy-cache/schema.lua).
type config struct {
	ResponseCode    []float64        `json:"response_code"`
	RequestMethod   []string         `json:"request_method"`
	ContentType     []string         `json:"content_type"`
	CacheTTL        *float64         `json:"cache_ttl"`
	Strategy        *string          `json:"strategy"`
	CacheControl    bool             `json:"cache_control"`
	IgnoreURICase   bool             `json:"ignore_uri_case"`
	StorageTTL      *float64         `json:"storage_ttl"`
	Memory          *memoryConfig    `json:"memory"`
	VaryQueryParams []string         `json:"vary_query_params"`
	VaryHeaders     []string         `json:"vary_headers"`
	ResponseHeaders *responseHeaders `json:"response_headers"`
}

type memoryConfig struct {
	DictionaryName string `json:"dictionary_name"`
}

// responseHeaders toggles the headers the plugin adds (all default true).
type responseHeaders struct {
	Age         *bool `json:"age"`
	CacheStatus *bool `json:"X-Cache-Status"`
	CacheKey    *bool `json:"X-Cache-Key"`
}

// rules is a validated configuration.
type rules struct {
	cfg         config
	codes       map[uint32]bool
	methods     map[string]bool
	types       []mediaType
	anyType     bool
	ttl         int64
	storageTTL  int64 // 0: the entry's own ttl
	varyQuery   []string
	varyHeaders []string
	hdrAge      bool
	hdrStatus   bool
	hdrKey      bool
}

var validMethods = map[string]bool{"HEAD": true, "GET": true, "POST": true, "PATCH": true, "PUT": true}

func compile(c config) (*rules, error) {
	r := &rules{cfg: c, codes: map[uint32]bool{}, methods: map[string]bool{}, ttl: 300, hdrAge: true, hdrStatus: true, hdrKey: true}
	if c.Strategy == nil {
		return nil, errors.New("config.strategy: required field missing")
	}
	if *c.Strategy != "memory" {
		return nil, fmt.Errorf("config.strategy: expected one of: memory (got %q)", *c.Strategy)
	}
	codes := c.ResponseCode
	if codes == nil {
		codes = []float64{200, 301, 404}
	}
	if len(codes) == 0 {
		return nil, errors.New("config.response_code: length must be at least 1")
	}
	for i, f := range codes {
		if f != float64(int(f)) || f < 100 || f > 900 {
			return nil, fmt.Errorf("config.response_code[%d]: value should be between 100 and 900", i)
		}
		r.codes[uint32(f)] = true
	}
	methods := c.RequestMethod
	if methods == nil {
		methods = []string{"GET", "HEAD"}
	}
	if len(methods) == 0 {
		return nil, errors.New("config.request_method: length must be at least 1")
	}
	for i, m := range methods {
		if !validMethods[m] {
			return nil, fmt.Errorf("config.request_method[%d]: expected one of: HEAD, GET, POST, PATCH, PUT", i)
		}
		r.methods[m] = true
	}
	types := c.ContentType
	if types == nil {
		types = []string{"text/plain", "application/json"}
	}
	if len(types) == 0 {
		return nil, errors.New("config.content_type: length must be at least 1")
	}
	for i, t := range types {
		if t == "*/*" {
			r.anyType = true
			continue
		}
		m, err := parseMediaType(t)
		if err != nil {
			return nil, fmt.Errorf("config.content_type[%d]: %v", i, err)
		}
		r.types = append(r.types, m)
	}
	if c.CacheTTL != nil {
		if *c.CacheTTL != float64(int64(*c.CacheTTL)) || *c.CacheTTL <= 0 {
			return nil, errors.New("config.cache_ttl: value must be a positive integer")
		}
		r.ttl = int64(*c.CacheTTL)
	}
	if c.StorageTTL != nil {
		if *c.StorageTTL != float64(int64(*c.StorageTTL)) || *c.StorageTTL < 0 {
			return nil, errors.New("config.storage_ttl: value must be a non-negative integer")
		}
		r.storageTTL = int64(*c.StorageTTL)
	}
	for i, q := range c.VaryQueryParams {
		if q == "" {
			return nil, fmt.Errorf("config.vary_query_params[%d]: must be a non-empty string", i)
		}
		if c.IgnoreURICase {
			q = strings.ToLower(q)
		}
		r.varyQuery = append(r.varyQuery, q)
	}
	for i, h := range c.VaryHeaders {
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			return nil, fmt.Errorf("config.vary_headers[%d]: must be a header name", i)
		}
		r.varyHeaders = append(r.varyHeaders, strings.ToLower(h))
	}
	sort.Strings(r.varyQuery)
	sort.Strings(r.varyHeaders)
	if h := c.ResponseHeaders; h != nil {
		r.hdrAge = h.Age == nil || *h.Age
		r.hdrStatus = h.CacheStatus == nil || *h.CacheStatus
		r.hdrKey = h.CacheKey == nil || *h.CacheKey
	}
	return r, nil
}

// now is the clock in Unix seconds (a variable so tests can move it).
var now = func() int64 {
	ns, err := proxywasm.GetCurrentTimeNanoseconds()
	if err != nil || ns == 0 {
		return time.Now().Unix()
	}
	return ns / int64(time.Second)
}

// hopByHop are the headers never stored nor replayed (Kong's
// reset_res_header plus the ones the plugin sets on every answer).
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-authenticate": true, "proxy-authorization": true,
	"te": true, "trailers": true, "transfer-encoding": true, "upgrade": true, "content-length": true,
	"age": true, "x-cache-status": true, "x-cache-key": true,
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

// stream is one request's state.
type stream struct {
	proxywasm.DefaultHttpContext
	rules  *rules
	status string // X-Cache-Status to add to the upstream response ("" none)
	key    string // the cache key when the response may be stored
	store  *entry // the response being collected, nil when not storing
	size   int
}

func property(path ...string) string {
	b, err := proxywasm.GetProperty(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	r := s.rules
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	var reqCC map[string]string
	if r.cfg.CacheControl {
		v, _ := proxywasm.GetHttpRequestHeader("cache-control")
		reqCC = cacheControl(v)
	}
	if !r.methods[method] || r.cfg.CacheControl && (has(reqCC, "no-store") || has(reqCC, "no-cache") || hasHeader("authorization")) {
		s.status = "Bypass"
		return proxywasm.ActionContinue
	}
	fullPath, _ := proxywasm.GetHttpRequestHeader(":path")
	path, query, _ := strings.Cut(fullPath, "?")
	in := keyInput{
		consumerID: property("weir", "consumer", "id"),
		routeID:    property("route_name"),
		method:     method,
		path:       path,
		query:      query,
	}
	if len(r.varyHeaders) > 0 {
		in.headers, _ = proxywasm.GetHttpRequestHeaders()
	}
	s.key = r.cacheKey(in)
	t := now()
	e := lookup(s.key, t)
	if e == nil {
		if r.cfg.CacheControl && has(reqCC, "only-if-cached") {
			return kong.Exit(504, nil, nil)
		}
		s.status = "Miss"
		return proxywasm.ActionContinue
	}
	age := t - e.timestamp
	if r.cfg.CacheControl {
		if v, ok := seconds(reqCC, "max-age"); ok && age > v ||
			func() bool { v, ok := seconds(reqCC, "max-stale"); return ok && age-e.ttl > v }() ||
			func() bool { v, ok := seconds(reqCC, "min-fresh"); return ok && e.ttl-age < v }() {
			s.status = "Refresh"
			return proxywasm.ActionContinue
		}
	} else if age > r.ttl {
		s.status = "Refresh"
		return proxywasm.ActionContinue
	}
	hs := make([][2]string, 0, len(e.headers)+3)
	hs = append(hs, e.headers...)
	if r.hdrAge {
		hs = append(hs, [2]string{"age", strconv.FormatInt(age, 10)})
	}
	if r.hdrStatus {
		hs = append(hs, [2]string{"x-cache-status", "Hit"})
	}
	if r.hdrKey {
		hs = append(hs, [2]string{"x-cache-key", s.key})
	}
	s.key = ""
	return kong.Exit(e.status, hs, e.body)
}

// lookup reads the entry for key; nil when absent, for another key,
// corrupt or expired (an expired entry's slot is emptied).
func lookup(key string, t int64) *entry {
	slot := slotOf(key)
	b, cas, err := proxywasm.GetSharedData(slot)
	if err != nil || len(b) == 0 {
		return nil
	}
	e, err := decodeEntry(b)
	if err != nil || e.key != key {
		return nil
	}
	if t > e.expires {
		// Shared data has no delete: free the memory with an empty value
		// (the CAS keeps a fresher entry another instance just stored).
		_ = proxywasm.SetSharedData(slot, nil, cas)
		return nil
	}
	return e
}

func has(cc map[string]string, d string) bool { _, ok := cc[d]; return ok }

func hasHeader(name string) bool {
	_, err := proxywasm.GetHttpRequestHeader(name)
	return err == nil
}

func (s *stream) OnHttpResponseHeaders(_ int, endOfStream bool) proxywasm.Action {
	r := s.rules
	if s.status == "" {
		return proxywasm.ActionContinue
	}
	status := s.status
	var ttl int64
	if s.key != "" {
		var ok bool
		if ttl, ok = s.cacheable(); !ok {
			status, s.key = "Bypass", ""
		}
	}
	if r.hdrStatus {
		_ = proxywasm.ReplaceHttpResponseHeader("x-cache-status", status)
	}
	if s.key == "" {
		return proxywasm.ActionContinue
	}
	if r.hdrKey {
		_ = proxywasm.ReplaceHttpResponseHeader("x-cache-key", s.key)
	}
	hs, _ := proxywasm.GetHttpResponseHeaders()
	code, _ := proxywasm.GetHttpResponseHeader(":status")
	st, _ := strconv.Atoi(code)
	t := now()
	e := &entry{key: s.key, timestamp: t, ttl: ttl, status: uint32(st)}
	keep := r.storageTTL
	if keep == 0 {
		keep = ttl
	}
	e.expires = t + keep
	for _, h := range hs {
		n := strings.ToLower(h[0])
		if strings.HasPrefix(n, ":") || hopByHop[n] {
			continue
		}
		e.headers = append(e.headers, [2]string{n, h[1]})
		s.size += len(h[0]) + len(h[1])
	}
	s.store = e
	if endOfStream {
		s.save()
	}
	return proxywasm.ActionContinue
}

// cacheable is Kong's cacheable_response; it returns the entry's ttl.
func (s *stream) cacheable() (int64, bool) {
	r := s.rules
	code, _ := proxywasm.GetHttpResponseHeader(":status")
	st, err := strconv.Atoi(code)
	if err != nil || !r.codes[uint32(st)] {
		return 0, false
	}
	ct, err := proxywasm.GetHttpResponseHeader("content-type")
	if err != nil {
		return 0, false
	}
	if !r.anyType {
		m, err := parseMediaType(ct)
		if err != nil {
			return 0, false
		}
		ok := false
		for _, c := range r.types {
			if c.matches(m) {
				ok = true
				break
			}
		}
		if !ok {
			return 0, false
		}
	}
	if !r.cfg.CacheControl {
		return r.ttl, true
	}
	v, _ := proxywasm.GetHttpResponseHeader("cache-control")
	cc := cacheControl(v)
	if has(cc, "private") || has(cc, "no-store") || has(cc, "no-cache") {
		return 0, false
	}
	ttl := resourceTTL(cc)
	return ttl, ttl > 0
}

// resourceTTL is Kong's resource_ttl: s-maxage, else max-age, else
// Expires minus now; 0 when none applies.
func resourceTTL(cc map[string]string) int64 {
	if v, ok := seconds(cc, "s-maxage"); ok {
		return max(v, 0)
	}
	if v, ok := seconds(cc, "max-age"); ok {
		return max(v, 0)
	}
	exp, err := proxywasm.GetHttpResponseHeader("expires")
	if err != nil {
		return 0
	}
	t, err := time.Parse(time.RFC1123, exp)
	if err != nil {
		return 0
	}
	return max(t.Unix()-now(), 0)
}

func (s *stream) OnHttpResponseBody(size int, endOfStream bool) proxywasm.Action {
	if s.store == nil {
		return proxywasm.ActionContinue
	}
	if size > 0 {
		if s.size+len(s.store.body)+size > maxEntryBytes {
			s.store = nil // too large to cache
			return proxywasm.ActionContinue
		}
		b, err := proxywasm.GetHttpResponseBody(0, size)
		if err != nil {
			s.store = nil
			return proxywasm.ActionContinue
		}
		s.store.body = append(s.store.body, b...)
	}
	if endOfStream {
		s.save()
	}
	return proxywasm.ActionContinue
}

// save stores the collected response in its slot (overwriting whatever
// was there).
func (s *stream) save() {
	e := s.store
	s.store = nil
	if e == nil {
		return
	}
	b := e.encode()
	if len(b) > maxEntryBytes+len(e.key)+64 {
		return
	}
	if err := proxywasm.SetSharedData(slotOf(e.key), b, 0); err != nil {
		proxywasm.LogWarnf("%s: storing a cache entry: %v", name, err)
	}
}
