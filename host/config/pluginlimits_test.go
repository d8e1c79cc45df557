package config

import "testing"

func TestPluginLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits string
		want   []string
	}{
		{name: "defaults", limits: `{}`},
		{name: "in range", limits: `{instances: 4, memory_mb: 16, call_timeout_ms: 50, start_timeout_ms: 200}`},
		{name: "out of range", limits: `{instances: -1, memory_mb: 4096, call_timeout_ms: 60001, start_timeout_ms: -5}`, want: []string{
			`services[0].plugins[0] (plugin "p"): limits.call_timeout_ms: 60001 out of range (0 for the default, at most 60000)`,
			`services[0].plugins[0] (plugin "p"): limits.instances: -1 out of range (0 for the default, at most 256)`,
			`services[0].plugins[0] (plugin "p"): limits.memory_mb: 4096 out of range (0 for the default, at most 1024)`,
			`services[0].plugins[0] (plugin "p"): limits.start_timeout_ms: -5 out of range (0 for the default, at most 600000)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNormalize(t, `_format_version: "3.0"
services:
- name: s
  host: example.com
  plugins:
  - name: p
    limits: `+tc.limits+`
`)
			if l := c.Plugins[0].Limits; l == nil {
				t.Fatal("limits not parsed")
			}
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ve := fieldErrors(t, err)
			if len(ve) != len(tc.want) {
				t.Fatalf("errors: %v", ve)
			}
			for i, w := range tc.want {
				if got := ve[i].Error(); got != w {
					t.Errorf("error %d:\n got %s\nwant %s", i, got, w)
				}
			}
		})
	}
}
