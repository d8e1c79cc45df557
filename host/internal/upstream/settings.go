package upstream

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weirproxy/weir/host/config"
)

// Kong's defaults (kong/db/schema/entities/upstreams.lua). Zero values in
// config.Upstream are read as these.
const (
	defaultWeight      = 100
	maxWeight          = 65535
	defaultTargetPort  = "8000"
	defaultCookiePath  = "/"
	defaultHTTPPath    = "/"
	defaultConcurrency = 10
	defaultTimeout     = time.Second

	// DefaultCooldown is how long a target tripped unhealthy stays out of
	// rotation when no active check can bring it back (see package doc).
	DefaultCooldown = 10 * time.Second
	// maxCooldown caps the doubling cool-down of a repeatedly tripped target.
	maxCooldown = 5 * time.Minute
)

var (
	defaultActiveHealthy    = []int{200, 302}
	defaultActiveUnhealthy  = []int{429, 404, 500, 501, 502, 503, 504, 505}
	defaultPassiveHealthy   = []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}
	defaultPassiveUnhealthy = []int{429, 500, 503}
)

type algorithm uint8

const (
	algoRoundRobin algorithm = iota
	algoLeastConn
	algoHash
)

func (a algorithm) String() string {
	switch a {
	case algoLeastConn:
		return "least-connections"
	case algoHash:
		return "consistent-hashing"
	}
	return "round-robin"
}

type hashKind uint8

const (
	hashNone hashKind = iota
	hashConsumer
	hashIP
	hashHeader
	hashCookie
	hashPath
	hashQueryArg
	hashURICapture
)

// hashSpec is one hash_on (or hash_fallback) input with its parameter
// (header name in canonical form, cookie, query argument or capture name).
type hashSpec struct {
	kind  hashKind
	param string
}

// statusClass classifies an HTTP status: 0 ignored, classHealthy, classUnhealthy.
type statusClass [600]uint8

const (
	classIgnore uint8 = iota
	classHealthy
	classUnhealthy
)

func (c *statusClass) of(code int) uint8 {
	if code < 0 || code >= len(c) {
		return classIgnore
	}
	return c[code]
}

// limits are the counter thresholds of one check kind (active or passive).
// A zero limit disables that counter, exactly as in Kong.
type limits struct {
	successes    int
	httpFailures int
	tcpFailures  int
	timeouts     int
}

type probeType uint8

const (
	probeHTTP probeType = iota
	probeHTTPS
	probeTCP
)

type activeSettings struct {
	typ               probeType
	typeName          string
	concurrency       int
	path              string // request-target, validated
	sni               string
	verify            bool
	timeout           time.Duration
	header            http.Header
	host              string // Host header override (headers["Host"] or host_header)
	healthyInterval   time.Duration
	unhealthyInterval time.Duration
	limits            limits
	statuses          statusClass
}

type settings struct {
	algo       algorithm
	algoName   string
	hashOn     hashSpec
	fallback   hashSpec
	cookieName string
	cookiePath string
	threshold  float64

	active  activeSettings
	passive limits
	pstatus statusClass

	// hcEnabled mirrors Kong's is_upstream_using_healthcheck: false means
	// every target is reported HEALTHCHECKS_OFF and never leaves rotation.
	hcEnabled bool
	// activeRecovers: active probes of unhealthy targets can bring one back
	// (unhealthy.interval > 0 and healthy.successes > 0).
	activeRecovers bool
	cooldown       time.Duration
}

