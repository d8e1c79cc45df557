package abi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Foreign functions are called with proxy_call_foreign_function(name, args)
// and answer through ret_ptr/ret_size. Unknown names answer NOT_FOUND (spec);
// names listed here but not implemented answer UNIMPLEMENTED, so a plugin
// can tell "this host does not know it" from "this host knows it but
// refuses".
const (
	// Weir extensions (arguments and results are serialized pairs unless
	// stated otherwise).
	FFIConsumerLookup = "weir.consumer_lookup"
	FFISetConsumer    = "weir.set_consumer"
	FFICounterIncr    = "weir.counter_incr"
	FFICounterGet     = "weir.counter_get"

	// Envoy foreign functions (source/extensions/common/wasm/foreign.cc).
	FFICompress            = "compress"
	FFIUncompress          = "uncompress"
	FFIVerifySignature     = "verify_signature"
	FFISign                = "sign"
	FFISetEnvoyFilterState = "set_envoy_filter_state"
	FFIClearRouteCache     = "clear_route_cache"
	FFIDeclareProperty     = "declare_property"
	FFIExprCreate          = "expr_create"
	FFIExprEvaluate        = "expr_evaluate"
	FFIExprDelete          = "expr_delete"
)

// Origin says who defined a foreign function.
type Origin uint8

// Origins.
const (
	OriginWeir Origin = iota + 1
	OriginEnvoy
)

// String returns "weir" or "envoy".
func (o Origin) String() string {
	switch o {
	case OriginWeir:
		return "weir"
	case OriginEnvoy:
		return "envoy"
	}
	return "Origin(" + strconv.Itoa(int(o)) + ")"
}

// ForeignFunction describes a foreign function Weir recognises.
type ForeignFunction struct {
	Name   string
	Origin Origin
	// Implemented is false for names Weir recognises but answers with
	// UNIMPLEMENTED.
	Implemented bool
	// Args and Result describe the wire formats.
	Args   string
	Result string
	Doc    string
}

// ForeignFunctions lists every foreign function name Weir recognises.
var ForeignFunctions = []ForeignFunction{
	{Name: FFIConsumerLookup, Origin: OriginWeir, Implemented: true,
		Args:   "pairs {credential_type, key} (ConsumerLookupArgs)",
		Result: "pairs of consumer fields (ConsumerInfo); NOT_FOUND if no credential matches",
		Doc:    "Finds the consumer owning a credential, for authentication plugins. credential_type is a Credential* constant; key is the API key (key-auth), username (basic-auth, hmac-auth), JWT key claim (jwt) or client_id (oauth2). The plugin verifies secrets itself with the credential.* fields."},
	{Name: FFISetConsumer, Origin: OriginWeir, Implemented: true,
		Args:   "pairs {id | username, [credential_id]} (SetConsumerArgs)",
		Result: "empty; NOT_FOUND if no such consumer, BAD_ARGUMENT unless exactly one of id/username is set",
		Doc:    "Marks the stream as authenticated as that consumer (Kong's set_authenticated_consumer). weir.consumer.* and weir.credential.id properties then reflect it, and consumer-scoped plugins apply to the rest of the stream."},
	{Name: FFICounterIncr, Origin: OriginWeir, Implemented: true,
		Args:   "pairs {key, window_seconds, [delta]} (CounterIncrArgs)",
		Result: "8 bytes little-endian int64: the counter's new value in the current window (EncodeInt64)",
		Doc:    "Adds delta (default 1) to a cluster-wide counter for rate limiting. Windows are fixed and aligned to Unix time multiples of window_seconds, so a plugin computes the reset time itself. Keys are namespaced per plugin_vm_id. Backed by local memory, or Redis when the host is configured for it."},
	{Name: FFICounterGet, Origin: OriginWeir, Implemented: true,
		Args:   "pairs {key, window_seconds} (CounterGetArgs)",
		Result: "8 bytes little-endian int64: the counter's value in the current window, 0 if never incremented",
		Doc:    "Reads a counter without changing it."},

	{Name: FFICompress, Origin: OriginEnvoy, Args: "raw bytes", Result: "zlib-compressed bytes",
		Doc: "Envoy zlib compress."},
	{Name: FFIUncompress, Origin: OriginEnvoy, Args: "zlib-compressed bytes", Result: "raw bytes",
		Doc: "Envoy zlib uncompress."},
	{Name: FFIVerifySignature, Origin: OriginEnvoy, Args: "serialized VerifySignatureArguments proto", Result: "serialized VerifySignatureResult proto",
		Doc: "Envoy signature verification."},
	{Name: FFISign, Origin: OriginEnvoy, Args: "serialized SignArguments proto", Result: "serialized SignResult proto",
		Doc: "Envoy signing."},
	{Name: FFISetEnvoyFilterState, Origin: OriginEnvoy, Args: "serialized SetEnvoyFilterStateArguments proto", Result: "empty",
		Doc: "Sets typed Envoy filter state; Weir has no Envoy filter state."},
	{Name: FFIClearRouteCache, Origin: OriginEnvoy, Implemented: true, Args: "empty", Result: "empty",
		Doc: "Envoy re-routes after header changes. Weir matches the route once, before plugins run, and does not re-route: this answers OK and does nothing."},
	{Name: FFIDeclareProperty, Origin: OriginEnvoy, Args: "serialized DeclarePropertyArguments proto", Result: "empty",
		Doc: "Declares a typed filter-state property."},
	{Name: FFIExprCreate, Origin: OriginEnvoy, Args: "CEL expression text", Result: "u32 little-endian token",
		Doc: "Compiles a CEL expression."},
	{Name: FFIExprEvaluate, Origin: OriginEnvoy, Args: "u32 little-endian token", Result: "value encoded as a property value",
		Doc: "Evaluates a compiled CEL expression."},
	{Name: FFIExprDelete, Origin: OriginEnvoy, Args: "u32 little-endian token", Result: "empty",
		Doc: "Frees a compiled CEL expression."},
}

