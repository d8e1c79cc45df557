package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fieldErrors returns the FieldErrors inside err, failing the test when
// err is not a ValidationErrors.
func fieldErrors(t *testing.T, err error) ValidationErrors {
	t.Helper()
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a ValidationErrors", err, err)
	}
	return ve
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		// want are substrings of the error text, in order of the lines.
		want []string
		// wantIs, when set, must match errors.Is.
		wantIs error
	}{
		{name: "empty", input: "", wantIs: ErrEmpty},
		{name: "whitespace only", input: " \n\t\n", wantIs: ErrEmpty},
		{name: "comments only", input: "# nothing\n# here\n", wantIs: ErrEmpty},
		{name: "yaml null", input: "null\n", wantIs: ErrEmpty},
		{name: "top-level array", input: "- a\n- b\n", want: []string{"expected a mapping at the top level, got array"}},
		{name: "top-level scalar", input: "hello", want: []string{"expected a mapping at the top level, got string"}},
		{name: "invalid yaml", input: "_format_version: \"3.0\"\nservices: [\n", want: []string{"invalid YAML"}},
		{name: "duplicate yaml key", input: "_format_version: \"3.0\"\nservices: []\nservices: []\n", want: []string{"invalid YAML", "services"}},
		{name: "missing format version", input: "services: []\n", want: []string{`_format_version: required field missing`}},
		{name: "null format version", input: "_format_version: null\n", want: []string{`_format_version: required field missing`}},
		{name: "unsupported format version", input: `_format_version: "4.0"`, want: []string{`_format_version: unsupported version "4.0"`}},
		{name: "unquoted format version", input: `_format_version: 3.0`, want: []string{`_format_version: expected string, got number 3 (quote it`}},
		{name: "format version as bool", input: `_format_version: true`, want: []string{`_format_version: expected string, got boolean`}},
		{
			name: "unknown nested field with suggestion",
			input: `_format_version: "3.0"
services:
- name: s
  host: example.com
  routes:
  - name: a
    paths: [/a]
  - name: b
    stirp_path: true
`,
			want: []string{`services[0].routes[1]: unknown field "stirp_path" (did you mean "strip_path"?)`},
		},
		{
			name:  "unknown top-level field without suggestion",
			input: "_format_version: \"3.0\"\nvaults: []\n",
			want:  []string{`unknown field "vaults"`},
		},
		{
			name:  "unknown weir field",
			input: "_format_version: \"3.0\"\nweir:\n  compression:\n    level: 3\n",
			want:  []string{`weir.compression: unknown field "level"`},
		},
		{
			name:  "field names are case-sensitive",
			input: "_format_version: \"3.0\"\nservices:\n- Name: s\n",
			want:  []string{`services[0]: unknown field "Name" (did you mean "name"?)`},
		},
		{
			name:  "integer field given a string",
			input: "_format_version: \"3.0\"\nservices:\n- name: s\n  port: \"8080\"\n",
			want:  []string{`services[0].port: expected integer, got string`},
		},
		{
			name:  "integer field given a fraction",
			input: "_format_version: \"3.0\"\nservices:\n- name: s\n  port: 80.5\n",
			want:  []string{`services[0].port: expected integer, got number 80.5`},
		},
		{
			name:  "integer out of range",
			input: "_format_version: \"3.0\"\nservices:\n- name: s\n  port: 1e30\n",
			want:  []string{`services[0].port: integer 1e+30 is out of range`},
		},
		{
			name:  "pointer integer given a boolean",
			input: "_format_version: \"3.0\"\nservices:\n- name: s\n  retries: true\n",
			want:  []string{`services[0].retries: expected integer, got boolean`},
		},
		{
			name:  "boolean given a quoted string",
			input: "_format_version: \"3.0\"\nroutes:\n- name: r\n  strip_path: \"yes\"\n",
			want:  []string{`routes[0].strip_path: expected boolean, got string`},
		},
		{
			name:  "array given a scalar",
			input: "_format_version: \"3.0\"\nroutes:\n- name: r\n  methods: GET\n",
			want:  []string{`routes[0].methods: expected array, got string`},
		},
		{
			name:  "array element of the wrong type",
			input: "_format_version: \"3.0\"\nroutes:\n- name: r\n  tags: [ok, 7]\n",
			want:  []string{`routes[0].tags[1]: expected string, got number`},
		},
		{
			name:  "object given an array",
			input: "_format_version: \"3.0\"\nupstreams:\n- name: u\n  healthchecks: []\n",
			want:  []string{`upstreams[0].healthchecks: expected object, got array`},
		},
		{
			name:  "float field given a string",
			input: "_format_version: \"3.0\"\nupstreams:\n- name: u\n  healthchecks:\n    active:\n      timeout: fast\n",
			want:  []string{`upstreams[0].healthchecks.active.timeout: expected number, got string`},
		},
		{
			name:  "map value of the wrong type",
			input: "_format_version: \"3.0\"\nroutes:\n- name: r\n  headers:\n    x-a: v\n",
			want:  []string{`routes[0].headers.x-a: expected array, got string`},
		},
		{
			name:  "map key with special characters is quoted",
			input: "_format_version: \"3.0\"\nroutes:\n- name: r\n  headers:\n    \"x a.b\": [1]\n",
			want:  []string{`routes[0].headers["x a.b"][0]: expected string, got number`},
		},
		{
			name:  "reference object with an unknown key",
			input: "_format_version: \"3.0\"\nroutes:\n- name: r\n  service: {title: s}\n",
			want:  []string{`routes[0].service: a reference must be a name or id`},
		},
		{
			name:  "reference of the wrong type",
			input: "_format_version: \"3.0\"\ntargets:\n- target: a:1\n  upstream: 5\n",
			want:  []string{`targets[0].upstream: expected string, got number`},
		},
		{
			name:  "_comment must be a string",
			input: "_format_version: \"3.0\"\nservices:\n- name: s\n  _comment: [1]\n",
			want:  []string{`services[0]._comment: expected string, got array`},
		},
		{
			name:  "_ignore must be an array",
			input: "_format_version: \"3.0\"\n_ignore: x\n",
			want:  []string{`_ignore: expected array, got string`},
		},
		{
			name:  "annotations only on entities",
			input: "_format_version: \"3.0\"\nupstreams:\n- name: u\n  healthchecks:\n    _comment: no\n",
			want:  []string{`upstreams[0].healthchecks: unknown field "_comment"`},
		},
		{
			name:  "sni of the wrong type",
			input: "_format_version: \"3.0\"\ncertificates:\n- cert: c\n  key: k\n  snis: [5]\n",
			want:  []string{`certificates[0].snis[0]: expected object, got number`},
		},
		{
			name: "all problems reported in path order",
			input: `_format_version: "3.0"
routes:
- {name: r0}
- {name: r1}
- {name: r2, bogus: 1}
- {name: r3}
- {name: r4}
- {name: r5}
- {name: r6}
- {name: r7}
- {name: r8}
- {name: r9}
- {name: r10, port: 1}
services:
- {name: s, port: x}
`,
			want: []string{
				"3 configuration errors:",
				`routes[2]: unknown field "bogus"`,
				`routes[10]: unknown field "port"`,
				`services[0].port: expected integer, got string`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.input))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want an error", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, c *Config)
	}{
		{
			name:  "json document",
			input: `{"_format_version": "3.0", "services": [{"name": "s", "host": "example.com", "port": 8080, "retries": 0}]}`,
			check: func(t *testing.T, c *Config) {
				s := c.Services[0]
				if s.Name != "s" || s.Host != "example.com" || s.Port != 8080 || s.Retries == nil || *s.Retries != 0 {
					t.Errorf("service = %+v", s)
				}
			},
		},
		{
			name:  "json indented with tabs",
			input: "{\n\t\"_format_version\": \"3.0\",\n\t\"routes\": [{\"name\": \"r\", \"paths\": [\"/\"]}]\n}",
			check: func(t *testing.T, c *Config) {
				if len(c.Routes) != 1 || c.Routes[0].Paths[0] != "/" {
					t.Errorf("routes = %+v", c.Routes)
				}
			},
		},
		{
			name:  "json integer in exponent form",
			input: `{"_format_version": "3.0", "services": [{"name": "s", "port": 8e3}]}`,
			check: func(t *testing.T, c *Config) {
				if c.Services[0].Port != 8000 {
					t.Errorf("port = %d, want 8000", c.Services[0].Port)
				}
			},
		},
		{
			name:  "byte order mark",
			input: "\xef\xbb\xbf_format_version: \"3.0\"\n",
			check: func(t *testing.T, c *Config) {
				if c.FormatVersion != "3.0" {
					t.Errorf("format version = %q", c.FormatVersion)
				}
			},
		},
		{
			name:  "older format versions",
			input: "_format_version: \"2.1\"\n",
			check: func(t *testing.T, c *Config) {
				if c.FormatVersion != "2.1" {
					t.Errorf("format version = %q", c.FormatVersion)
				}
			},
		},
		{
			name: "reference objects as decK writes them",
			input: `_format_version: "3.0"
routes:
- name: r
  service: {name: s}
plugins:
- name: p
  route: {id: 6f1c1b9e-3f4e-4a8e-9d0b-2b6c1e3c4d5e}
  consumer: alice
targets:
- target: a:1
  upstream: {name: u}
`,
			check: func(t *testing.T, c *Config) {
				if c.Routes[0].Service != "s" {
					t.Errorf("route service = %q", c.Routes[0].Service)
				}
				p := c.Plugins[0]
				if p.Route != "6f1c1b9e-3f4e-4a8e-9d0b-2b6c1e3c4d5e" || p.Consumer != "alice" {
					t.Errorf("plugin scope = %q %q", p.Route, p.Consumer)
				}
				if c.Targets[0].Upstream != "u" {
					t.Errorf("target upstream = %q", c.Targets[0].Upstream)
				}
			},
		},
		{
			name: "kong annotations are dropped",
			input: `_format_version: "3.0"
_comment: top
_ignore: [anything, {at: all}]
services:
- name: s
  _comment: a service
  routes:
  - name: r
    _ignore: []
`,
			check: func(t *testing.T, c *Config) {
				if c.Services[0].Routes[0].Name != "r" {
					t.Errorf("nested route lost: %+v", c.Services[0])
				}
			},
		},
		{
			name: "sni as string or object",
			input: `_format_version: "3.0"
certificates:
- cert: c
  key: k
  snis: [a.example.com, {name: b.example.com}]
`,
			check: func(t *testing.T, c *Config) {
				s := c.Certificates[0].SNIs
				if len(s) != 2 || s[0].Name != "a.example.com" || s[1].Name != "b.example.com" {
					t.Errorf("snis = %+v", s)
				}
			},
		},
		{
			name: "null means unset",
			input: `_format_version: "3.0"
services:
- name: s
  retries: null
  tags: null
`,
			check: func(t *testing.T, c *Config) {
				if c.Services[0].Retries != nil || c.Services[0].Tags != nil {
					t.Errorf("service = %+v", c.Services[0])
				}
			},
		},
		{
			name: "opaque values are kept",
			input: `_format_version: "3.0"
_info:
  select_tags: [a]
plugins:
- name: p
  config:
    nested: {list: [1, 2.5, "x"], flag: true}
`,
			check: func(t *testing.T, c *Config) {
				if got, want := string(c.Plugins[0].Config), `{"nested":{"flag":true,"list":[1,2.5,"x"]}}`; got != want {
					t.Errorf("config = %s, want %s", got, want)
				}
				if got, want := string(c.Info), `{"select_tags":["a"]}`; got != want {
					t.Errorf("_info = %s, want %s", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseMergeKey(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{
			name: "merged key cannot be overridden",
			input: `_format_version: "3.0"
services:
- &base
  name: a
  host: example.com
- <<: *base
  name: b
`,
			wantErr: "cannot be overridden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	c, err := Parse([]byte(`_format_version: "3.0"
services:
- &base
  name: a
  host: example.com
  retries: 2
- <<: *base
`))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Services[1]; b.Name != "a" || b.Host != "example.com" || b.Retries == nil || *b.Retries != 2 {
		t.Errorf("merged service = %+v", b)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("_format_version: \"3.0\"\nservices:\n- nmae: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yml")

	tests := []struct {
		name    string
		path    string
		wantErr []string
	}{
		{name: "kong.yml", path: "testdata/kong.yml"},
		{name: "missing file", path: missing, wantErr: []string{missing, "no such file"}},
		{name: "invalid content", path: bad, wantErr: []string{bad, `services[0]: unknown field "nmae"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path)
			if len(tt.wantErr) == 0 {
				if err != nil || c == nil {
					t.Fatalf("Load = %v, %v", c, err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadErrorUnwrapsToValidationErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(path, []byte("_format_version: \"3.0\"\nroutes:\n- name: r\n  stirp_path: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	ve := fieldErrors(t, err)
	if len(ve) != 1 || ve[0].Path != "routes[0]" || !strings.Contains(ve[0].Message, `"stirp_path"`) {
		t.Errorf("errors = %#v", ve)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"strip_path", "paths", "preserve_host", "hosts"}
	tests := []struct {
		name, unknown, want string
	}{
		{name: "transposition", unknown: "stirp_path", want: "strip_path"},
		{name: "missing letter", unknown: "path", want: "paths"},
		{name: "case", unknown: "Hosts", want: "hosts"},
		{name: "too far", unknown: "upstream", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.unknown, known); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.unknown, got, tt.want)
			}
		})
	}
}
