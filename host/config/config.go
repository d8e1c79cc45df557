// Package config is Weir's one configuration schema.
//
// Every input (the declarative YAML file, POST /config on the admin port, and
// later the Kubernetes translator) produces a [Config]. The file format is a
// subset of Kong's decK `_format_version: "3.0"` declarative format, so a
// Kong DB-less kong.yml with services, routes, upstreams and targets loads
// unchanged, plus a `weir:` section for Weir's own settings.
//
// The life of a config is: [Parse] (decode YAML or JSON, reject unknown
// fields with their path) → [Config.Normalize] (flatten nested entities,
// fill Kong's defaults) → [Config.Validate] (every error names the object
// and the field). Only a config that passes all three is handed to the
// runtime; a bad one never replaces the running one.
//
// Plugin configuration stays opaque JSON ([json.RawMessage]): it is
// validated by the plugin itself, not here.
package config

import "encoding/json"

// FormatVersion is the decK format version Weir reads.
const FormatVersion = "3.0"

// Config is a whole declarative configuration.
type Config struct {
	FormatVersion string `json:"_format_version"`
	// Transform, Info and Workspace are decK metadata; accepted and ignored.
	Transform *bool           `json:"_transform,omitempty"`
	Info      json.RawMessage `json:"_info,omitempty"`
	Workspace string          `json:"_workspace,omitempty"`

	Weir Weir `json:"weir,omitzero"`

	// Routes, services, upstreams and targets are held by pointer so that
	// a caller can share the unchanged ones between the configurations it
	// hands over (the Kubernetes controller, 10,000s of them): Normalize
	// works on copies and nothing in Weir writes to an entity it was
	// given (TestNormalizeLeavesEntitiesAlone,
	// TestApplyConfigLeavesEntitiesAlone). A nil entry is an entity with
	// every field zero.
	Services     []*Service    `json:"services,omitempty"`
	Routes       []*Route      `json:"routes,omitempty"`
	Upstreams    []*Upstream   `json:"upstreams,omitempty"`
	Targets      []*Target     `json:"targets,omitempty"`
	Plugins      []Plugin      `json:"plugins,omitempty"`
	Consumers    []Consumer    `json:"consumers,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
	// CACertificates are accepted so Kong files load; used by a later issue.
	CACertificates []json.RawMessage `json:"ca_certificates,omitempty"`

	// origins maps the path of an entity that Normalize moved to the top
	// level ("routes[7]") to where the document declared it
	// ("services[0].routes[1]"), so Validate's errors point into the file.
	origins map[string]string
}

// Weir holds Weir's own settings (not part of Kong's format).
type Weir struct {
	// ProxyListen, AdminListen and StatusListen are listen addresses
	// (host:port). Flags and WEIR_* environment variables override them.
	ProxyListen  string `json:"proxy_listen,omitempty"`
	AdminListen  string `json:"admin_listen,omitempty"`
	StatusListen string `json:"status_listen,omitempty"`

	// TrustedIPs are CIDRs whose X-Forwarded-* headers are believed
	// (Kong's trusted_ips). Empty: no client is trusted.
	TrustedIPs []string `json:"trusted_ips,omitempty"`
	// RequestIDHeader names the request id header sent upstream and to the
	// client. Default "X-Request-Id". "off" disables it.
	RequestIDHeader string `json:"request_id_header,omitempty"`
	// ServerTokens: when true (default) Weir adds `Via` to proxied
	// messages and `Server: weir` to responses that lack one.
	ServerTokens *bool `json:"server_tokens,omitempty"`

	Compression Compression `json:"compression,omitzero"`

	// ShutdownTimeout bounds how long graceful shutdown waits for
	// in-flight requests, in milliseconds. Default 30000.
	ShutdownTimeout int `json:"shutdown_timeout,omitempty"`

	// Modules configures fetching plugin modules (oci://, https://).
	Modules Modules `json:"modules,omitzero"`

	// Observability: metrics, tracing, access log, latency headers
	// (observability.go).
	Metrics        Metrics        `json:"metrics,omitzero"`
	Tracing        *Tracing       `json:"tracing,omitempty"`
	AccessLog      *AccessLog     `json:"access_log,omitempty"`
	LatencyHeaders LatencyHeaders `json:"latency_headers,omitzero"`
	// HTTPSListen is the TLS proxy listener (Kong's 8443), "off" to
	// disable it. Flags and WEIR_HTTPS_LISTEN override it.
	HTTPSListen string `json:"https_listen,omitempty"`
	// ACME turns on automatic certificates (see [ACME]); nil: none.
	ACME *ACME `json:"acme,omitempty"`
}

// Compression configures response compression.
type Compression struct {
	Enabled bool `json:"enabled,omitempty"`
	// Algorithms in order of server preference: "zstd", "gzip".
	// Default ["zstd", "gzip"].
	Algorithms []string `json:"algorithms,omitempty"`
	// MinLength: responses with a known smaller length pass uncompressed.
	// Default 1024.
	MinLength int `json:"min_length,omitempty"`
	// GzipLevel 1..9, default 5 (Caddy's choice). ZstdLevel 1..4
	// (fastest, default, better, best), default 1.
	GzipLevel int `json:"gzip_level,omitempty"`
	ZstdLevel int `json:"zstd_level,omitempty"`
	// ContentTypes, when set, limits compression to these media types
	// (a trailing `/*` matches a whole family). Default: text/*, and the
	// common JSON, JavaScript, XML, SVG and wasm types.
	ContentTypes []string `json:"content_types,omitempty"`
}

// Service is an upstream API: where requests go (Kong's Service).
type Service struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// URL is shorthand for protocol, host, port and path.
	URL string `json:"url,omitempty"`
	// Protocol: http (default), https, grpc, grpcs (HTTP/2 to the
	// upstream, h2c for grpc), or weir: a built-in responder named by Host
	// ("echo" describes the request as JSON; the embedded default uses it).
	Protocol string `json:"protocol,omitempty"`
	// Host is a hostname, an IP, or the name of an Upstream.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	Path string `json:"path,omitempty"`

	Retries        *int `json:"retries,omitempty"`         // default 5
	ConnectTimeout int  `json:"connect_timeout,omitempty"` // ms, default 60000
	WriteTimeout   int  `json:"write_timeout,omitempty"`   // ms, default 60000
	ReadTimeout    int  `json:"read_timeout,omitempty"`    // ms, default 60000

	Enabled           *bool           `json:"enabled,omitempty"`
	Tags              []string        `json:"tags,omitempty"`
	TLSVerify         *bool           `json:"tls_verify,omitempty"`
	TLSVerifyDepth    *int            `json:"tls_verify_depth,omitempty"`
	ClientCertificate json.RawMessage `json:"client_certificate,omitempty"`
	CACertificates    []string        `json:"ca_certificates,omitempty"`

	// Nested entities (decK style); Normalize moves them to the top level.
	Routes  []Route  `json:"routes,omitempty"`
	Plugins []Plugin `json:"plugins,omitempty"`
}

// Route matches requests and sends them to a Service (Kong's Route).
type Route struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Service names (or ids) the service; set implicitly when nested.
	Service string `json:"service,omitempty"`

	Protocols []string            `json:"protocols,omitempty"` // default [http, https]
	Methods   []string            `json:"methods,omitempty"`
	Hosts     []string            `json:"hosts,omitempty"`
	Paths     []string            `json:"paths,omitempty"`
	Headers   map[string][]string `json:"headers,omitempty"`
	SNIs      []string            `json:"snis,omitempty"`

	// PathType is a Weir field for Ingress semantics: "" (Kong: prefix,
	// or regex when the path starts with `~`), "Exact" or "Prefix"
	// (element-wise, as Kubernetes Ingress defines it).
	PathType string `json:"path_type,omitempty"`
	// OneLabelWildcard is a Weir field for Ingress semantics: a "*." (or
	// ".*") wildcard host covers exactly one DNS label, also for routes
	// without path_type (ImplementationSpecific Ingress paths). Routes
	// with a path_type always behave this way.
	OneLabelWildcard bool `json:"one_label_wildcard,omitempty"`

	StripPath               *bool    `json:"strip_path,omitempty"`    // default true
	PreserveHost            *bool    `json:"preserve_host,omitempty"` // default false
	RegexPriority           int      `json:"regex_priority,omitempty"`
	HTTPSRedirectStatusCode int      `json:"https_redirect_status_code,omitempty"` // default 426
	PathHandling            string   `json:"path_handling,omitempty"`              // v0 (default) or v1
	RequestBuffering        *bool    `json:"request_buffering,omitempty"`
	ResponseBuffering       *bool    `json:"response_buffering,omitempty"`
	Tags                    []string `json:"tags,omitempty"`

	Plugins []Plugin `json:"plugins,omitempty"`

	// ACME is a Weir field: the route's hosts get certificates from the
	// ACME CA configured in weir.acme.
	ACME bool `json:"acme,omitempty"`
}

// Upstream is a virtual hostname with a pool of targets (Kong's Upstream).
type Upstream struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Algorithm: round-robin (default), least-connections,
	// consistent-hashing, latency (accepted, treated as least-connections).
	Algorithm              string          `json:"algorithm,omitempty"`
	Slots                  int             `json:"slots,omitempty"`   // default 10000
	HashOn                 string          `json:"hash_on,omitempty"` // none|consumer|ip|header|cookie|path|query_arg|uri_capture
	HashFallback           string          `json:"hash_fallback,omitempty"`
	HashOnHeader           string          `json:"hash_on_header,omitempty"`
	HashFallbackHeader     string          `json:"hash_fallback_header,omitempty"`
	HashOnCookie           string          `json:"hash_on_cookie,omitempty"`
	HashOnCookiePath       string          `json:"hash_on_cookie_path,omitempty"` // default "/"
	HashOnQueryArg         string          `json:"hash_on_query_arg,omitempty"`
	HashFallbackQueryArg   string          `json:"hash_fallback_query_arg,omitempty"`
	HashOnURICapture       string          `json:"hash_on_uri_capture,omitempty"`
	HashFallbackURICapture string          `json:"hash_fallback_uri_capture,omitempty"`
	HostHeader             string          `json:"host_header,omitempty"`
	UseSRVName             *bool           `json:"use_srv_name,omitempty"`
	ClientCertificate      json.RawMessage `json:"client_certificate,omitempty"`
	Tags                   []string        `json:"tags,omitempty"`

	Healthchecks Healthchecks `json:"healthchecks,omitempty"`

	// Nested targets (decK style).
	Targets []Target `json:"targets,omitempty"`
}

// Target is one backend address of an Upstream.
type Target struct {
	ID       string   `json:"id,omitempty"`
	Upstream string   `json:"upstream,omitempty"` // set implicitly when nested
	Target   string   `json:"target"`             // host:port (port default 8000, as Kong)
	Weight   *int     `json:"weight,omitempty"`   // 0..65535, default 100; 0 = disabled
	Tags     []string `json:"tags,omitempty"`
}

// Healthchecks is Kong's upstream healthchecks object.
type Healthchecks struct {
	Active    ActiveHealthcheck  `json:"active,omitempty"`
	Passive   PassiveHealthcheck `json:"passive,omitempty"`
	Threshold float64            `json:"threshold,omitempty"`
}

// ActiveHealthcheck probes targets on a timer.
type ActiveHealthcheck struct {
	Type                   string              `json:"type,omitempty"`        // http (default), https, tcp, grpc, grpcs
	Concurrency            int                 `json:"concurrency,omitempty"` // default 10
	HTTPPath               string              `json:"http_path,omitempty"`   // default "/"
	HTTPSSNI               string              `json:"https_sni,omitempty"`
	HTTPSVerifyCertificate *bool               `json:"https_verify_certificate,omitempty"` // default true
	Timeout                float64             `json:"timeout,omitempty"`                  // seconds, default 1
	Headers                map[string][]string `json:"headers,omitempty"`
	Healthy                Healthy             `json:"healthy,omitempty"`
	Unhealthy              Unhealthy           `json:"unhealthy,omitempty"`
}

// PassiveHealthcheck watches proxied traffic (circuit breaking).
type PassiveHealthcheck struct {
	Type      string    `json:"type,omitempty"`
	Healthy   Healthy   `json:"healthy,omitempty"`
	Unhealthy Unhealthy `json:"unhealthy,omitempty"`
}

// Healthy is the healthy half of a healthcheck. Interval is in seconds;
// 0 disables active probing of healthy targets.
type Healthy struct {
	Interval     float64 `json:"interval,omitempty"`
	HTTPStatuses []int   `json:"http_statuses,omitempty"`
	Successes    int     `json:"successes,omitempty"`
}

// Unhealthy is the unhealthy half of a healthcheck.
type Unhealthy struct {
	Interval     float64 `json:"interval,omitempty"`
	HTTPStatuses []int   `json:"http_statuses,omitempty"`
	TCPFailures  int     `json:"tcp_failures,omitempty"`
	Timeouts     int     `json:"timeouts,omitempty"`
	HTTPFailures int     `json:"http_failures,omitempty"`
}

// Plugin is a plugin instance (Kong's Plugin). Executed by the wasm host
// (a later issue); stored and validated structurally here.
type Plugin struct {
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name"`
	InstanceName string          `json:"instance_name,omitempty"`
	Config       json.RawMessage `json:"config,omitempty"`
	Enabled      *bool           `json:"enabled,omitempty"`
	Protocols    []string        `json:"protocols,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
	Ordering     json.RawMessage `json:"ordering,omitempty"`
	// Scope: at most one of each; set implicitly when nested.
	Service  string `json:"service,omitempty"`
	Route    string `json:"route,omitempty"`
	Consumer string `json:"consumer,omitempty"`

	// Weir fields for wasm plugins.
	RootID     string          `json:"root_id,omitempty"`
	VMConfig   json.RawMessage `json:"vm_config,omitempty"`
	FailPolicy string          `json:"fail_policy,omitempty"` // closed (default) | open
	Priority   *int            `json:"priority,omitempty"`
	Limits     *PluginLimits   `json:"limits,omitempty"`
}

// Consumer is an API client identity (Kong's Consumer).
type Consumer struct {
	ID       string   `json:"id,omitempty"`
	Username string   `json:"username,omitempty"`
	CustomID string   `json:"custom_id,omitempty"`
	Tags     []string `json:"tags,omitempty"`

	Plugins []Plugin `json:"plugins,omitempty"`
	// Credentials, nested as decK writes them.
	KeyauthCredentials   []KeyauthCredential   `json:"keyauth_credentials,omitempty"`
	BasicauthCredentials []BasicauthCredential `json:"basicauth_credentials,omitempty"`
	JWTSecrets           []JWTSecret           `json:"jwt_secrets,omitempty"`
	ACLs                 []ACLGroup            `json:"acls,omitempty"`
	// HMAC and OAuth2 credentials are accepted so Kong files load; no
	// built-in plugin reads them yet.
	HMACAuthCredentials []json.RawMessage `json:"hmacauth_credentials,omitempty"`
	OAuth2Credentials   []json.RawMessage `json:"oauth2_credentials,omitempty"`
}

// KeyauthCredential is a key-auth API key (Kong's keyauth_credentials).
// Keys are unique across all consumers.
type KeyauthCredential struct {
	ID   string   `json:"id,omitempty"`
	Key  string   `json:"key"`
	TTL  int      `json:"ttl,omitempty"` // seconds; accepted, not enforced in declarative mode
	Tags []string `json:"tags,omitempty"`
}

// BasicauthCredential is a basic-auth username and password (Kong's
// basicauth_credentials). Usernames are unique across all consumers. The
// password is given in clear text in the file and stored hashed by the
// runtime, never kept or logged in clear.
type BasicauthCredential struct {
	ID       string   `json:"id,omitempty"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	Tags     []string `json:"tags,omitempty"`
}

// JWTSecret is a jwt credential (Kong's jwt_secrets). Key is matched
// against the token's key claim (iss by default) and is unique across all
// consumers; Secret signs HS* tokens, RSAPublicKey (PEM) verifies RS* and
// ES* tokens.
type JWTSecret struct {
	ID           string   `json:"id,omitempty"`
	Key          string   `json:"key"`
	Secret       string   `json:"secret,omitempty"`
	Algorithm    string   `json:"algorithm,omitempty"` // default HS256
	RSAPublicKey string   `json:"rsa_public_key,omitempty"`
	Tags         []string `json:"tags,omitempty"`
}

// ACLGroup puts a consumer in a group for the acl plugin (Kong's acls).
type ACLGroup struct {
	ID    string   `json:"id,omitempty"`
	Group string   `json:"group"`
	Tags  []string `json:"tags,omitempty"`
}

// Certificate is a TLS certificate and key with the SNIs it serves.
type Certificate struct {
	ID      string   `json:"id,omitempty"`
	Cert    string   `json:"cert"`
	Key     string   `json:"key"`
	CertAlt string   `json:"cert_alt,omitempty"`
	KeyAlt  string   `json:"key_alt,omitempty"`
	SNIs    []SNI    `json:"snis,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// SNI is a server name served by a Certificate. decK accepts either
// a plain string or {name: ...}.
type SNI struct {
	Name string `json:"name"`
}

// UnmarshalJSON accepts both `"example.com"` and `{"name": "example.com"}`.
func (s *SNI) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &s.Name)
	}
	type plain SNI
	return json.Unmarshal(b, (*plain)(s))
}
