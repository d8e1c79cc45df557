// Package builtins embeds Weir's built-in plugins: the Kong-compatible
// reference plugins whose sources live beside this file, one directory per
// plugin named by its Kong name (plugins-src/key-auth, ...). Each is a
// proxy-wasm module like any third-party plugin; the host finds them here
// by name.
//
// A plugin directory holds (see README.md): plugin.json (priority,
// phases, whether it can be consumer-scoped), schema.json (a JSON Schema
// for its config, checked at load time), the Go sources, and
// plugin.wasm.zst, the module built from them by
// `go tool task builtins:build` and compressed with zstd. The embedded set
// is whatever directories carry those three files, so a new plugin needs
// no registration.
package builtins

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed */plugin.json */schema.json */plugin.wasm.zst
var files embed.FS

// Plugin is one embedded built-in plugin.
type Plugin struct {
	// Name is the Kong name (the directory name).
	Name string
	// Manifest is plugin.json.
	Manifest Manifest

	once   sync.Once
	digest string
	schema *jsonschema.Schema
	err    error
}

// Manifest is a plugin's plugin.json.
type Manifest struct {
	// Priority orders the chain when the config gives none (Kong's
	// handler PRIORITY: higher runs first).
	Priority int `json:"priority"`
	// Phases are Kong's phases the plugin implements (documentation).
	Phases []string `json:"phases"`
	// NoConsumer: the plugin cannot be scoped to a consumer (Kong's
	// typedefs.no_consumer: auth plugins, acl, cors, ...).
	NoConsumer bool `json:"no_consumer"`
	// Language the sources are written in ("go", "c", "assemblyscript").
	Language string `json:"language,omitempty"`
}

var (
	loadOnce sync.Once
	byName   map[string]*Plugin
	loadErr  error
)

func load() {
	byName = map[string]*Plugin{}
	dirs, err := fs.Glob(files, "*/plugin.json")
	if err != nil {
		loadErr = err
		return
	}
	for _, m := range dirs {
		name := path.Dir(m)
		b, err := files.ReadFile(m)
		if err != nil {
			loadErr = err
			return
		}
		p := &Plugin{Name: name}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p.Manifest); err != nil {
			loadErr = fmt.Errorf("built-in plugin %q: plugin.json: %w", name, err)
			return
		}
		if _, err := fs.Stat(files, name+"/plugin.wasm.zst"); err != nil {
			continue // sources without a built module: not a built-in yet
		}
		if _, err := fs.Stat(files, name+"/schema.json"); err != nil {
			continue
		}
		byName[name] = p
	}
}

// Lookup returns the built-in plugin named name.
func Lookup(name string) (*Plugin, bool) {
	loadOnce.Do(load)
	p, ok := byName[name]
	return p, ok
}

// Err reports a malformed embedded manifest (a build defect; tests check
// it is nil).
func Err() error {
	loadOnce.Do(load)
	return loadErr
}

// Names lists the built-in plugins, sorted.
func Names() []string {
	loadOnce.Do(load)
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (p *Plugin) init() {
	p.once.Do(func() {
		z, err := files.ReadFile(p.Name + "/plugin.wasm.zst")
		if err != nil {
			p.err = err
			return
		}
		sum := sha256.Sum256(z)
		p.digest = "zstd:" + hex.EncodeToString(sum[:])
		sb, err := files.ReadFile(p.Name + "/schema.json")
		if err != nil {
			p.err = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sb))
		if err != nil {
			p.err = fmt.Errorf("built-in plugin %q: schema.json: %w", p.Name, err)
			return
		}
		c := jsonschema.NewCompiler()
		url := "weir:///plugins/" + p.Name + "/schema.json"
		if err := c.AddResource(url, doc); err != nil {
			p.err = fmt.Errorf("built-in plugin %q: schema.json: %w", p.Name, err)
			return
		}
		p.schema, err = c.Compile(url)
		if err != nil {
			p.err = fmt.Errorf("built-in plugin %q: schema.json: %w", p.Name, err)
		}
	})
}

// Digest identifies the embedded module without decompressing it (the
// SHA-256 of the compressed bytes, which are deterministic).
func (p *Plugin) Digest() (string, error) {
	p.init()
	return p.digest, p.err
}

// Module decompresses and returns the wasm module. The bytes are not
// kept: callers compile them and drop them.
func (p *Plugin) Module() ([]byte, error) {
	z, err := files.ReadFile(p.Name + "/plugin.wasm.zst")
	if err != nil {
		return nil, err
	}
	return Decompress(z)
}

// Decompress inflates a zstd-compressed module.
func Decompress(z []byte) ([]byte, error) {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.DecodeAll(z, nil)
}

// ErrConfig is wrapped by config validation errors.
var ErrConfig = errors.New("invalid plugin config")

// ValidateConfig checks a plugin config against the plugin's schema.
// An absent or null config is validated as {} (the defaults). Errors
// name the offending field as config.<path>.
func (p *Plugin) ValidateConfig(raw []byte) error {
	p.init()
	if p.err != nil {
		return p.err
	}
	var v any = map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		var err error
		v, err = jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("%w: config: %v", ErrConfig, err)
		}
	}
	err := p.schema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%w: config: %v", ErrConfig, err)
	}
	var msgs []string
	pr := message.NewPrinter(language.English)
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		loc := "config"
		for _, s := range e.InstanceLocation {
			loc += "." + s
		}
		if _, ok := e.ErrorKind.(*kind.AnyOf); ok {
			// "at least one of" rules read better as one message.
			var names []string
			for _, c := range e.Causes {
				if r, ok := c.ErrorKind.(*kind.Required); ok && len(c.Causes) == 0 {
					names = append(names, r.Missing...)
				}
			}
			if len(names) == len(e.Causes) && len(names) > 0 {
				msgs = append(msgs, loc+": at least one of "+strings.Join(names, ", ")+" is required")
				return
			}
		}
		if len(e.Causes) == 0 {
			msgs = append(msgs, loc+": "+e.ErrorKind.LocalizedString(pr))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(msgs)
	return fmt.Errorf("%w: %s", ErrConfig, strings.Join(msgs, "; "))
}
