package abi

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"
)

// Property paths.
//
// A guest names a property as NUL-separated segments, e.g.
// "request\x00headers\x00x-foo". The C++ SDK sends a trailing NUL; the Rust
// and Go SDKs do not. Envoy accepts both and so does SplitPath.

// Errors returned by SplitPath and the value decoders.
var (
	ErrPropertyPathEmpty        = errors.New("abi: property path is empty")
	ErrPropertyPathTooLong      = errors.New("abi: property path exceeds MaxPropertyPathBytes")
	ErrPropertyPathTooDeep      = errors.New("abi: property path exceeds MaxPropertyPathSegments")
	ErrPropertyPathEmptySegment = errors.New("abi: property path has an empty segment")
	// ErrPropertyValueSize: a fixed-size value (int, bool, duration,
	// timestamp) has the wrong number of bytes.
	ErrPropertyValueSize = errors.New("abi: property value has the wrong size")
)

// SplitPath splits a NUL-separated property path into segments. One
// trailing NUL is ignored. Empty paths, empty segments and paths beyond
// MaxPropertyPathBytes or MaxPropertyPathSegments are rejected (the host
// answers NOT_FOUND or BAD_ARGUMENT).
func SplitPath(b []byte) ([]string, error) {
	if len(b) > MaxPropertyPathBytes {
		return nil, ErrPropertyPathTooLong
	}
	// One string for the whole path, segments slice into it.
	segs, err := AppendPathSegments(nil, string(b))
	if err != nil {
		return nil, err
	}
	return segs, nil
}

// AppendPathSegments is SplitPath for a path already held as a string:
// it appends the segments, which slice into path, to dst. A caller that
// interns its paths and reuses dst splits without allocating.
func AppendPathSegments(dst []string, path string) ([]string, error) {
	if len(path) > MaxPropertyPathBytes {
		return dst, ErrPropertyPathTooLong
	}
	if len(path) > 0 && path[len(path)-1] == 0 {
		path = path[:len(path)-1]
	}
	if len(path) == 0 {
		return dst, ErrPropertyPathEmpty
	}
	n := strings.Count(path, "\x00") + 1
	if n > MaxPropertyPathSegments {
		return dst, ErrPropertyPathTooDeep
	}
	dst = slices.Grow(dst, n)
	for {
		i := strings.IndexByte(path, 0)
		seg := path
		if i >= 0 {
			seg = path[:i]
		}
		if seg == "" {
			return dst, ErrPropertyPathEmptySegment
		}
		dst = append(dst, seg)
		if i < 0 {
			return dst, nil
		}
		path = path[i+1:]
	}
}