// LookupForeignFunction returns the ForeignFunctions entry named name.
func LookupForeignFunction(name string) (ForeignFunction, bool) {
	for _, f := range ForeignFunctions {
		if f.Name == name {
			return f, true
		}
	}
	return ForeignFunction{}, false
}

// Keys used in the pairs-encoded arguments and results of the weir.*
// foreign functions.
const (
	KeyCredentialType = "credential_type"
	KeyKey            = "key"
	KeyID             = "id"
	KeyUsername       = "username"
	KeyCustomID       = "custom_id"
	KeyCredentialID   = "credential_id"
	// KeyTag repeats, once per consumer tag, in order.
	KeyTag = "tag"
	// KeyCredentialPrefix starts the keys carrying the matched credential's
	// stored fields, named as decK names them: "credential.password"
	// (basic-auth), "credential.secret" and "credential.algorithm" (jwt,
	// hmac-auth), "credential.client_secret" (oauth2), ...
	KeyCredentialPrefix = "credential."
	KeyWindowSeconds    = "window_seconds"
	KeyDelta            = "delta"
)

// Credential types accepted by weir.consumer_lookup (the Kong plugin names).
const (
	CredentialKeyAuth   = "key-auth"
	CredentialBasicAuth = "basic-auth"
	CredentialJWT       = "jwt"
	CredentialHMACAuth  = "hmac-auth"
	CredentialOAuth2    = "oauth2"
)

// CredentialTypes lists the accepted credential types.
var CredentialTypes = []string{
	CredentialKeyAuth, CredentialBasicAuth, CredentialJWT, CredentialHMACAuth, CredentialOAuth2,
}

// ErrForeignArgs is wrapped by every argument-decoding error of the weir.*
// foreign functions; the host answers BAD_ARGUMENT.
var ErrForeignArgs = errors.New("abi: bad foreign function arguments")

// Unknown keys are ignored by every decoder below, so a plugin built for a
// newer Weir still works; a known single-valued key given twice is an error.

// ConsumerLookupArgs are the arguments of weir.consumer_lookup.
type ConsumerLookupArgs struct {
	CredentialType string
	Key            string
}

// Encode appends the pairs serialization of a to dst.
func (a ConsumerLookupArgs) Encode(dst []byte) []byte {
	return EncodePairs(dst, [][2]string{{KeyCredentialType, a.CredentialType}, {KeyKey, a.Key}})
}

// DecodeConsumerLookupArgs decodes and validates weir.consumer_lookup
// arguments: a known credential_type and a non-empty key are required.
func DecodeConsumerLookupArgs(b []byte) (ConsumerLookupArgs, error) {
	var v [2][]byte
	if err := decodeArgs(FFIConsumerLookup, b, consumerLookupKeys[:], v[:], nil); err != nil {
		return ConsumerLookupArgs{}, err
	}
	if err := requireKeys(FFIConsumerLookup, consumerLookupKeys[:], v[:]); err != nil {
		return ConsumerLookupArgs{}, err
	}
	t, ok := credentialType(v[0])
	if !ok {
		return ConsumerLookupArgs{}, fmt.Errorf("%w: %s: unknown %s %q (want one of %s)",
			ErrForeignArgs, FFIConsumerLookup, KeyCredentialType, v[0], strings.Join(CredentialTypes, ", "))
	}
	return ConsumerLookupArgs{CredentialType: t, Key: string(v[1])}, nil
}