// newSettings reads u with Kong's defaults for zero values and checks what
// the balancer relies on; errors name the field.
func newSettings(u config.Upstream, opts Options) (settings, error) {
	var s settings
	switch a := strings.ToLower(u.Algorithm); a {
	case "", "round-robin":
		s.algo, s.algoName = algoRoundRobin, "round-robin"
	case "least-connections", "latency":
		// latency (Kong's EWMA of response times) is served by
		// least-connections: in-flight count is the dominant latency signal
		// for a proxy and needs no timing feedback from the data path.
		s.algo, s.algoName = algoLeastConn, a
	case "consistent-hashing", "sticky-sessions":
		s.algo, s.algoName = algoHash, a
	default:
		return s, fmt.Errorf("algorithm: unknown value %q (want round-robin, least-connections, consistent-hashing, latency or sticky-sessions)", u.Algorithm)
	}

	s.cookieName = u.HashOnCookie
	s.cookiePath = u.HashOnCookiePath
	if s.cookiePath == "" {
		s.cookiePath = defaultCookiePath
	}
	if s.algo == algoHash {
		var err error
		hashOn := u.HashOn
		if s.algoName == "sticky-sessions" {
			hashOn = "cookie"
		}
		if s.hashOn, err = newHashSpec("hash_on", hashOn, u.HashOnHeader, u.HashOnCookie, u.HashOnQueryArg, u.HashOnURICapture); err != nil {
			return s, err
		}
		if s.hashOn.kind != hashNone {
			if s.fallback, err = newHashSpec("hash_fallback", u.HashFallback, u.HashFallbackHeader, u.HashOnCookie, u.HashFallbackQueryArg, u.HashFallbackURICapture); err != nil {
				return s, err
			}
		}
		if s.hashOn.kind == hashCookie || s.fallback.kind == hashCookie {
			if err := checkCookie(s.cookieName, s.cookiePath); err != nil {
				return s, err
			}
		}
	}

	hc := u.Healthchecks
	if hc.Threshold < 0 || hc.Threshold > 100 {
		return s, fmt.Errorf("healthchecks.threshold: %v out of range 0..100", hc.Threshold)
	}
	s.threshold = hc.Threshold

	if err := newActive(&s.active, u, hc.Active); err != nil {
		return s, err
	}
	p := hc.Passive
	s.passive = limits{
		successes:    p.Healthy.Successes,
		httpFailures: p.Unhealthy.HTTPFailures,
		tcpFailures:  p.Unhealthy.TCPFailures,
		timeouts:     p.Unhealthy.Timeouts,
	}
	if err := checkLimits("healthchecks.passive", s.passive); err != nil {
		return s, err
	}
	if err := fillStatuses(&s.pstatus, "healthchecks.passive", p.Healthy.HTTPStatuses, defaultPassiveHealthy, p.Unhealthy.HTTPStatuses, defaultPassiveUnhealthy); err != nil {
		return s, err
	}

	s.hcEnabled = s.active.healthyInterval > 0 || s.active.unhealthyInterval > 0 ||
		s.passive.tcpFailures > 0 || s.passive.timeouts > 0 || s.passive.httpFailures > 0
	s.activeRecovers = s.active.unhealthyInterval > 0 && s.active.limits.successes > 0
	s.cooldown = opts.Cooldown
	if s.cooldown == 0 {
		s.cooldown = DefaultCooldown
	}
	return s, nil
}

func newHashSpec(field, on, header, cookie, arg, capture string) (hashSpec, error) {
	switch strings.ToLower(on) {
	case "", "none":
		return hashSpec{kind: hashNone}, nil
	case "consumer":
		return hashSpec{kind: hashConsumer}, nil
	case "ip":
		return hashSpec{kind: hashIP}, nil
	case "path":
		return hashSpec{kind: hashPath}, nil
	case "header":
		if header == "" {
			return hashSpec{}, fmt.Errorf("%s_header: required when %s is header", field, field)
		}
		// Pre-canonicalised so the per-request map lookup never allocates.
		return hashSpec{kind: hashHeader, param: http.CanonicalHeaderKey(header)}, nil
	case "cookie":
		if cookie == "" {
			return hashSpec{}, fmt.Errorf("hash_on_cookie: required when %s is cookie", field)
		}
		return hashSpec{kind: hashCookie, param: cookie}, nil
	case "query_arg":
		if arg == "" {
			return hashSpec{}, fmt.Errorf("%s_query_arg: required when %s is query_arg", field, field)
		}
		return hashSpec{kind: hashQueryArg, param: arg}, nil
	case "uri_capture":
		if capture == "" {
			return hashSpec{}, fmt.Errorf("%s_uri_capture: required when %s is uri_capture", field, field)
		}
		return hashSpec{kind: hashURICapture, param: capture}, nil
	}
	return hashSpec{}, fmt.Errorf("%s: unknown value %q (want none, consumer, ip, header, cookie, path, query_arg or uri_capture)", field, on)
}

// checkCookie rejects names and paths that would make a malformed or
// header-splitting Set-Cookie value.
func checkCookie(name, path string) error {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return fmt.Errorf("hash_on_cookie: %q is not a valid cookie name", name)
		}
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < ' ' || c == ';' || c >= 0x7f {
			return fmt.Errorf("hash_on_cookie_path: %q is not a valid cookie path", path)
		}
	}
	return nil
}

