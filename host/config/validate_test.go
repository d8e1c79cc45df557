package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// validBase is a small valid configuration the table cases break.
const validBase = `_format_version: "3.0"
services:
- name: svc
  url: http://backend.example.com:8080/api
- name: tls-svc
  url: https://secure.example.com
routes:
- name: r
  service: svc
  paths: [/a]
upstreams:
- name: up.example
targets:
- target: 10.0.0.1:80
  upstream: up.example
consumers:
- username: alice
plugins:
- name: key-auth
  service: svc
certificates:
- cert: CERT
  key: KEY
  snis: [a.example.com]
`

const (
	uuid1 = "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
	uuid2 = "1c2d3e4f-5a6b-4c7d-9e8f-0a1b2c3d4e5f"
)

// want is one expected FieldError: exact path and entity, message
// substring.
type want struct {
	path, entity, msg string
}

func newUpstream(name string) *Upstream {
	u := &Upstream{Name: name}
	u.normalize()
	return u
}

func TestValidate(t *testing.T) {
	const (
		svc  = `service "svc"`
		tsvc = `service "tls-svc"`
		rt   = `route "r"`
		up   = `upstream "up.example"`
		tgt  = `target "10.0.0.1:80"`
		cons = `consumer "alice"`
		plug = `plugin "key-auth"`
		cert = `certificate for "a.example.com"`
	)
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []want // sorted by path; nil = valid
	}{
		{name: "base is valid", mutate: func(c *Config) {}},

		// Document.
		{
			name:   "format version not migrated",
			mutate: func(c *Config) { c.FormatVersion = "2.1" },
			want:   []want{{"_format_version", "", `unsupported version "2.1"`}},
		},
		{
			name:   "invalid raw _info",
			mutate: func(c *Config) { c.Info = json.RawMessage(`{`) },
			want:   []want{{"_info", "", "invalid JSON"}},
		},
		{
			name:   "top-level ca_certificates must be objects",
			mutate: func(c *Config) { c.CACertificates = []json.RawMessage{json.RawMessage(`[]`)} },
			want:   []want{{"ca_certificates[0]", "", "expected object, got array"}},
		},

		// Names, ids, tags.
		{
			name:   "duplicate service name",
			mutate: func(c *Config) { c.Services = append(c.Services, c.Services[0]) },
			want:   []want{{"services[2].name", svc, `duplicate service name "svc" (also services[0])`}},
		},
		{
			name:   "service name syntax",
			mutate: func(c *Config) { c.Services[1].Name = "tls svc" },
			want:   []want{{"services[1].name", `service "tls svc"`, `invalid name "tls svc": only letters, digits and '.', '-', '_', '~' are allowed`}},
		},
		{
			name:   "non-ASCII names are allowed",
			mutate: func(c *Config) { c.Services[1].Name = "tjänst~1.0_a-b" },
		},
		{
			name:   "invalid utf-8 name",
			mutate: func(c *Config) { c.Routes[0].Name = "r\xff" },
			want:   []want{{"routes[0].name", `route "r\xff"`, "not valid UTF-8"}},
		},
		{
			name:   "id must be a UUID",
			mutate: func(c *Config) { c.Services[0].ID = "123" },
			want:   []want{{"services[0].id", svc, `invalid id "123": expected a UUID`}},
		},
		{
			name: "duplicate id",
			mutate: func(c *Config) {
				c.Services[0].ID = uuid1
				c.Services[1].ID = uuid1
			},
			want: []want{{"services[1].id", tsvc, `duplicate service id "` + uuid1 + `" (also services[0])`}},
		},
		{
			name:   "duplicate route name",
			mutate: func(c *Config) { c.Routes = append(c.Routes, c.Routes[0]) },
			want:   []want{{"routes[1].name", rt, `duplicate route name "r" (also routes[0])`}},
		},
		{
			name:   "invalid tags",
			mutate: func(c *Config) { c.Routes[0].Tags = []string{"ok", "a,b", "", "c/d", "tab\t"} },
			want: []want{
				{"routes[0].tags[1]", rt, `invalid tag "a,b"`},
				{"routes[0].tags[2]", rt, "empty tag"},
				{"routes[0].tags[3]", rt, `invalid tag "c/d"`},
				{"routes[0].tags[4]", rt, `invalid tag "tab\t"`},
			},
		},
		{
			name:   "tags with spaces, colons and unicode",
			mutate: func(c *Config) { c.Routes[0].Tags = []string{"env:prod", "team a", "équipe"} },
		},

		// References.
		{
			name:   "route names a missing service",
			mutate: func(c *Config) { c.Routes[0].Service = "nope" },
			want:   []want{{"routes[0].service", rt, `no service with name or id "nope"`}},
		},
		{
			name: "route names its service by id",
			mutate: func(c *Config) {
				c.Services[0].ID = uuid1
				c.Routes[0].Service = uuid1
			},
		},
		{
			name:   "route without a service is allowed, as in Kong",
			mutate: func(c *Config) { c.Routes[0].Service = "" },
		},
		{
			name:   "target names a missing upstream",
			mutate: func(c *Config) { c.Targets[0].Upstream = "nope" },
			want:   []want{{"targets[0].upstream", tgt, `no upstream with name or id "nope"`}},
		},
		{
			name:   "target needs an upstream",
			mutate: func(c *Config) { c.Targets[0].Upstream = "" },
			want:   []want{{"targets[0].upstream", tgt, "required field missing"}},
		},
		{
			name: "plugin scope does not resolve",
			mutate: func(c *Config) {
				c.Plugins[0].Service = "x"
				c.Plugins[0].Route = "y"
				c.Plugins[0].Consumer = "z"
			},
			want: []want{
				{"plugins[0].consumer", plug, `no consumer with username or id "z"`},
				{"plugins[0].route", plug, `no route with name or id "y"`},
				{"plugins[0].service", plug, `no service with name or id "x"`},
			},
		},
		{
			name: "plugin on a route and a consumer",
			mutate: func(c *Config) {
				c.Plugins[0].Service = ""
				c.Plugins[0].Route = "r"
				c.Plugins[0].Consumer = "alice"
			},
		},
		{
			name: "plugin on service, route and consumer (by id)",
			mutate: func(c *Config) {
				c.Consumers[0].ID = uuid1
				c.Plugins[0].Route = "r"
				c.Plugins[0].Consumer = uuid1
			},
		},

		// Routes.
		{
			name:   "route needs something to match",
			mutate: func(c *Config) { c.Routes[0].Paths = nil },
			want:   []want{{"routes[0]", rt, "must set at least one of methods, hosts, paths, headers or snis"}},
		},
		{
			name: "methods alone are enough",
			mutate: func(c *Config) {
				c.Routes[0].Paths = nil
				c.Routes[0].Methods = []string{"GET", "M-SEARCH"}
			},
		},
		{
			name:   "path must start with a slash",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"/ok", "a"} },
			want:   []want{{"routes[0].paths[1]", rt, `invalid path "a": must start with / (prefix path) or ~/ (regex path)`}},
		},
		{
			name:   "regex path must start with ~/",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"~a"} },
			want:   []want{{"routes[0].paths[0]", rt, `invalid path "~a": must start with / (prefix path) or ~/ (regex path)`}},
		},
		{
			name:   "invalid regex",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"/ok", "~/("} },
			want:   []want{{"routes[0].paths[1]", rt, `invalid regex "~/(": error parsing regexp: missing closing )`}},
		},
		{
			name:   "lookahead is PCRE only",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"~/(?=x)"} },
			want:   []want{{"routes[0].paths[0]", rt, "Weir uses Go's RE2 syntax, not Kong's PCRE"}},
		},
		{
			name:   "backreference is PCRE only",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{`~/(a)\1`} },
			want:   []want{{"routes[0].paths[0]", rt, "RE2"}},
		},
		{
			name:   "regexes with named groups and classes",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{`~/users/(?<id>\d+)$`, `~/(?P<v>v[12])/[^/]+`} },
		},
		{
			name:   "character outside RFC 3986",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"/a b"} },
			want:   []want{{"routes[0].paths[0]", rt, `invalid path "/a b": character ' ' is outside RFC 3986`}},
		},
		{
			name:   "empty path segment",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"/a//b"} },
			want:   []want{{"routes[0].paths[0]", rt, "must not have empty segments"}},
		},
		{
			name:   "bad percent-encoding",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"/a%zz", "/b%2", "/c%20d"} },
			want: []want{
				{"routes[0].paths[0]", rt, `bad percent-encoding "%zz"`},
				{"routes[0].paths[1]", rt, `bad percent-encoding "%2"`},
			},
		},
		{
			name:   "sub-delims, colon and at are plain path characters",
			mutate: func(c *Config) { c.Routes[0].Paths = []string{"/a:b@c!$&'()*+,;=-._~"} },
		},
		{
			name:   "unknown path_type",
			mutate: func(c *Config) { c.Routes[0].PathType = "exact" },
			want:   []want{{"routes[0].path_type", rt, `invalid value "exact" (want Exact or Prefix)`}},
		},
		{
			name: "Exact path cannot be a regex",
			mutate: func(c *Config) {
				c.Routes[0].PathType = "Exact"
				c.Routes[0].Paths = []string{"/a", "~/b"}
			},
			want: []want{{"routes[0].paths[1]", rt, `path "~/b" is a regex, which path_type Exact does not allow`}},
		},
		{
			name:   "Prefix with plain paths",
			mutate: func(c *Config) { c.Routes[0].PathType = "Prefix" },
		},
		{
			name: "valid hosts",
			mutate: func(c *Config) {
				c.Routes[0].Hosts = []string{"example.com", "*.example.com", "example.*", "example.com:8080",
					"*.example.com:8443", "example.*:8080", "10.0.0.1", "10.0.0.1:80", "[::1]:8080", "::1", "under_score.example.com", "fqdn.example.com."}
			},
		},
		{
			name: "invalid hosts",
			mutate: func(c *Config) {
				c.Routes[0].Hosts = []string{"a.*.example.com", "*.example.*", "*example.com", "exa!mple.com",
					"example.com:70000", "a-.example.com", "a..example.com", "999.1.1.1", ""}
			},
			want: []want{
				{"routes[0].hosts[0]", rt, `invalid host "a.*.example.com": a wildcard must be the leftmost ("*.example.com") or rightmost ("example.*") label`},
				{"routes[0].hosts[1]", rt, "only one wildcard is allowed"},
				{"routes[0].hosts[2]", rt, "a wildcard must be the leftmost"},
				{"routes[0].hosts[3]", rt, `character '!' is not allowed`},
				{"routes[0].hosts[4]", rt, "must be at most 65535"},
				{"routes[0].hosts[5]", rt, `label "a-" ends with '-'`},
				{"routes[0].hosts[6]", rt, "empty label"},
				{"routes[0].hosts[7]", rt, `invalid IPv4 address "999.1.1.1"`},
				{"routes[0].hosts[8]", rt, "empty host"},
			},
		},
		{
			name:   "methods are upper-case tokens",
			mutate: func(c *Config) { c.Routes[0].Methods = []string{"GET", "get", "GE T", ""} },
			want: []want{
				{"routes[0].methods[1]", rt, `invalid method "get": must be an upper-case HTTP method token`},
				{"routes[0].methods[2]", rt, `invalid method "GE T"`},
				{"routes[0].methods[3]", rt, `invalid method ""`},
			},
		},
		{
			name:   "stream protocol",
			mutate: func(c *Config) { c.Routes[0].Protocols = []string{"tcp"} },
			want:   []want{{"routes[0].protocols[0]", rt, `protocol "tcp" is not supported by Weir (want http, https, grpc or grpcs)`}},
		},
		{
			name:   "unknown protocol",
			mutate: func(c *Config) { c.Routes[0].Protocols = []string{"http", "ftp"} },
			want:   []want{{"routes[0].protocols[1]", rt, `invalid protocol "ftp"`}},
		},
		{
			name:   "protocol families cannot mix",
			mutate: func(c *Config) { c.Routes[0].Protocols = []string{"https", "grpcs"} },
			want:   []want{{"routes[0].protocols", rt, "cannot mix http/https with grpc/grpcs"}},
		},
		{
			name:   "protocols empty",
			mutate: func(c *Config) { c.Routes[0].Protocols = nil },
			want:   []want{{"routes[0].protocols", rt, "must not be empty"}},
		},
		{
			name: "grpc route",
			mutate: func(c *Config) {
				c.Routes[0].Protocols = []string{"grpc", "grpcs"}
				c.Routes[0].StripPath = ptr(false)
			},
		},
		{
			name: "grpc route with methods and no other match",
			mutate: func(c *Config) {
				c.Routes[0].Protocols = []string{"grpc"}
				c.Routes[0].StripPath = ptr(false)
				c.Routes[0].Paths = nil
				c.Routes[0].Methods = []string{"POST"}
			},
			want: []want{
				{"routes[0]", rt, "must set at least one of hosts, paths, headers or snis"},
				{"routes[0].methods", rt, "cannot be set when protocols are grpc or grpcs"},
			},
		},
		{
			name: "grpc route with strip_path",
			mutate: func(c *Config) {
				c.Routes[0].Protocols = []string{"grpcs"}
				c.Routes[0].StripPath = ptr(true)
			},
			want: []want{{"routes[0].strip_path", rt, "cannot be true when protocols are grpc or grpcs"}},
		},
		{
			name:   "snis need a TLS protocol",
			mutate: func(c *Config) { c.Routes[0].Protocols, c.Routes[0].SNIs = []string{"http"}, []string{"a.example.com"} },
			want:   []want{{"routes[0].snis", rt, "can only be set when protocols include https or grpcs"}},
		},
		{
			name:   "snis alone match an https route",
			mutate: func(c *Config) { c.Routes[0].Paths, c.Routes[0].SNIs = nil, []string{"a.example.com"} },
		},
		{
			name:   "sni must be a hostname",
			mutate: func(c *Config) { c.Routes[0].SNIs = []string{"10.0.0.1", "a.example.com:443", "*.example.com"} },
			want: []want{
				{"routes[0].snis[0]", rt, `invalid sni "10.0.0.1": must not be an IP address`},
				{"routes[0].snis[1]", rt, `invalid sni "a.example.com:443": must not have a port`},
				{"routes[0].snis[2]", rt, `invalid sni "*.example.com": invalid hostname`},
			},
		},
		{
			name: "header rules",
			mutate: func(c *Config) {
				c.Routes[0].Headers = map[string][]string{
					"Host":    {"a"},
					"x y":     {"a"},
					"x-empty": {},
					"x-re":    {"~*(", "~*^v[12]$"},
					"x-blank": {""},
					"x-ok":    {"a", "b"},
				}
			},
			want: []want{
				{"routes[0].headers.Host", rt, "cannot match the Host header here; use hosts"},
				{"routes[0].headers.x-blank[0]", rt, "empty header value"},
				{"routes[0].headers.x-empty", rt, "must list at least one value"},
				{"routes[0].headers.x-re[0]", rt, `invalid regex "~*("`},
				{`routes[0].headers["x y"]`, rt, `invalid header name "x y"`},
			},
		},
		{
			name:   "redirect status",
			mutate: func(c *Config) { c.Routes[0].HTTPSRedirectStatusCode = 303 },
			want:   []want{{"routes[0].https_redirect_status_code", rt, "invalid status 303 (want 426, 301, 302, 307 or 308)"}},
		},
		{
			name:   "path_handling",
			mutate: func(c *Config) { c.Routes[0].PathHandling = "v2" },
			want:   []want{{"routes[0].path_handling", rt, `invalid value "v2" (want v0 or v1)`}},
		},
		{
			name:   "route still has nested plugins",
			mutate: func(c *Config) { c.Routes[0].Plugins = []Plugin{{Name: "p"}} },
			want:   []want{{"routes[0].plugins", rt, "Normalize"}},
		},

		// Services.
		{
			name:   "service stream protocol",
			mutate: func(c *Config) { c.Services[0].Protocol = "tcp" },
			want:   []want{{"services[0].protocol", svc, `protocol "tcp" is not supported by Weir (want http, https, grpc, grpcs or weir)`}},
		},
		{
			name:   "service unknown protocol",
			mutate: func(c *Config) { c.Services[0].Protocol = "ftp" },
			want:   []want{{"services[0].protocol", svc, `invalid protocol "ftp"`}},
		},
		{
			name:   "weir echo responder",
			mutate: func(c *Config) { c.Services[0].Protocol, c.Services[0].Host = "weir", "echo" },
		},
		{
			name:   "weir unknown responder",
			mutate: func(c *Config) { c.Services[0].Protocol, c.Services[0].Host = "weir", "nope" },
			want:   []want{{"services[0].host", svc, `unknown built-in responder "nope" (want echo)`}},
		},
		{
			name:   "service host required",
			mutate: func(c *Config) { c.Services[0].Host = "" },
			want:   []want{{"services[0].host", svc, "required field missing"}},
		},
		{
			name:   "service host with a port",
			mutate: func(c *Config) { c.Services[0].Host = "backend.example.com:80" },
			want:   []want{{"services[0].host", svc, "must not have a port (set port instead)"}},
		},
		{
			name:   "service host syntax",
			mutate: func(c *Config) { c.Services[0].Host = "bad host" },
			want:   []want{{"services[0].host", svc, `invalid hostname "bad host": character ' ' is not allowed`}},
		},
		{
			name:   "service host names an upstream or an IP",
			mutate: func(c *Config) { c.Services[0].Host, c.Services[1].Host = "up.example", "2001:db8::1" },
		},
		{
			name:   "service port range",
			mutate: func(c *Config) { c.Services[0].Port, c.Services[1].Port = 70000, -1 },
			want: []want{
				{"services[0].port", svc, "70000 is out of range 0..65535"},
				{"services[1].port", tsvc, "-1 is out of range 0..65535"},
			},
		},
		{
			name:   "retries range",
			mutate: func(c *Config) { c.Services[0].Retries, c.Services[1].Retries = ptr(32768), ptr(-1) },
			want: []want{
				{"services[0].retries", svc, "32768 is out of range 0..32767"},
				{"services[1].retries", tsvc, "-1 is out of range 0..32767"},
			},
		},
		{
			name: "timeouts range",
			mutate: func(c *Config) {
				c.Services[0].ConnectTimeout = 0
				c.Services[0].ReadTimeout = 1 << 31
				c.Services[0].WriteTimeout = 1<<31 - 2
			},
			want: []want{
				{"services[0].connect_timeout", svc, "0 is out of range 1..2147483646"},
				{"services[0].read_timeout", svc, "2147483648 is out of range 1..2147483646"},
			},
		},
		{
			name:   "grpc service has no path",
			mutate: func(c *Config) { c.Services[0].Protocol = "grpc" },
			want:   []want{{"services[0].path", svc, "must not be set when protocol is grpc or grpcs"}},
		},
		{
			name:   "service path syntax",
			mutate: func(c *Config) { c.Services[0].Path = "api" },
			want:   []want{{"services[0].path", svc, `invalid path "api": must start with '/'`}},
		},
		{
			name: "TLS settings need a TLS protocol",
			mutate: func(c *Config) {
				c.Services[0].TLSVerify = ptr(true)
				c.Services[0].CACertificates = []string{uuid1}
				c.Services[0].ClientCertificate = json.RawMessage(`{"id":"` + uuid2 + `"}`)
			},
			want: []want{
				{"services[0].ca_certificates", svc, "can only be set when protocol is https or grpcs"},
				{"services[0].client_certificate", svc, "can only be set when protocol is https or grpcs"},
				{"services[0].tls_verify", svc, "can only be set when protocol is https or grpcs"},
			},
		},
		{
			name: "TLS settings on an https service",
			mutate: func(c *Config) {
				s := c.Services[1]
				s.TLSVerify, s.TLSVerifyDepth, s.CACertificates = ptr(true), ptr(3), []string{uuid1}
				s.ClientCertificate = json.RawMessage(`{"id":"` + uuid2 + `"}`)
			},
		},
		{
			name: "tls_verify_depth and ca_certificates ids",
			mutate: func(c *Config) {
				c.Services[1].TLSVerifyDepth = ptr(65)
				c.Services[1].CACertificates = []string{"not-a-uuid"}
			},
			want: []want{
				{"services[1].ca_certificates[0]", tsvc, `invalid id "not-a-uuid": expected a UUID`},
				{"services[1].tls_verify_depth", tsvc, "65 is out of range 0..64"},
			},
		},
		{
			name: "service not normalized",
			mutate: func(c *Config) {
				c.Services[0].Routes = []Route{{Paths: []string{"/"}}}
				c.Services[0].Plugins = []Plugin{{Name: "p"}}
				c.Services[0].URL = "http://example.com"
			},
			want: []want{
				{"services[0].plugins", svc, "nested entities must be moved to the top level by Normalize before Validate"},
				{"services[0].routes", svc, "nested entities must be moved to the top level by Normalize before Validate"},
				{"services[0].url", svc, "must be expanded by Normalize before Validate"},
			},
		},

		// Upstreams.
		{
			name: "upstream name required",
			mutate: func(c *Config) {
				c.Upstreams[0].Name = ""
				c.Targets = nil
			},
			want: []want{{"upstreams[0].name", "", "required field missing"}},
		},
		{
			name: "upstream name must be a hostname",
			mutate: func(c *Config) {
				c.Upstreams = append(c.Upstreams, newUpstream("10.0.0.1"), newUpstream("u.example:80"), newUpstream("bad name"))
			},
			want: []want{
				{"upstreams[1].name", `upstream "10.0.0.1"`, `invalid name "10.0.0.1": must be a hostname, not an IP address`},
				{"upstreams[2].name", `upstream "u.example:80"`, `invalid name "u.example:80": must not have a port`},
				{"upstreams[3].name", `upstream "bad name"`, `invalid name "bad name": must be a valid hostname`},
			},
		},
		{
			name:   "duplicate upstream name",
			mutate: func(c *Config) { c.Upstreams = append(c.Upstreams, newUpstream("up.example")) },
			want:   []want{{"upstreams[1].name", up, `duplicate upstream name "up.example" (also upstreams[0])`}},
		},
		{
			name:   "algorithm",
			mutate: func(c *Config) { c.Upstreams[0].Algorithm = "fastest" },
			want:   []want{{"upstreams[0].algorithm", up, `invalid value "fastest" (want round-robin, least-connections, consistent-hashing or latency)`}},
		},
		{
			name:   "slots",
			mutate: func(c *Config) { c.Upstreams[0].Slots = 5 },
			want:   []want{{"upstreams[0].slots", up, "5 is out of range 10..65536"}},
		},
		{
			name:   "hash_on header needs hash_on_header",
			mutate: func(c *Config) { c.Upstreams[0].Algorithm, c.Upstreams[0].HashOn = "consistent-hashing", "header" },
			want:   []want{{"upstreams[0].hash_on_header", up, "required when hash_on is header"}},
		},
		{
			name:   "hash_fallback header needs hash_fallback_header",
			mutate: func(c *Config) { c.Upstreams[0].HashOn, c.Upstreams[0].HashFallback = "ip", "header" },
			want:   []want{{"upstreams[0].hash_fallback_header", up, "required when hash_fallback is header"}},
		},
		{
			name:   "hash_on cookie needs hash_on_cookie",
			mutate: func(c *Config) { c.Upstreams[0].HashOn = "cookie" },
			want:   []want{{"upstreams[0].hash_on_cookie", up, "required when hash_on or hash_fallback is cookie"}},
		},
		{
			name: "hash_on cookie has no fallback",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.HashOn, u.HashOnCookie, u.HashFallback = "cookie", "sid", "ip"
			},
			want: []want{{"upstreams[0].hash_fallback", up, "must be none when hash_on is cookie"}},
		},
		{
			name: "fallback to a cookie is allowed, as in Kong",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.Algorithm, u.HashOn, u.HashOnHeader, u.HashFallback, u.HashOnCookie = "consistent-hashing", "header", "X-User", "cookie", "sid"
			},
		},
		{
			name:   "fallback without hash_on",
			mutate: func(c *Config) { c.Upstreams[0].HashFallback = "ip" },
			want:   []want{{"upstreams[0].hash_fallback", up, "must be none when hash_on is none"}},
		},
		{
			name:   "fallback equals hash_on",
			mutate: func(c *Config) { c.Upstreams[0].HashOn, c.Upstreams[0].HashFallback = "ip", "ip" },
			want:   []want{{"upstreams[0].hash_fallback", up, "must differ from hash_on (both are ip)"}},
		},
		{
			name: "header fallback must name another header",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.HashOn, u.HashOnHeader, u.HashFallback, u.HashFallbackHeader = "header", "X-A", "header", "x-a"
			},
			want: []want{{"upstreams[0].hash_fallback_header", up, `must differ from hash_on_header (both are "X-A")`}},
		},
		{
			name: "header with another header as fallback",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.HashOn, u.HashOnHeader, u.HashFallback, u.HashFallbackHeader = "header", "X-A", "header", "X-B"
			},
		},
		{
			name: "query_arg and uri_capture need their names",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.HashOn, u.HashFallback = "query_arg", "uri_capture"
			},
			want: []want{
				{"upstreams[0].hash_fallback_uri_capture", up, "required when hash_fallback is uri_capture"},
				{"upstreams[0].hash_on_query_arg", up, "required when hash_on is query_arg"},
			},
		},
		{
			name: "query_arg fallback needs its own arg",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.HashOn, u.HashOnQueryArg, u.HashFallback = "uri_capture", "", "query_arg"
				u.HashOnURICapture = "id"
			},
			want: []want{{"upstreams[0].hash_fallback_query_arg", up, "required when hash_fallback is query_arg"}},
		},
		{
			name:   "hash_on value",
			mutate: func(c *Config) { c.Upstreams[0].HashOn = "body" },
			want:   []want{{"upstreams[0].hash_on", up, `invalid value "body"`}},
		},
		{
			name: "hash header and cookie syntax",
			mutate: func(c *Config) {
				u := c.Upstreams[0]
				u.HashOn, u.HashOnHeader, u.HashFallback, u.HashOnCookie = "header", "x y", "cookie", "a;b"
				u.HashOnCookiePath = "x"
			},
			want: []want{
				{"upstreams[0].hash_on_cookie", up, `invalid cookie name "a;b"`},
				{"upstreams[0].hash_on_cookie_path", up, `invalid path "x"`},
				{"upstreams[0].hash_on_header", up, `invalid header name "x y"`},
			},
		},
		{
			name:   "host_header",
			mutate: func(c *Config) { c.Upstreams[0].HostHeader = "bad host" },
			want:   []want{{"upstreams[0].host_header", up, "invalid hostname"}},
		},
		{
			name:   "host_header with port",
			mutate: func(c *Config) { c.Upstreams[0].HostHeader = "api.example.com:8443" },
		},
		{
			name: "active healthcheck ranges",
			mutate: func(c *Config) {
				a := &c.Upstreams[0].Healthchecks.Active
				a.Type = "udp"
				a.Concurrency = 0
				a.Timeout = -1
				a.HTTPPath = "status"
				a.HTTPSSNI = "10.0.0.1"
				a.Headers = map[string][]string{"x y": {"a"}}
				a.Healthy.Interval = 70000
				a.Healthy.Successes = -1
				a.Unhealthy.HTTPStatuses = []int{99, 500, 1000}
				a.Unhealthy.TCPFailures = -1
				a.Unhealthy.Timeouts = -2
				a.Unhealthy.HTTPFailures = 1<<31 + 1
			},
			want: []want{
				{"upstreams[0].healthchecks.active.concurrency", up, "0 is out of range 1..2147483648"},
				{`upstreams[0].healthchecks.active.headers["x y"]`, up, `invalid header name "x y"`},
				{"upstreams[0].healthchecks.active.healthy.interval", up, "70000 is out of range 0..65535 (seconds)"},
				{"upstreams[0].healthchecks.active.healthy.successes", up, "-1 is out of range 0..2147483648"},
				{"upstreams[0].healthchecks.active.http_path", up, `invalid path "status"`},
				{"upstreams[0].healthchecks.active.https_sni", up, "must not be an IP address"},
				{"upstreams[0].healthchecks.active.timeout", up, "-1 is out of range 0..65535 (seconds)"},
				{"upstreams[0].healthchecks.active.type", up, `invalid value "udp" (want http, https, tcp, grpc or grpcs)`},
				{"upstreams[0].healthchecks.active.unhealthy.http_failures", up, "2147483649 is out of range"},
				{"upstreams[0].healthchecks.active.unhealthy.http_statuses[0]", up, "invalid status 99 (want 100..999)"},
				{"upstreams[0].healthchecks.active.unhealthy.http_statuses[2]", up, "invalid status 1000 (want 100..999)"},
				{"upstreams[0].healthchecks.active.unhealthy.tcp_failures", up, "-1 is out of range"},
				{"upstreams[0].healthchecks.active.unhealthy.timeouts", up, "-2 is out of range"},
			},
		},
		{
			name: "passive healthcheck rules",
			mutate: func(c *Config) {
				h := &c.Upstreams[0].Healthchecks
				h.Passive.Type = "bogus"
				h.Passive.Healthy.Interval = 1
				h.Passive.Unhealthy.Interval = 2
				h.Passive.Unhealthy.HTTPStatuses = []int{600, 1999}
				h.Threshold = 150
			},
			want: []want{
				{"upstreams[0].healthchecks.passive.healthy.interval", up, "is not used by passive health checks; set it under active"},
				{"upstreams[0].healthchecks.passive.type", up, `invalid value "bogus"`},
				{"upstreams[0].healthchecks.passive.unhealthy.http_statuses[1]", up, "invalid status 1999"},
				{"upstreams[0].healthchecks.passive.unhealthy.interval", up, "is not used by passive health checks"},
				{"upstreams[0].healthchecks.threshold", up, "150 is out of range 0..100 (percent)"},
			},
		},
		{
			name:   "upstream still has nested targets",
			mutate: func(c *Config) { c.Upstreams[0].Targets = []Target{{Target: "a:1"}} },
			want:   []want{{"upstreams[0].targets", up, "Normalize"}},
		},

		// Targets.
		{
			name:   "target needs a port",
			mutate: func(c *Config) { c.Targets[0].Target = "10.0.0.1" },
			want:   []want{{"targets[0].target", `target "10.0.0.1"`, `invalid target "10.0.0.1": want host:port`}},
		},
		{
			name:   "target port zero",
			mutate: func(c *Config) { c.Targets[0].Target = "10.0.0.1:0" },
			want:   []want{{"targets[0].target", `target "10.0.0.1:0"`, "port must be 1..65535"}},
		},
		{
			name:   "target host syntax",
			mutate: func(c *Config) { c.Targets[0].Target = "bad host:80" },
			want:   []want{{"targets[0].target", `target "bad host:80"`, `invalid target "bad host:80": invalid hostname "bad host"`}},
		},
		{
			name:   "target required",
			mutate: func(c *Config) { c.Targets[0].Target = "" },
			want:   []want{{"targets[0].target", "", "required field missing"}},
		},
		{
			name:   "target weight range",
			mutate: func(c *Config) { c.Targets[0].Weight = ptr(65536) },
			want:   []want{{"targets[0].weight", tgt, "65536 is out of range 0..65535"}},
		},
		{
			name:   "duplicate target in an upstream",
			mutate: func(c *Config) { c.Targets = append(c.Targets, c.Targets[0]) },
			want:   []want{{"targets[1].target", tgt, `duplicate target "10.0.0.1:80" in upstream "up.example" (also targets[0])`}},
		},
		{
			name: "same target in two upstreams",
			mutate: func(c *Config) {
				c.Upstreams = append(c.Upstreams, newUpstream("other.example"))
				c.Targets = append(c.Targets, &Target{Target: "10.0.0.1:80", Upstream: "other.example", Weight: ptr(100)})
			},
		},

		// Consumers.
		{
			name:   "consumer needs username or custom_id",
			mutate: func(c *Config) { c.Consumers = append(c.Consumers, Consumer{}) },
			want:   []want{{"consumers[1]", "", "must set at least one of username or custom_id"}},
		},
		{
			name:   "consumer with only custom_id",
			mutate: func(c *Config) { c.Consumers = append(c.Consumers, Consumer{CustomID: "c-1"}) },
		},
		{
			name:   "duplicate username",
			mutate: func(c *Config) { c.Consumers = append(c.Consumers, Consumer{Username: "alice"}) },
			want:   []want{{"consumers[1].username", cons, `duplicate consumer username "alice" (also consumers[0])`}},
		},
		{
			name: "duplicate custom_id",
			mutate: func(c *Config) {
				c.Consumers[0].CustomID = "x"
				c.Consumers = append(c.Consumers, Consumer{CustomID: "x"})
			},
			want: []want{{"consumers[1].custom_id", `consumer custom_id "x"`, `duplicate consumer custom_id "x" (also consumers[0])`}},
		},
		{
			name: "credentials are objects",
			mutate: func(c *Config) {
				c.Consumers[0].HMACAuthCredentials = []json.RawMessage{json.RawMessage(`{"username":"u"}`), json.RawMessage(`"k"`)}
				c.Consumers[0].OAuth2Credentials = []json.RawMessage{json.RawMessage(`{`)}
			},
			want: []want{
				{"consumers[0].hmacauth_credentials[1]", cons, "expected object, got string"},
				{"consumers[0].oauth2_credentials[0]", cons, "invalid JSON"},
			},
		},
		{
			name: "credential required fields",
			mutate: func(c *Config) {
				c.Consumers[0].KeyauthCredentials = []KeyauthCredential{{}, {Key: "k", TTL: -1}}
				c.Consumers[0].BasicauthCredentials = []BasicauthCredential{{Username: "u"}}
				c.Consumers[0].JWTSecrets = []JWTSecret{{Key: "iss"}, {Key: "r", Algorithm: "RS256"}, {Key: "x", Algorithm: "none"}}
				c.Consumers[0].ACLs = []ACLGroup{{ID: "nope"}}
			},
			want: []want{
				{"consumers[0].acls[0].group", cons, "required field missing"},
				{"consumers[0].acls[0].id", cons, "UUID"},
				{"consumers[0].basicauth_credentials[0].password", cons, "required field missing"},
				{"consumers[0].jwt_secrets[0].secret", cons, "required for algorithm HS256"},
				{"consumers[0].jwt_secrets[1].rsa_public_key", cons, "required for algorithm RS256"},
				{"consumers[0].jwt_secrets[2].algorithm", cons, `unsupported algorithm "none"`},
				{"consumers[0].keyauth_credentials[0].key", cons, "required field missing"},
				{"consumers[0].keyauth_credentials[1].ttl", cons, "must be >= 0"},
			},
		},
		{
			name: "credentials unique across consumers",
			mutate: func(c *Config) {
				c.Consumers[0].KeyauthCredentials = []KeyauthCredential{{Key: "k"}}
				c.Consumers[0].BasicauthCredentials = []BasicauthCredential{{Username: "u", Password: "p"}}
				c.Consumers[0].JWTSecrets = []JWTSecret{{Key: "iss", Secret: "s"}}
				c.Consumers = append(c.Consumers, Consumer{Username: "other",
					KeyauthCredentials:   []KeyauthCredential{{Key: "k"}},
					BasicauthCredentials: []BasicauthCredential{{Username: "u", Password: "q"}},
					JWTSecrets:           []JWTSecret{{Key: "iss", Secret: "t"}},
				})
			},
			want: []want{
				{"consumers[1].basicauth_credentials[0].username", `consumer "other"`, `duplicate basic-auth username "u" (also consumers[0].basicauth_credentials[0])`},
				{"consumers[1].jwt_secrets[0].key", `consumer "other"`, `duplicate jwt key "iss" (also consumers[0].jwt_secrets[0])`},
				{"consumers[1].keyauth_credentials[0].key", `consumer "other"`, "duplicate key-auth key (also consumers[0].keyauth_credentials[0])"},
			},
		},
		{
			name:   "consumer still has nested plugins",
			mutate: func(c *Config) { c.Consumers[0].Plugins = []Plugin{{Name: "p"}} },
			want:   []want{{"consumers[0].plugins", cons, "Normalize"}},
		},

		// Plugins.
		{
			name:   "plugin name required",
			mutate: func(c *Config) { c.Plugins[0].Name = "" },
			want:   []want{{"plugins[0].name", "", "required field missing"}},
		},
		{
			name:   "fail_policy",
			mutate: func(c *Config) { c.Plugins[0].FailPolicy = "sometimes" },
			want:   []want{{"plugins[0].fail_policy", plug, `invalid value "sometimes" (want closed or open)`}},
		},
		{
			name: "opaque fields",
			mutate: func(c *Config) {
				c.Plugins[0].Config = json.RawMessage(`[1]`)
				c.Plugins[0].Ordering = json.RawMessage(`"first"`)
				c.Plugins[0].VMConfig = json.RawMessage(`{`)
			},
			want: []want{
				{"plugins[0].config", plug, "expected object, got array"},
				{"plugins[0].ordering", plug, "expected object, got string"},
				{"plugins[0].vm_config", plug, "invalid JSON"},
			},
		},
		{
			name:   "invalid config JSON",
			mutate: func(c *Config) { c.Plugins[0].Config = json.RawMessage(`{"a":`) },
			want:   []want{{"plugins[0].config", plug, "invalid JSON"}},
		},
		{
			name: "config object or null",
			mutate: func(c *Config) {
				c.Plugins[0].Config = json.RawMessage(` {"minute": 5} `)
				c.Plugins = append(c.Plugins, Plugin{Name: "cors", Config: json.RawMessage(`null`), FailPolicy: "open"})
			},
		},
		{
			name:   "plugin protocols",
			mutate: func(c *Config) { c.Plugins[0].Protocols = []string{"http", "tcp", "tls_passthrough", "ftp"} },
			want:   []want{{"plugins[0].protocols[3]", plug, `invalid protocol "ftp"`}},
		},
		{
			name:   "duplicate plugin on a service",
			mutate: func(c *Config) { c.Plugins = append(c.Plugins, c.Plugins[0]) },
			want:   []want{{"plugins[1]", plug, `duplicate plugin "key-auth" on the same service "svc" (also plugins[0])`}},
		},
		{
			name: "duplicate plugin named by name and by id",
			mutate: func(c *Config) {
				c.Services[0].ID = uuid1
				p := c.Plugins[0]
				p.Service = uuid1
				c.Plugins = append(c.Plugins, p)
			},
			want: []want{{"plugins[1]", plug, "duplicate plugin"}},
		},
		{
			name: "duplicate global plugin",
			mutate: func(c *Config) {
				c.Plugins[0].Service = ""
				c.Plugins = append(c.Plugins, c.Plugins[0])
			},
			want: []want{{"plugins[1]", plug, `duplicate plugin "key-auth" on the same global scope`}},
		},
		{
			name: "same plugin at different scopes",
			mutate: func(c *Config) {
				p := c.Plugins[0]
				p.Service, p.Route = "", "r"
				g := c.Plugins[0]
				g.Service = ""
				c.Plugins = append(c.Plugins, p, g)
			},
		},
		{
			name: "instance names",
			mutate: func(c *Config) {
				c.Plugins[0].InstanceName = "ka"
				c.Plugins = append(c.Plugins,
					Plugin{Name: "key-auth", InstanceName: "ka", Route: "r", FailPolicy: "closed"},
					Plugin{Name: "cors", InstanceName: "bad name", FailPolicy: "closed"})
			},
			want: []want{
				{"plugins[1].instance_name", `plugin "key-auth" (instance "ka")`, `duplicate instance_name "ka" (also plugins[0])`},
				{"plugins[2].instance_name", `plugin "cors" (instance "bad name")`, "only letters"},
			},
		},

		// Certificates.
		{
			name:   "cert and key required",
			mutate: func(c *Config) { c.Certificates[0].Cert, c.Certificates[0].Key = "", " \n" },
			want: []want{
				{"certificates[0].cert", cert, "required field missing"},
				{"certificates[0].key", cert, "required field missing"},
			},
		},
		{
			name:   "alternate cert needs its key",
			mutate: func(c *Config) { c.Certificates[0].CertAlt = "ALT" },
			want:   []want{{"certificates[0]", cert, "cert_alt and key_alt must be set together"}},
		},
		{
			name: "certificate snis",
			mutate: func(c *Config) {
				c.Certificates[0].SNIs = append(c.Certificates[0].SNIs, SNI{"*.example.com"}, SNI{"a b"}, SNI{""}, SNI{"10.0.0.1"}, SNI{"A.example.com"})
			},
			want: []want{
				{"certificates[0].snis[2]", cert, `invalid sni "a b"`},
				{"certificates[0].snis[3].name", cert, "required field missing"},
				{"certificates[0].snis[4]", cert, "must not be an IP address"},
				{"certificates[0].snis[5]", cert, `duplicate sni "A.example.com" (also certificates[0].snis[0])`},
			},
		},
		{
			name:   "sni used by two certificates",
			mutate: func(c *Config) { c.Certificates = append(c.Certificates, c.Certificates[0]) },
			want:   []want{{"certificates[1].snis[0]", cert, `duplicate sni "a.example.com" (also certificates[0].snis[0])`}},
		},

		// Weir.
		{
			name: "listen addresses",
			mutate: func(c *Config) {
				c.Weir.ProxyListen = "8000"
				c.Weir.AdminListen = "127.0.0.1:http"
				c.Weir.StatusListen = "bad host:8100"
			},
			want: []want{
				{"weir.admin_listen", "", `invalid listen address "127.0.0.1:http": invalid port "http"`},
				{"weir.proxy_listen", "", `invalid listen address "8000": want host:port`},
				{"weir.status_listen", "", `invalid listen address "bad host:8100"`},
			},
		},
		{
			name: "valid listen addresses",
			mutate: func(c *Config) {
				c.Weir.ProxyListen, c.Weir.AdminListen, c.Weir.StatusListen = ":8000", "[::1]:8001", "localhost:0"
			},
		},
		{
			name: "trusted ips",
			mutate: func(c *Config) {
				c.Weir.TrustedIPs = []string{"10.0.0.0/8", "::1", "192.168.1.1", "2001:db8::/32", "bogus", "10.0.0.0/33"}
			},
			want: []want{
				{"weir.trusted_ips[4]", "", `invalid trusted IP "bogus": want an IP address or CIDR`},
				{"weir.trusted_ips[5]", "", `invalid trusted IP "10.0.0.0/33"`},
			},
		},
		{
			name:   "request id header",
			mutate: func(c *Config) { c.Weir.RequestIDHeader = "bad header" },
			want:   []want{{"weir.request_id_header", "", `invalid header name "bad header"`}},
		},
		{
			name:   "request id header off",
			mutate: func(c *Config) { c.Weir.RequestIDHeader = "off" },
		},
		{
			name:   "shutdown timeout",
			mutate: func(c *Config) { c.Weir.ShutdownTimeout = -1 },
			want:   []want{{"weir.shutdown_timeout", "", "-1 is out of range 1..2147483647 (ms)"}},
		},
		{
			name: "compression settings",
			mutate: func(c *Config) {
				cp := &c.Weir.Compression
				cp.Algorithms = []string{"gzip", "br", "GZIP"}
				cp.GzipLevel, cp.ZstdLevel, cp.MinLength = 10, 5, 1<<21
				cp.ContentTypes = []string{"text", "text/*", "*/json", "application/*+json", "text/html; charset=utf-8", "*/*"}
			},
			want: []want{
				{"weir.compression.algorithms[1]", "", `unsupported algorithm "br" (want zstd or gzip)`},
				{"weir.compression.algorithms[2]", "", `duplicate algorithm "GZIP"`},
				{"weir.compression.content_types[0]", "", `"text" is not a media type`},
				{"weir.compression.content_types[2]", "", "a wildcard type needs a wildcard subtype"},
				{"weir.compression.content_types[4]", "", "parameters are not allowed"},
				{"weir.compression.gzip_level", "", "10 is out of range 1..9"},
				{"weir.compression.min_length", "", "2097152 is too large"},
				{"weir.compression.zstd_level", "", "5 is out of range 1..4"},
			},
		},
		{
			name:   "compression algorithms empty",
			mutate: func(c *Config) { c.Weir.Compression.Algorithms = nil },
			want:   []want{{"weir.compression.algorithms", "", "must not be empty"}},
		},
		{
			name:   "negative min_length disables the minimum",
			mutate: func(c *Config) { c.Weir.Compression.MinLength = -1 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNormalize(t, validBase)
			tt.mutate(c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ve := fieldErrors(t, err)
			if len(ve) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(ve), len(tt.want), err)
			}
			for i, w := range tt.want {
				e := ve[i]
				if e.Path != w.path || e.Entity != w.entity || !strings.Contains(e.Message, w.msg) {
					t.Errorf("error %d = {Path: %q, Entity: %q, Message: %q}\nwant {Path: %q, Entity: %q, Message: ...%q...}",
						i, e.Path, e.Entity, e.Message, w.path, w.entity, w.msg)
				}
			}
		})
	}
}