var consumerLookupKeys = [...]string{KeyCredentialType, KeyKey}

// credentialType returns the CredentialTypes entry equal to b.
func credentialType(b []byte) (string, bool) {
	for _, t := range CredentialTypes {
		if string(b) == t {
			return t, true
		}
	}
	return "", false
}

// ConsumerInfo is the result of weir.consumer_lookup.
type ConsumerInfo struct {
	ID           string
	Username     string
	CustomID     string
	CredentialID string
	Tags         []string
	// Credential holds the matched credential's fields, keys without the
	// "credential." prefix, in order.
	Credential [][2]string
}

// Encode appends the pairs serialization of c to dst. Empty scalar fields
// are omitted.
func (c ConsumerInfo) Encode(dst []byte) []byte {
	var buf [8][2]string // most consumers: no allocation
	pairs := buf[:0]
	for _, kv := range [...][2]string{
		{KeyID, c.ID}, {KeyUsername, c.Username}, {KeyCustomID, c.CustomID}, {KeyCredentialID, c.CredentialID},
	} {
		if kv[1] != "" {
			pairs = append(pairs, kv)
		}
	}
	for _, t := range c.Tags {
		pairs = append(pairs, [2]string{KeyTag, t})
	}
	for _, kv := range c.Credential {
		pairs = append(pairs, [2]string{KeyCredentialPrefix + kv[0], kv[1]})
	}
	return EncodePairs(dst, pairs)
}

// DecodeConsumerInfo decodes a weir.consumer_lookup result.
func DecodeConsumerInfo(b []byte) (ConsumerInfo, error) {
	var c ConsumerInfo
	var v [4][]byte
	err := decodeArgs(FFIConsumerLookup, b, consumerInfoKeys[:], v[:], func(k, v []byte) {
		switch {
		case string(k) == KeyTag:
			c.Tags = append(c.Tags, string(v))
		case len(k) >= len(KeyCredentialPrefix) && string(k[:len(KeyCredentialPrefix)]) == KeyCredentialPrefix:
			c.Credential = append(c.Credential, [2]string{string(k[len(KeyCredentialPrefix):]), string(v)})
		}
	})
	if err != nil {
		return ConsumerInfo{}, err
	}
	c.ID, c.Username, c.CustomID, c.CredentialID = string(v[0]), string(v[1]), string(v[2]), string(v[3])
	return c, nil
}

var consumerInfoKeys = [...]string{KeyID, KeyUsername, KeyCustomID, KeyCredentialID}

// SetConsumerArgs are the arguments of weir.set_consumer: exactly one of ID
// and Username, and optionally the credential that authenticated.
type SetConsumerArgs struct {
	ID           string
	Username     string
	CredentialID string
}

// Encode appends the pairs serialization of a to dst; empty fields are
// omitted.
func (a SetConsumerArgs) Encode(dst []byte) []byte {
	var buf [3][2]string
	pairs := buf[:0]
	for _, kv := range [...][2]string{{KeyID, a.ID}, {KeyUsername, a.Username}, {KeyCredentialID, a.CredentialID}} {
		if kv[1] != "" {
			pairs = append(pairs, kv)
		}
	}
	return EncodePairs(dst, pairs)
}

// DecodeSetConsumerArgs decodes and validates weir.set_consumer arguments.
func DecodeSetConsumerArgs(b []byte) (SetConsumerArgs, error) {
	var v [3][]byte
	if err := decodeArgs(FFISetConsumer, b, setConsumerKeys[:], v[:], nil); err != nil {
		return SetConsumerArgs{}, err
	}
	if (len(v[0]) == 0) == (len(v[1]) == 0) {
		return SetConsumerArgs{}, fmt.Errorf("%w: %s: exactly one of %q and %q is required",
			ErrForeignArgs, FFISetConsumer, KeyID, KeyUsername)
	}
	return SetConsumerArgs{ID: string(v[0]), Username: string(v[1]), CredentialID: string(v[2])}, nil
}

var setConsumerKeys = [...]string{KeyID, KeyUsername, KeyCredentialID}

// CounterIncrArgs are the arguments of weir.counter_incr.
type CounterIncrArgs struct {
	Key           string
	WindowSeconds int64
	// Delta is added to the counter; DecodeCounterIncrArgs sets 1 when the
	// key is absent. It may be negative or zero.
	Delta int64
}