func newActive(a *activeSettings, u config.Upstream, c config.ActiveHealthcheck) error {
	const f = "healthchecks.active"
	a.typeName = strings.ToLower(c.Type)
	switch a.typeName {
	case "", "http":
		a.typ, a.typeName = probeHTTP, "http"
	case "https":
		a.typ = probeHTTPS
	case "tcp", "grpc", "grpcs":
		// grpc/grpcs probes (grpc.health.v1) are not implemented: they are
		// run as TCP connect checks, which is what a gRPC probe first does.
		a.typ = probeTCP
	default:
		return fmt.Errorf("%s.type: unknown value %q (want http, https, tcp, grpc or grpcs)", f, c.Type)
	}
	a.concurrency = c.Concurrency
	if a.concurrency <= 0 {
		a.concurrency = defaultConcurrency
	}
	a.path = c.HTTPPath
	if a.path == "" {
		a.path = defaultHTTPPath
	}
	if u, err := url.ParseRequestURI(a.path); err != nil || !strings.HasPrefix(a.path, "/") || u.Host != "" {
		return fmt.Errorf("%s.http_path: %q is not an absolute path", f, c.HTTPPath)
	}
	a.sni = c.HTTPSSNI
	a.verify = c.HTTPSVerifyCertificate == nil || *c.HTTPSVerifyCertificate
	if c.Timeout < 0 {
		return fmt.Errorf("%s.timeout: %v must not be negative", f, c.Timeout)
	}
	a.timeout = seconds(c.Timeout)
	if a.timeout <= 0 {
		a.timeout = defaultTimeout
	}
	a.host = u.HostHeader
	if len(c.Headers) > 0 {
		a.header = make(http.Header, len(c.Headers))
		for k, vs := range c.Headers {
			if !validHeaderName(k) {
				return fmt.Errorf("%s.headers: %q is not a valid header name", f, k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					return fmt.Errorf("%s.headers.%s: value contains a control character", f, k)
				}
			}
			ck := http.CanonicalHeaderKey(k)
			if ck == "Host" {
				if len(vs) > 0 {
					a.host = vs[0]
				}
				continue
			}
			a.header[ck] = append([]string(nil), vs...)
		}
	}
	if c.Healthy.Interval < 0 || c.Unhealthy.Interval < 0 {
		return fmt.Errorf("%s: intervals must not be negative", f)
	}
	a.healthyInterval = seconds(c.Healthy.Interval)
	a.unhealthyInterval = seconds(c.Unhealthy.Interval)
	a.limits = limits{
		successes:    c.Healthy.Successes,
		httpFailures: c.Unhealthy.HTTPFailures,
		tcpFailures:  c.Unhealthy.TCPFailures,
		timeouts:     c.Unhealthy.Timeouts,
	}
	if err := checkLimits(f, a.limits); err != nil {
		return err
	}
	return fillStatuses(&a.statuses, f, c.Healthy.HTTPStatuses, defaultActiveHealthy, c.Unhealthy.HTTPStatuses, defaultActiveUnhealthy)
}

func checkLimits(field string, l limits) error {
	for _, v := range [...]struct {
		name string
		n    int
	}{
		{"healthy.successes", l.successes},
		{"unhealthy.http_failures", l.httpFailures},
		{"unhealthy.tcp_failures", l.tcpFailures},
		{"unhealthy.timeouts", l.timeouts},
	} {
		// Kong caps the counters at 254 (8-bit shm counters).
		if v.n < 0 || v.n > 254 {
			return fmt.Errorf("%s.%s: %d out of range 0..254", field, v.name, v.n)
		}
	}
	return nil
}

// fillStatuses builds the classification table. A nil list means Kong's
// default; an explicitly empty list means no status of that class.
func fillStatuses(c *statusClass, field string, healthy, defHealthy, unhealthy, defUnhealthy []int) error {
	if healthy == nil {
		healthy = defHealthy
	}
	if unhealthy == nil {
		unhealthy = defUnhealthy
	}
	for _, code := range unhealthy {
		if code < 100 || code > 599 {
			return fmt.Errorf("%s.unhealthy.http_statuses: %d out of range 100..599", field, code)
		}
		c[code] = classUnhealthy
	}
	// Kong checks the healthy list first, so it wins on overlap.
	for _, code := range healthy {
		if code < 100 || code > 599 {
			return fmt.Errorf("%s.healthy.http_statuses: %d out of range 100..599", field, code)
		}
		c[code] = classHealthy
	}
	return nil
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// normalizeAddr returns host:port for a Kong target string, adding Kong's
// default port 8000 when it has none.
func normalizeAddr(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("target: empty address")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		switch {
		case net.ParseIP(s) != nil: // bare IPv6
			host, port = s, defaultTargetPort
		case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			host, port = s[1:len(s)-1], defaultTargetPort
		case !strings.Contains(s, ":"):
			host, port = s, defaultTargetPort
		default:
			return "", fmt.Errorf("target %q: %v", s, err)
		}
	}
	if host == "" {
		return "", fmt.Errorf("target %q: empty host", s)
	}
	if strings.ContainsAny(host, " /\\?#@\r\n\t") {
		return "", fmt.Errorf("target %q: invalid host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("target %q: invalid port %q", s, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}