func TestValidateKongYML(t *testing.T) {
	c, err := Load("testdata/kong.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	counts := map[string][2]int{
		"services":     {len(c.Services), 4},
		"routes":       {len(c.Routes), 5},
		"upstreams":    {len(c.Upstreams), 2},
		"targets":      {len(c.Targets), 4},
		"consumers":    {len(c.Consumers), 2},
		"plugins":      {len(c.Plugins), 5},
		"certificates": {len(c.Certificates), 1},
	}
	for kind, n := range counts {
		if n[0] != n[1] {
			t.Errorf("%d %s, want %d", n[0], kind, n[1])
		}
	}
	byName := map[string]*Route{}
	for _, r := range c.Routes {
		byName[r.Name] = r
	}
	if r := byName["versioned-api"]; r.Service != "example-service" || *r.StripPath || r.RegexPriority != 10 {
		t.Errorf("versioned-api = %+v", r)
	}
	if r := byName["grpc-route"]; r.Service != "grpc-service" || *r.StripPath {
		t.Errorf("grpc-route = %+v", r)
	}
	if s := c.Services[0]; s.Host != "httpbin.example.com" || s.Port != 8080 || s.Path != "/anything" || *s.Retries != 3 {
		t.Errorf("example-service = %+v", s)
	}
}

