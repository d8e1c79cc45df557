// Package kong holds what Weir's reference plugins (plugins-src/<name>/,
// Kong bundled-plugin equivalents built with sdk/go) share: strict decoding
// of Kong-shaped plugin configuration with errors that name the field, and
// Kong's local responses (kong.response.error with its JSON error body, and
// kong.response.exit).
//
// It runs inside the guest (GOOS=wasip1) and natively under proxytest.
package kong

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// ErrorContentType is the Content-Type of Kong's JSON error bodies.
const ErrorContentType = "application/json; charset=utf-8"

// DecodeConfig decodes the plugin configuration into v (which holds the
// Kong defaults) strictly: unknown fields, wrong types and trailing data
// are errors, as Kong's schema validation rejects them. The error names
// the field as config.<field>. An absent or empty configuration keeps the
// defaults.
func DecodeConfig(v any) error {
	b, err := proxywasm.GetPluginConfiguration()
	if errors.Is(err, proxywasm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read plugin configuration: %w", err)
	}
	return Decode(b, v)
}

// Decode is DecodeConfig on the bytes b.
func Decode(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return configError(err)
	}
	if err := unknownFields("config", raw, reflect.TypeOf(v)); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return configError(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("config: trailing data after the JSON object")
	}
	return nil
}

// unknownFields reports the first member of raw that the Go type t has no
// field for, with its full path (encoding/json's DisallowUnknownFields
// names only the member).
func unknownFields(path string, raw any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := raw.(type) {
	case map[string]any:
		if t.Kind() == reflect.Map {
			for k, e := range val {
				if err := unknownFields(path+"."+k, e, t.Elem()); err != nil {
					return err
				}
			}
			return nil
		}
		if t.Kind() != reflect.Struct {
			return nil // a type error, reported by the decoder
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s.%s: unknown field", path, k)
			}
			if err := unknownFields(path+"."+k, val[k], ft); err != nil {
				return err
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range val {
				if err := unknownFields(fmt.Sprintf("%s[%d]", path, i), e, t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// collectFields maps the JSON names of t's fields (embedded structs
// flattened) to their types. Names are exact: Kong's schema is case
// sensitive.
func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			collectFields(f.Type, out)
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
}

// configError rewrites encoding/json errors to name the field the way
// Kong's schema errors do.
func configError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("config: must be a JSON object, got %s", te.Value)
		}
		return fmt.Errorf("config.%s: expected %s, got %s", te.Field, typeName(te.Type.String()), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("config.%s: unknown field", strings.Trim(f, `"`))
	}
	return fmt.Errorf("config: %s", strings.TrimPrefix(msg, "json: "))
}

func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.Contains(t, "int"), strings.Contains(t, "float"):
		return "a number"
	case strings.Contains(t, "bool"):
		return "a boolean"
	case strings.Contains(t, "string"):
		return "a string"
	case strings.HasPrefix(t, "map"), strings.Contains(t, "struct"), strings.Contains(t, "."):
		return "an object"
	}
	return t
}

// Fail logs a configuration error the way every reference plugin does and
// returns the status that makes Weir reject the configuration.
func Fail(plugin string, err error) proxywasm.OnPluginStartStatus {
	proxywasm.LogErrorf("%s: invalid configuration: %v", plugin, err)
	return proxywasm.OnPluginStartStatusFailed
}

// RequestID returns the request id Weir assigned (the request.id
// property), or "" when the host has none.
func RequestID() string {
	b, err := proxywasm.GetProperty([]string{"request", "id"})
	if err != nil {
		return ""
	}
	return string(b)
}

// ErrorBody is Kong's JSON error body for kong.response.error: message and
// request_id.
func ErrorBody(message, requestID string) []byte {
	b, _ := json.Marshal(struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	}{message, requestID})
	return b
}

// Error answers the request locally the way kong.response.error does:
// status, Content-Type application/json and {"message","request_id"}. It
// returns the action the calling callback must return.
func Error(status uint32, message string, headers ...[2]string) proxywasm.Action {
	hs := append([][2]string{{"content-type", ErrorContentType}}, headers...)
	return Exit(status, hs, ErrorBody(message, RequestID()))
}

// Message answers the request locally the way
// kong.response.exit(status, {message = message}) does: a JSON body with
// only the message.
func Message(status uint32, message string, headers ...[2]string) proxywasm.Action {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	hs := append([][2]string{{"content-type", ErrorContentType}}, headers...)
	return Exit(status, hs, b)
}

// Exit sends a local response and returns ActionPause (the host applies
// the response when the callback returns). If the host refuses, the
// stream is reset: a plugin that meant to stop the request must not let
// it through.
func Exit(status uint32, headers [][2]string, body []byte) proxywasm.Action {
	if err := proxywasm.SendHttpResponse(status, headers, body, -1); err != nil {
		proxywasm.LogErrorf("send local response %d: %v", status, err)
		_ = proxywasm.ResetHttpStream()
	}
	return proxywasm.ActionPause
}

// SplitPair splits a Kong "name:value" config entry at the first colon.
// ok is false when there is no colon or the name is empty.
func SplitPair(s string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(s, ":")
	if !ok || name == "" {
		return "", "", false
	}
	return name, value, true
}

// Pairs parses a list of "name:value" entries, naming the field and index
// of a bad one.
func Pairs(field string, list []string) ([][2]string, error) {
	out := make([][2]string, 0, len(list))
	for i, s := range list {
		n, v, ok := SplitPair(s)
		if !ok {
			return nil, fmt.Errorf("config.%s[%d]: %q is not in the form name:value", field, i, s)
		}
		out = append(out, [2]string{n, v})
	}
	return out, nil
}
