// Package kongext holds what Weir's Kong-compatible auth and rate-limiting plugins share:
// Kong's error responses, and thin wrappers over the weir.* extensions
// (consumer lookup, authenticated consumer, counters). It is compiled into
// each plugin module (GOOS=wasip1) and natively for tests.
package kongext

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// JSONContentType is Kong's error body content type.
const JSONContentType = "application/json; charset=utf-8"

// Error answers the request as kong.response.error does: status, a JSON
// body {"message": msg, "request_id": id} and the given headers. The
// caller returns proxywasm.ActionPause.
func Error(status int, msg string, headers ...[2]string) {
	body := map[string]string{"message": msg}
	if id, err := proxywasm.GetProperty([]string{"request", "id"}); err == nil && len(id) > 0 {
		body["request_id"] = string(id)
	}
	send(status, body, headers)
}

// appendObject appends m as a JSON object, keys in a fixed order
// ("message" first, then sorted).
func appendObject(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "message" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if _, ok := m["message"]; ok {
		keys = append([]string{"message"}, keys...)
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Exit answers as kong.response.exit(status, body): a JSON body without
// request_id (jwt's claim errors are objects).
func Exit(status int, body any, headers ...[2]string) {
	send(status, body, headers)
}

func send(status int, body any, headers [][2]string) {
	var b []byte
	var err error
	switch v := body.(type) {
	case map[string]string:
		// Hand-built: encoding/json's reflection is slow in wasm and
		// errors are on the hot path of a rejected request.
		b = appendObject(b, v)
	default:
		b, err = json.Marshal(body)
	}
	if err != nil {
		b = []byte(`{"message":"An unexpected error occurred"}`)
		status = 500
	}
	hs := append([][2]string{{"content-type", JSONContentType}}, headers...)
	if err := proxywasm.SendHttpResponse(uint32(status), hs, b, -1); err != nil {
		proxywasm.LogErrorf("send response: %v", err)
	}
}

// ErrNoConsumer: no credential or consumer matches.
var ErrNoConsumer = errors.New("no such consumer")

// scratch encodes foreign function arguments: the module is single
// threaded and the host copies the bytes during the call, so one buffer
// serves every call (each allocation costs about a microsecond in a Go
// wasm guest).
var scratch []byte

// AppendPairs2 appends the pairs encoding (abi.EncodePairs) of two pairs,
// without building them.
func AppendPairs2(b []byte, k1, v1, k2, v2 string) []byte {
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(k1)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v1)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(k2)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v2)))
	b = append(append(append(append(b, k1...), 0), v1...), 0)
	return append(append(append(append(b, k2...), 0), v2...), 0)
}

// LookupCredential finds the consumer owning a credential of credType
// (abi.Credential*) identified by key.
func LookupCredential(credType, key string) (abi.ConsumerInfo, error) {
	scratch = AppendPairs2(scratch[:0], abi.KeyCredentialType, credType, abi.KeyKey, key)
	res, err := proxywasm.CallForeignFunction(abi.FFIConsumerLookup, scratch)
	if errors.Is(err, proxywasm.ErrNotFound) {
		return abi.ConsumerInfo{}, ErrNoConsumer
	}
	if err != nil {
		return abi.ConsumerInfo{}, err
	}
	return decodeConsumerInfo(res)
}

// decodeConsumerInfo is abi.DecodeConsumerInfo without its per-call maps
// (cheaper in wasm); a repeated scalar key keeps the last value.
func decodeConsumerInfo(b []byte) (abi.ConsumerInfo, error) {
	pairs, err := abi.ParsePairs(b)
	if err != nil {
		return abi.ConsumerInfo{}, err
	}
	var c abi.ConsumerInfo
	for _, kv := range pairs {
		switch k := kv[0]; {
		case k == abi.KeyID:
			c.ID = kv[1]
		case k == abi.KeyUsername:
			c.Username = kv[1]
		case k == abi.KeyCustomID:
			c.CustomID = kv[1]
		case k == abi.KeyCredentialID:
			c.CredentialID = kv[1]
		case k == abi.KeyTag:
			c.Tags = append(c.Tags, kv[1])
		case strings.HasPrefix(k, abi.KeyCredentialPrefix):
			c.Credential = append(c.Credential, [2]string{k[len(abi.KeyCredentialPrefix):], kv[1]})
		}
	}
	return c, nil
}

