package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// Format versions [Parse] accepts, as Kong 3.x does. Files in the older
// formats are migrated by [Config.Normalize].
var acceptedFormatVersions = []string{FormatVersion, "2.1", "1.1"}

// ErrEmpty is returned by [Parse] (and wrapped by [Load]) for a document
// with no content: nothing, only whitespace or comments, or YAML null.
var ErrEmpty = errors.New("empty configuration")

// Load reads and parses the configuration file at path. Errors name the
// file. Like [Parse], it neither normalizes nor validates.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a declarative configuration in YAML or JSON.
//
// Parsing is strict: an unknown field, or a value of the wrong type, is an
// error that gives its full path (`services[0].routes[1]: unknown field
// "stirp_path"`); all such problems are reported together as
// [ValidationErrors]. `_format_version` is required and must be "3.0"
// (Kong's older "2.1" and "1.1" are accepted too). Kong's `_comment` and
// `_ignore` annotations are accepted on every entity and dropped. A
// reference to another entity (a route's `service`, a plugin's `service`,
// `route` and `consumer`, a target's `upstream`) may be a name or id
// string, or an object `{id: ...}` / `{name: ...}` as decK writes.
//
// The result still needs [Config.Normalize] and [Config.Validate].
func Parse(data []byte) (*Config, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	js, err := toJSON(data)
	if err != nil {
		return nil, err
	}

	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: data after the top-level object")
	}
	top, ok := doc.(map[string]any)
	if !ok {
		if doc == nil {
			return nil, ErrEmpty
		}
		return nil, fmt.Errorf("expected a mapping at the top level, got %s", jsonKind(doc))
	}

	var errs errorList
	checkFormatVersion(top, &errs)
	w := walker{errs: &errs}
	w.walk(top, reflect.TypeFor[Config](), "")
	if err := errs.errs.err(); err != nil {
		return nil, err
	}

	// The walk has checked every key and type and rewritten decK's
	// reference objects, so this decode cannot meet anything unexpected.
	clean, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("re-encoding configuration: %w", err)
	}
	var cfg Config
	d := json.NewDecoder(bytes.NewReader(clean))
	d.DisallowUnknownFields()
	if err := d.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("decoding configuration: %w", err)
	}
	// A null entry is an entity with every field zero, as the document
	// says (and as it decoded before entities were held by pointer).
	noNil(cfg.Services)
	noNil(cfg.Routes)
	noNil(cfg.Upstreams)
	noNil(cfg.Targets)
	return &cfg, nil
}

// noNil replaces nil entries of list by zero entities.
func noNil[T any](list []*T) {
	for i := range list {
		if list[i] == nil {
			list[i] = new(T)
		}
	}
}

// toJSON returns data as JSON: as is when it is a JSON object, else
// converted from YAML (duplicate keys are an error).
func toJSON(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if trimmed[0] == '{' && json.Valid(trimmed) {
		return trimmed, nil
	}
	// Strict: a duplicate key is an error rather than silently dropping
	// half of, say, a repeated `services:` list. yaml.v2's strict mode
	// also counts a key that overrides one merged in with `<<` as a
	// duplicate; say so, as that one surprises.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		if strings.Contains(err.Error(), "already set in map") && bytes.Contains(data, []byte("<<")) {
			return nil, fmt.Errorf("invalid YAML: %w (keys merged in with `<<` cannot be overridden)", err)
		}
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	return js, nil
}

// checkFormatVersion reports a missing or unsupported _format_version.
func checkFormatVersion(top map[string]any, errs *errorList) {
	const field = "_format_version"
	v, ok := top[field]
	if !ok || v == nil {
		errs.add(field, `required field missing (want "3.0")`)
		return
	}
	switch v := v.(type) {
	case string:
		if !slices.Contains(acceptedFormatVersions, v) {
			errs.add(field, fmt.Sprintf("unsupported version %q (want %q; %q and %q are also accepted)",
				v, FormatVersion, "2.1", "1.1"))
		}
	case json.Number:
		errs.add(field, fmt.Sprintf(`expected string, got number %s (quote it: _format_version: "3.0")`, v))
		delete(top, field) // reported here; keep the walker quiet
	}
}

// walker checks a decoded JSON value against a Go type by reflection,
// following the json tags, and records every unknown field and type
// mismatch with its path. It rewrites the value in place where the input
// format allows a shorthand the Go type does not (reference objects).
type walker struct {
	errs *errorList
}

var (
	typeRawMessage = reflect.TypeFor[json.RawMessage]()
	typeSNI        = reflect.TypeFor[SNI]()
)

// referenceFields are the foreign keys that decK may write as an object.
var referenceFields = map[reflect.Type][]string{
	reflect.TypeFor[Route]():  {"service"},
	reflect.TypeFor[Plugin](): {"service", "route", "consumer"},
	reflect.TypeFor[Target](): {"upstream"},
}

// entityTypes accept Kong's `_comment` and `_ignore` annotations.
var entityTypes = map[reflect.Type]bool{
	reflect.TypeFor[Config]():      true,
	reflect.TypeFor[Service]():     true,
	reflect.TypeFor[Route]():       true,
	reflect.TypeFor[Upstream]():    true,
	reflect.TypeFor[Target]():      true,
	reflect.TypeFor[Plugin]():      true,
	reflect.TypeFor[Consumer]():    true,
	reflect.TypeFor[Certificate](): true,
	reflect.TypeFor[SNI]():         true,
}