// Encode appends the pairs serialization of a to dst (delta always
// included).
func (a CounterIncrArgs) Encode(dst []byte) []byte {
	return EncodePairs(dst, [][2]string{
		{KeyKey, a.Key},
		{KeyWindowSeconds, strconv.FormatInt(a.WindowSeconds, 10)},
		{KeyDelta, strconv.FormatInt(a.Delta, 10)},
	})
}

// DecodeCounterIncrArgs decodes and validates weir.counter_incr arguments.
func DecodeCounterIncrArgs(b []byte) (CounterIncrArgs, error) {
	var v [3][]byte
	if err := decodeArgs(FFICounterIncr, b, counterIncrKeys[:], v[:], nil); err != nil {
		return CounterIncrArgs{}, err
	}
	w, err := counterKeyWindow(FFICounterIncr, v[0], v[1])
	if err != nil {
		return CounterIncrArgs{}, err
	}
	a := CounterIncrArgs{WindowSeconds: w, Delta: 1}
	if len(v[2]) > 0 {
		var err error
		if a.Delta, err = strconv.ParseInt(string(v[2]), 10, 64); err != nil {
			return CounterIncrArgs{}, fmt.Errorf("%w: %s: %s %q is not a decimal int64",
				ErrForeignArgs, FFICounterIncr, KeyDelta, v[2])
		}
	}
	a.Key = string(v[0])
	return a, nil
}

var counterIncrKeys = [...]string{KeyKey, KeyWindowSeconds, KeyDelta}

// CounterGetArgs are the arguments of weir.counter_get.
type CounterGetArgs struct {
	Key           string
	WindowSeconds int64
}

// Encode appends the pairs serialization of a to dst.
func (a CounterGetArgs) Encode(dst []byte) []byte {
	return EncodePairs(dst, [][2]string{
		{KeyKey, a.Key},
		{KeyWindowSeconds, strconv.FormatInt(a.WindowSeconds, 10)},
	})
}

// DecodeCounterGetArgs decodes and validates weir.counter_get arguments.
func DecodeCounterGetArgs(b []byte) (CounterGetArgs, error) {
	var v [2][]byte
	if err := decodeArgs(FFICounterGet, b, counterIncrKeys[:2], v[:], nil); err != nil {
		return CounterGetArgs{}, err
	}
	w, err := counterKeyWindow(FFICounterGet, v[0], v[1])
	if err != nil {
		return CounterGetArgs{}, err
	}
	return CounterGetArgs{Key: string(v[0]), WindowSeconds: w}, nil
}

// counterKeyWindow validates the key and window_seconds shared by the
// counter functions.
func counterKeyWindow(fn string, key, window []byte) (int64, error) {
	if err := requireKeys(fn, counterIncrKeys[:2], [][]byte{key, window}); err != nil {
		return 0, err
	}
	if len(key) > MaxCounterKeyBytes {
		return 0, fmt.Errorf("%w: %s: %s is %d bytes, limit %d", ErrForeignArgs, fn, KeyKey, len(key), MaxCounterKeyBytes)
	}
	w, err := strconv.ParseInt(string(window), 10, 64)
	if err != nil || w < 1 || w > MaxCounterWindowSeconds {
		return 0, fmt.Errorf("%w: %s: %s %q must be an integer in [1, %d]",
			ErrForeignArgs, fn, KeyWindowSeconds, window, MaxCounterWindowSeconds)
	}
	return w, nil
}

// decodeArgs decodes pairs: the value of keys[i] goes to vals[i],
// aliasing b (a repeated key is an error), and every other pair to other
// (when not nil). It allocates nothing itself.
func decodeArgs(fn string, b []byte, keys []string, vals [][]byte, other func(k, v []byte)) error {
	var seen uint64
	dup := -1
	err := DecodePairs(b, func(k, v []byte) bool {
		for i, key := range keys {
			if string(k) == key {
				if seen&(1<<i) != 0 {
					dup = i
					return false
				}
				seen |= 1 << i
				vals[i] = v
				return true
			}
		}
		if other != nil {
			other(k, v)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrForeignArgs, fn, err)
	}
	if dup >= 0 {
		return fmt.Errorf("%w: %s: key %q given twice", ErrForeignArgs, fn, keys[dup])
	}
	return nil
}

// requireKeys fails on the first empty value (vals[i] is keys[i]'s).
func requireKeys(fn string, keys []string, vals [][]byte) error {
	for i, v := range vals {
		if len(v) == 0 {
			return fmt.Errorf("%w: %s: %q is required", ErrForeignArgs, fn, keys[i])
		}
	}
	return nil
}