// CredentialField returns a field of a looked-up credential.
func CredentialField(c abi.ConsumerInfo, name string) string {
	for _, kv := range c.Credential {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// SetConsumer authenticates the stream as the consumer with that id,
// through credID (may be empty); the host sets X-Consumer-* upstream.
func SetConsumer(id, credID string) error {
	if credID == "" {
		scratch = abi.SetConsumerArgs{ID: id}.Encode(scratch[:0])
	} else {
		scratch = AppendPairs2(scratch[:0], abi.KeyID, id, abi.KeyCredentialID, credID)
	}
	_, err := proxywasm.CallForeignFunction(abi.FFISetConsumer, scratch)
	if errors.Is(err, proxywasm.ErrNotFound) {
		return ErrNoConsumer
	}
	return err
}

// SetAnonymous authenticates the stream as the anonymous consumer ref (id
// or username), as Kong's auth plugins do when `anonymous` is set, and
// marks it with X-Anonymous-Consumer: true.
func SetAnonymous(ref string) error {
	_, err := proxywasm.CallForeignFunction(abi.FFISetConsumer, abi.SetConsumerArgs{ID: ref}.Encode(nil))
	if errors.Is(err, proxywasm.ErrNotFound) {
		_, err = proxywasm.CallForeignFunction(abi.FFISetConsumer, abi.SetConsumerArgs{Username: ref}.Encode(nil))
	}
	if errors.Is(err, proxywasm.ErrNotFound) {
		return ErrNoConsumer
	}
	if err != nil {
		return err
	}
	return proxywasm.ReplaceHttpRequestHeader("x-anonymous-consumer", "true")
}

// Authenticated reports whether an earlier plugin authenticated the
// stream (Kong: a credential is set). Anonymous consumers count as not
// authenticated, as Kong's auth plugins skip when a real credential exists.
func Authenticated() bool {
	if _, err := proxywasm.GetProperty([]string{"weir", "credential", "id"}); err != nil {
		return false
	}
	v, _ := proxywasm.GetHttpRequestHeader("x-anonymous-consumer")
	return v != "true"
}

// ConsumerID returns the authenticated consumer's id.
func ConsumerID() (string, bool) {
	b, err := proxywasm.GetProperty([]string{"weir", "consumer", "id"})
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// CredentialID returns the id of the credential that authenticated.
func CredentialID() (string, bool) {
	b, err := proxywasm.GetProperty([]string{"weir", "credential", "id"})
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// ConsumerGroups returns the authenticated consumer's acl groups.
func ConsumerGroups() ([]string, error) {
	b, err := proxywasm.GetProperty([]string{"weir", "consumer", "groups"})
	if err != nil {
		return nil, err
	}
	pairs, err := abi.ParsePairs(b)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(pairs))
	for _, kv := range pairs {
		out = append(out, kv[1])
	}
	return out, nil
}

// CounterIncr adds delta to a fixed-window counter and returns its value.
func CounterIncr(key string, window, delta int64) (int64, error) {
	res, err := proxywasm.CallForeignFunction(abi.FFICounterIncr,
		abi.CounterIncrArgs{Key: key, WindowSeconds: window, Delta: delta}.Encode(nil))
	if err != nil {
		return 0, err
	}
	return abi.DecodeInt64(res)
}

// CounterGet reads a fixed-window counter.
func CounterGet(key string, window int64) (int64, error) {
	res, err := proxywasm.CallForeignFunction(abi.FFICounterGet,
		abi.CounterGetArgs{Key: key, WindowSeconds: window}.Encode(nil))
	if err != nil {
		return 0, err
	}
	return abi.DecodeInt64(res)
}

// HeaderFirst returns the first value of a header (case-insensitive name)
// in headers and how many values it has, without allocating.
func HeaderFirst(headers [][2]string, name string) (first string, n int) {
	for _, kv := range headers {
		if strings.EqualFold(kv[0], name) {
			if n == 0 {
				first = kv[1]
			}
			n++
		}
	}
	return first, n
}

// Header returns every value of a request header (case-insensitive name).
func Header(headers [][2]string, name string) []string {
	var out []string
	for _, kv := range headers {
		if strings.EqualFold(kv[0], name) {
			out = append(out, kv[1])
		}
	}
	return out
}

// Itoa is strconv.FormatInt for int64.
func Itoa(n int64) string { return strconv.FormatInt(n, 10) }