// walk checks v against t and returns v, possibly replaced.
func (w *walker) walk(v any, t reflect.Type, path string) any {
	if v == nil {
		return nil // null: the field keeps its zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == typeRawMessage {
		return v
	}
	if t == typeSNI {
		if _, ok := v.(string); ok {
			return v
		}
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			w.typeError(path, "string", v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			w.typeError(path, "boolean", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return w.integer(v, t, path)
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			w.typeError(path, "number", v)
			break
		}
		if f, err := strconv.ParseFloat(string(n), 64); err != nil || math.IsInf(f, 0) {
			w.errs.add(path, fmt.Sprintf("number %s is out of range", n))
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			w.typeError(path, "array", v)
			break
		}
		for i := range arr {
			arr[i] = w.walk(arr[i], t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			w.typeError(path, "object", v)
			break
		}
		for _, k := range sortedKeys(obj) {
			obj[k] = w.walk(obj[k], t.Elem(), mapPath(path, k))
		}
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			w.typeError(path, "object", v)
			break
		}
		w.object(obj, t, path)
	default:
		// Not reachable for the Config types; fail safe.
		w.errs.add(path, fmt.Sprintf("unsupported field type %s", t))
	}
	return v
}

// integer checks that v is an integral number that fits t and returns it
// in canonical form ("1e3" becomes "1000").
func (w *walker) integer(v any, t reflect.Type, path string) any {
	n, ok := v.(json.Number)
	if !ok {
		w.typeError(path, "integer", v)
		return v
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
			w.errs.add(path, fmt.Sprintf("expected integer, got number %s", n))
			return v
		}
		if f < math.MinInt64 || f >= math.MaxInt64 {
			w.errs.add(path, fmt.Sprintf("integer %s is out of range", n))
			return v
		}
		i = int64(f)
	}
	if reflect.Zero(t).OverflowInt(i) {
		w.errs.add(path, fmt.Sprintf("integer %s is out of range", n))
		return v
	}
	return json.Number(strconv.FormatInt(i, 10))
}

// object checks the keys of a JSON object against struct type t.
func (w *walker) object(obj map[string]any, t reflect.Type, path string) {
	info := structFields(t)
	for _, k := range sortedKeys(obj) {
		f, ok := info.fields[k]
		if !ok {
			if entityTypes[t] && (k == "_comment" || k == "_ignore") {
				w.annotation(obj[k], k, fieldPath(path, k))
				delete(obj, k)
				continue
			}
			msg := fmt.Sprintf("unknown field %q", k)
			if s := suggest(k, info.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			w.errs.add(path, msg)
			continue
		}
		if f.reference {
			obj[k] = w.reference(obj[k], fieldPath(path, k))
			continue
		}
		obj[k] = w.walk(obj[k], f.typ, fieldPath(path, k))
	}
}

// annotation checks Kong's `_comment` (a string) and `_ignore` (an array).
func (w *walker) annotation(v any, key, path string) {
	if v == nil {
		return
	}
	switch key {
	case "_comment":
		if _, ok := v.(string); !ok {
			w.typeError(path, "string", v)
		}
	case "_ignore":
		if _, ok := v.([]any); !ok {
			w.typeError(path, "array", v)
		}
	}
}

// reference accepts a foreign key as a string, or as an object holding
// exactly one of `id` or `name`, and returns the string.
func (w *walker) reference(v any, path string) any {
	switch v := v.(type) {
	case nil, string:
		return v
	case map[string]any:
		if len(v) == 1 {
			for _, k := range []string{"id", "name"} {
				if s, ok := v[k].(string); ok {
					return s
				}
			}
		}
		w.errs.add(path, "a reference must be a name or id, or an object with one string field `id` or `name`")
		return v
	default:
		w.typeError(path, "string", v)
		return v
	}
}

func (w *walker) typeError(path, want string, got any) {
	w.errs.add(path, fmt.Sprintf("expected %s, got %s", want, jsonKind(got)))
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

type fieldInfo struct {
	typ       reflect.Type
	reference bool
}

type structInfo struct {
	fields map[string]fieldInfo
	names  []string // sorted, for suggestions
}

var structCache sync.Map // reflect.Type -> *structInfo

// structFields returns the JSON field names of struct type t.
func structFields(t reflect.Type) *structInfo {
	if v, ok := structCache.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{fields: make(map[string]fieldInfo, t.NumField())}
	refs := referenceFields[t]
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		info.fields[name] = fieldInfo{typ: sf.Type, reference: slices.Contains(refs, name)}
		info.names = append(info.names, name)
	}
	slices.Sort(info.names)
	structCache.Store(t, info)
	return info
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fieldPath appends a struct field name to path.
func fieldPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// mapPath appends a map key to path: `.key` when the key is a plain
// identifier, `["key"]` otherwise.
func mapPath(path, key string) string {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = c == '-' || c == '_' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
	}
	if plain {
		return fieldPath(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// suggest returns the known name closest to an unknown one, if close.
func suggest(unknown string, known []string) string {
	best, bestDist := "", 3 // suggest only within edit distance 2
	for _, k := range known {
		if d := editDistance(unknown, k, bestDist); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance between a and b, or limit when it is at least limit.
func editDistance(a, b string, limit int) int {
	if abs(len(a)-len(b)) >= limit {
		return limit
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