func TestValidateErrorsPointIntoTheDocument(t *testing.T) {
	c := mustNormalize(t, `_format_version: "3.0"
services:
- name: s
  host: example.com
  routes:
  - name: ok
    paths: [/ok]
  - name: api
    paths: [/a, "~/("]
    plugins:
    - name: p
      fail_policy: never
upstreams:
- name: u
  targets:
  - target: 10.0.0.1:80
    weight: -1
`)
	ve := fieldErrors(t, c.Validate())
	want := []string{
		`services[0].routes[1] (route "api"): paths[1]: invalid regex "~/(": error parsing regexp: missing closing ): ` + "`/(`",
		`services[0].routes[1].plugins[0] (plugin "p"): fail_policy: invalid value "never" (want closed or open)`,
		`upstreams[0].targets[0] (target "10.0.0.1:80"): weight: -1 is out of range 0..65535`,
	}
	if len(ve) != len(want) {
		t.Fatalf("errors: %v", ve)
	}
	for i, w := range want {
		if got := ve[i].Error(); got != w {
			t.Errorf("error %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

func TestValidateReportsAllSorted(t *testing.T) {
	c := mustNormalize(t, validBase)
	for i := range 12 {
		r := *c.Routes[0]
		r.Name = "r" + string(rune('a'+i))
		c.Routes = append(c.Routes, &r)
	}
	c.Routes[11].Paths = []string{"bad"}
	c.Routes[2].Paths = []string{"bad"}
	c.Services[0].Port = -1
	ve := fieldErrors(t, c.Validate())
	var paths []string
	for _, e := range ve {
		paths = append(paths, e.Path)
	}
	want := []string{"routes[2].paths[0]", "routes[11].paths[0]", "services[0].port"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("paths = %v, want %v", paths, want)
	}
	text := ve.Error()
	if !strings.HasPrefix(text, "3 configuration errors:\n  routes[2] (route \"rb\"): paths[0]: ") {
		t.Errorf("Error() = %q", text)
	}
}