// JoinPath builds a property path from segments, without a trailing NUL
// (as the Rust and Go SDKs send it). JoinPath("request", "headers", "x-foo")
// is "request\x00headers\x00x-foo".
func JoinPath(segs ...string) []byte {
	n := 0
	for _, s := range segs {
		n += len(s) + 1
	}
	if n == 0 {
		return nil
	}
	b := make([]byte, 0, n-1)
	for i, s := range segs {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	return b
}

// ValueKind is how a property value is encoded on the wire (Envoy
// serializeValue).
type ValueKind uint8

// Value kinds.
const (
	// ValueString is the raw UTF-8 bytes, no terminator.
	ValueString ValueKind = iota + 1
	// ValueInt is 8 bytes little-endian (int64 or uint64; see EncodeInt64).
	ValueInt
	// ValueBool is 1 byte, 0 or 1.
	ValueBool
	// ValueBytes is raw bytes (also serialized protobuf messages).
	ValueBytes
	// ValuePairs is the pairs serialization; lists use empty values.
	ValuePairs
	// ValueDuration is int64 nanoseconds, 8 bytes little-endian.
	ValueDuration
	// ValueTimestamp is int64 Unix nanoseconds, 8 bytes little-endian.
	ValueTimestamp
)

var valueKindNames = [...]string{"", "string", "int", "bool", "bytes", "pairs", "duration", "timestamp"}

// String returns the lower-case kind name, e.g. "timestamp".
func (k ValueKind) String() string {
	if k > 0 && uint64(k) < uint64(len(valueKindNames)) {
		return valueKindNames[k]
	}
	return "invalid"
}

// Property describes a well-known property Weir serves.
type Property struct {
	Type ValueKind
	Doc  string
}

// Well-known property names, dotted as in Envoy's attribute documentation.
// The wire path is the same with "." replaced by NUL between segments, e.g.
// PropRequestPath is requested as "request\x00path". Sub-keys of a map
// property are extra segments: "request\x00headers\x00x-foo" yields the
// header's values joined with ", " as a string.
const (
	PropRequestPath      = "request.path"
	PropRequestURLPath   = "request.url_path"
	PropRequestHost      = "request.host"
	PropRequestScheme    = "request.scheme"
	PropRequestMethod    = "request.method"
	PropRequestHeaders   = "request.headers"
	PropRequestReferer   = "request.referer"
	PropRequestUserAgent = "request.useragent"
	PropRequestTime      = "request.time"
	PropRequestID        = "request.id"
	PropRequestProtocol  = "request.protocol"
	PropRequestQuery     = "request.query"
	PropRequestDuration  = "request.duration"
	PropRequestSize      = "request.size"
	PropRequestTotalSize = "request.total_size"

	PropResponseCode        = "response.code"
	PropResponseCodeDetails = "response.code_details"
	PropResponseFlags       = "response.flags"
	PropResponseGRPCStatus  = "response.grpc_status"
	PropResponseHeaders     = "response.headers"
	PropResponseTrailers    = "response.trailers"
	PropResponseSize        = "response.size"
	PropResponseTotalSize   = "response.total_size"

	PropSourceAddress                 = "source.address"
	PropSourcePort                    = "source.port"
	PropDestinationAddress            = "destination.address"
	PropDestinationPort               = "destination.port"
	PropConnectionID                  = "connection.id"
	PropConnectionMTLS                = "connection.mtls"
	PropConnectionRequestedServerName = "connection.requested_server_name"
	PropConnectionTLSVersion          = "connection.tls_version"
	PropUpstreamAddress               = "upstream.address"
	PropUpstreamPort                  = "upstream.port"

	PropNode         = "node"
	PropClusterName  = "cluster_name"
	PropRouteName    = "route_name"
	PropPluginName   = "plugin_name"
	PropPluginRootID = "plugin_root_id"
	PropPluginVMID   = "plugin_vm_id"

	PropWeirRouteName        = "weir.route_name"
	PropWeirServiceName      = "weir.service_name"
	PropWeirConsumerID       = "weir.consumer.id"
	PropWeirConsumerUsername = "weir.consumer.username"
	PropWeirConsumerCustomID = "weir.consumer.custom_id"
	PropWeirCredentialID     = "weir.credential.id"
	PropWeirTraceID          = "weir.trace_id"
	// PropWeirConsumerGroups is the authenticated consumer's acl groups,
	// as pairs ("group", name), in configuration order.
	PropWeirConsumerGroups = "weir.consumer.groups"
)

// Properties lists the properties Weir serves through proxy_get_property,
// keyed by dotted name. Anything else answers NOT_FOUND, except values a
// plugin stored earlier in the same stream with proxy_set_property (Envoy
// keeps those under "wasm.<path>" and falls back to them; Weir does too).
// request.* is available from the request-headers callback on (duration,
// size and total_size once the request is complete); response.* once the
// response headers arrived. A property with no value in the current phase
// answers NOT_FOUND.
var Properties = map[string]Property{
	PropRequestPath:      {ValueString, "Path with query string, as received (:path)."},
	PropRequestURLPath:   {ValueString, "Path without the query string."},
	PropRequestHost:      {ValueString, "Host (:authority)."},
	PropRequestScheme:    {ValueString, `Scheme, "http" or "https".`},
	PropRequestMethod:    {ValueString, "Method."},
	PropRequestHeaders:   {ValuePairs, "Request headers, lower-case names; a further segment selects one header as a string (values joined with \", \")."},
	PropRequestReferer:   {ValueString, "Referer header."},
	PropRequestUserAgent: {ValueString, "User-Agent header."},
	PropRequestTime:      {ValueTimestamp, "Time the first request byte was received."},
	PropRequestID:        {ValueString, "Request ID (x-request-id)."},
	PropRequestProtocol:  {ValueString, `"HTTP/1.0", "HTTP/1.1", "HTTP/2" or "HTTP/3".`},
	PropRequestQuery:     {ValueString, "Query string without the leading '?'."},
	PropRequestDuration:  {ValueDuration, "Total request duration (complete requests only)."},
	PropRequestSize:      {ValueInt, "Request body size in bytes."},
	PropRequestTotalSize: {ValueInt, "Request size including headers and trailers."},

	PropResponseCode:        {ValueInt, "Response status code."},
	PropResponseCodeDetails: {ValueString, "Why the status was chosen (Envoy response code details, e.g. \"via_upstream\")."},
	PropResponseFlags:       {ValueInt, "Envoy response flags bit set; Weir sets the subset it can detect."},
	PropResponseGRPCStatus:  {ValueInt, "gRPC status of the response."},
	PropResponseHeaders:     {ValuePairs, "Response headers, lower-case names; a further segment selects one header."},
	PropResponseTrailers:    {ValuePairs, "Response trailers; a further segment selects one trailer."},
	PropResponseSize:        {ValueInt, "Response body size in bytes."},
	PropResponseTotalSize:   {ValueInt, "Response size including headers and trailers."},

	PropSourceAddress:                 {ValueString, "Downstream peer address as host:port."},
	PropSourcePort:                    {ValueInt, "Downstream peer port."},
	PropDestinationAddress:            {ValueString, "Local address the connection was accepted on, as host:port."},
	PropDestinationPort:               {ValueInt, "Local port."},
	PropConnectionID:                  {ValueInt, "Downstream connection ID (uint64 in Envoy, same 8-byte encoding)."},
	PropConnectionMTLS:                {ValueBool, "Whether the client presented a verified certificate."},
	PropConnectionRequestedServerName: {ValueString, "TLS SNI."},
	PropConnectionTLSVersion:          {ValueString, `TLS version, e.g. "TLSv1.3".`},
	PropUpstreamAddress:               {ValueString, "Upstream address as host:port (once connected)."},
	PropUpstreamPort:                  {ValueInt, "Upstream port."},

	PropNode:         {ValueBytes, "Serialized envoy.config.core.v3.Node protobuf in Envoy; plugins usually read sub-fields such as node\\x00id."},
	PropClusterName:  {ValueString, "Upstream cluster (Weir: the service's upstream name)."},
	PropRouteName:    {ValueString, "Matched route name."},
	PropPluginName:   {ValueString, "Plugin name."},
	PropPluginRootID: {ValueString, "Plugin root ID; always served (the C++ SDK aborts root-context creation without it)."},
	PropPluginVMID:   {ValueString, "Plugin VM ID."},

	PropWeirRouteName:        {ValueString, "Weir: matched route name (same as route_name)."},
	PropWeirServiceName:      {ValueString, "Weir: service of the matched route."},
	PropWeirConsumerID:       {ValueString, "Weir: authenticated consumer ID, once a plugin set it (weir.set_consumer)."},
	PropWeirConsumerUsername: {ValueString, "Weir: authenticated consumer username."},
	PropWeirConsumerCustomID: {ValueString, "Weir: authenticated consumer custom_id."},
	PropWeirCredentialID:     {ValueString, "Weir: ID of the credential that authenticated the consumer."},
	PropWeirTraceID:          {ValueString, "Weir: W3C trace ID of the request (32 hex digits)."},
	PropWeirConsumerGroups:   {ValuePairs, "Weir: the authenticated consumer's acl groups as pairs (\"group\", name), in configuration order; empty pairs when it has none."},
}

// LookupProperty finds the well-known property addressed by segs: the
// longest prefix of segs whose dotted form is in Properties. It returns the
// dotted name, its description and the remaining segments (a map key, a
// proto field). For ["request","headers","x-foo"] it returns
// "request.headers" and ["x-foo"].
func LookupProperty(segs []string) (name string, p Property, rest []string, ok bool) {
	for n := len(segs); n > 0; n-- {
		name = strings.Join(segs[:n], ".")
		if p, ok = Properties[name]; ok {
			return name, p, segs[n:], true
		}
	}
	return "", Property{}, nil, false
}

// Value encodings (Envoy serializeValue).

// EncodeInt64 appends v as 8 bytes little-endian (ValueInt). uint64 values
// use the same bytes: EncodeInt64(dst, int64(u)).
func EncodeInt64(dst []byte, v int64) []byte {
	return binary.LittleEndian.AppendUint64(dst, uint64(v))
}

// DecodeInt64 decodes a ValueInt; b must be exactly 8 bytes.
func DecodeInt64(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, ErrPropertyValueSize
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

// EncodeBool appends v as one byte, 1 or 0 (ValueBool).
func EncodeBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// DecodeBool decodes a ValueBool; b must be exactly 1 byte, non-zero is true.
func DecodeBool(b []byte) (bool, error) {
	if len(b) != 1 {
		return false, ErrPropertyValueSize
	}
	return b[0] != 0, nil
}

// EncodeDuration appends d as int64 nanoseconds (ValueDuration).
func EncodeDuration(dst []byte, d time.Duration) []byte { return EncodeInt64(dst, int64(d)) }

// DecodeDuration decodes a ValueDuration.
func DecodeDuration(b []byte) (time.Duration, error) {
	n, err := DecodeInt64(b)
	return time.Duration(n), err
}

// EncodeTimestamp appends t as int64 Unix nanoseconds (ValueTimestamp).
func EncodeTimestamp(dst []byte, t time.Time) []byte { return EncodeInt64(dst, t.UnixNano()) }

// DecodeTimestamp decodes a ValueTimestamp into a UTC time.
func DecodeTimestamp(b []byte) (time.Time, error) {
	n, err := DecodeInt64(b)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, n).UTC(), nil
}

// EncodeList appends a list value: the pairs serialization with each item
// as a key and an empty value (Envoy's encoding of lists).
func EncodeList(dst []byte, items []string) []byte {
	n := 4
	for _, s := range items {
		n += 8 + len(s) + 2
	}
	dst = binary.LittleEndian.AppendUint32(slices.Grow(dst, n), uint32(len(items)))
	for _, s := range items {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
		dst = binary.LittleEndian.AppendUint32(dst, 0)
	}
	for _, s := range items {
		dst = append(dst, s...)
		dst = append(dst, 0, 0)
	}
	return dst
}
