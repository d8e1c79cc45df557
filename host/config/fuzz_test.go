package config

import (
	"testing"
)

// FuzzParse checks that no input makes Parse, Normalize, Validate or Hash
// panic, and that Normalize is idempotent on whatever parses.
func FuzzParse(f *testing.F) {
	f.Add(readTestdata(f, "kong.yml"))
	f.Add([]byte(validBase))
	f.Add([]byte(`{"_format_version":"3.0","services":[{"url":"http://[::1]:80/a","routes":[{"paths":["~/("]}]}]}`))
	f.Add([]byte("_format_version: \"2.1\"\nroutes:\n- paths: [\"/v\\\\d\"]\n  hosts: [\"*.a.*\"]\n"))
	f.Add([]byte("_format_version: \"3.0\"\ntargets:\n- target: \"[::1\"\n  upstream: {id: x}\n"))
	f.Add([]byte("- &a [*a]\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned a config and an error")
			}
			return
		}
		if c.Normalize() != nil {
			_ = c.Validate()
			_ = c.Hash()
			return
		}
		h := c.Hash()
		if err := c.Normalize(); err != nil {
			t.Fatalf("second Normalize failed: %v", err)
		}
		if c.Hash() != h {
			t.Fatal("Normalize is not idempotent")
		}
		_ = c.Validate()
	})
}
