package proxy

import (
	"crypto/tls"
	"net/http"
	"net/netip"
	"time"

	"github.com/weirproxy/weir/host/internal/router"
	"github.com/weirproxy/weir/host/internal/telemetry"
	"github.com/weirproxy/weir/host/internal/upstream"
)

// Snapshot is one immutable, fully built configuration: the route table
// and everything a request needs after matching. A new snapshot is built
// beside the running one and swapped in atomically; requests in flight
// finish on the snapshot they started with.
type Snapshot struct {
	Table  *router.Table
	Routes []*Route // parallel to the router's route slice

	Services  []*Service
	Balancers map[string]*upstream.Balancer // by upstream name (explicit upstreams)
	// Plugins are the running wasm plugins, by reuse key (module digest,
	// name, configuration and options).
	Plugins map[string]*Plugin
	// PluginSlots are the plugins by configuration slot (scope plus the
	// module reference without its version), so a plugin whose new
	// module cannot be fetched or compiled keeps serving its previous one.
	PluginSlots map[string]*Plugin
	Options     Options
	// Hash identifies the config the snapshot was built from.
	Hash [32]byte
}

// Options are the global, per-snapshot data-path settings.
type Options struct {
	// RequestIDHeader is sent upstream and to the client; "" disables it.
	RequestIDHeader string
	// ServerTokens adds Via and a Server header when missing.
	ServerTokens bool
	// TrustedIPs are the clients whose X-Forwarded-* headers are kept.
	TrustedIPs []netip.Prefix
	// Compress wraps responses when the client accepts an encoding; nil
	// disables compression.
	Compress Compressor
	// Obs are the telemetry settings (metrics, traces, access log,
	// latency headers); the zero value observes nothing.
	Obs Observability
}

// Compressor is the seam to the compression package.
type Compressor interface {
	Wrap(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func())
}

// Route is the runtime form of a configured route.
type Route struct {
	Name         string
	Service      *Service
	StripPath    bool
	PreserveHost bool
	// Protocols accepted: bit set of protoHTTP, protoHTTPS, protoGRPC, protoGRPCS.
	Protocols         uint8
	HTTPSRedirectCode int
	PathHandlingV1    bool
	// Plugins run on the route's requests, in order (already resolved
	// from global, service and route scopes by precedence and priority).
	Plugins []*Plugin
	// Metrics are the route's series; nil records none.
	Metrics *telemetry.RouteMetrics
	// Ext serves the weir.* foreign functions (consumers, counters) to
	// the route's plugins; nil answers them NOT_FOUND.
	Ext *Extensions
}

// Protocol bits for Route.Protocols.
const (
	ProtoHTTP uint8 = 1 << iota
	ProtoHTTPS
	ProtoGRPC
	ProtoGRPCS
)

// Service kinds.
const (
	KindHTTP = iota // HTTP/1.1 to the upstream (TLS when TLS != nil)
	KindH2          // HTTP/2 to the upstream: gRPC (h2c) and gRPCs
	KindEcho        // built-in responder describing the request
)

// Service is the runtime form of a configured service.
type Service struct {
	Name string
	Kind int
	// HostHeader is the Host sent upstream when the route does not
	// preserve the client's (service host, or the upstream's host_header).
	HostHeader string
	// Path is prepended to the forwarded path ("" or "/..." ).
	Path     string
	Balancer *upstream.Balancer
	Retries  int

	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration

	// TLS is set for https and grpcs services.
	TLS *tls.Config
	// TLSIdentity tells apart TLS configs with the same server name and
	// verification but another client certificate or CA bundle; it is
	// part of the connection pool key.
	TLSIdentity string
	// h2 serves KindH2 services.
	h2 http.RoundTripper
}
