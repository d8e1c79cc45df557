package config

import (
	"strings"
	"testing"
)

// TestValidateModules: weir.modules settings and plugin module
// references are checked, with errors naming the object and field.
func TestValidateModules(t *testing.T) {
	pin := strings.Repeat("a", 64)
	tests := []struct {
		name    string
		weir    string
		plugin  string
		wantErr []string
	}{
		{name: "valid", weir: "modules: {pull_policy: Always, cache_ttl: 3600, insecure_registries: ['127.0.0.1:5000', '*', reg.local], fetch_timeout: 5000, fetch_retries: -1}",
			plugin: "oci://127.0.0.1:5000/p:v1@sha256:" + pin},
		{name: "https with pin", plugin: "https://h.example/p.wasm#sha256=" + pin},
		{name: "bad settings", weir: "modules: {pull_policy: Sometimes, cache_ttl: -1, insecure_registries: ['a/b', 'h:99999'], fetch_timeout: -5, fetch_retries: 11, docker_config: /nonexistent/config.json}",
			wantErr: []string{
				`weir.modules.cache_ttl: -1 is negative (seconds)`,
				`weir.modules.docker_config: cannot read "/nonexistent/config.json"`,
				`weir.modules.fetch_retries: 11 is out of range -1..10`,
				`weir.modules.fetch_timeout: -5 is out of range 0..3600000 (ms)`,
				`weir.modules.insecure_registries[0]: invalid registry "a/b"`,
				`weir.modules.insecure_registries[1]: invalid registry "h:99999": bad port`,
				`weir.modules.pull_policy: invalid pull policy "Sometimes" (want IfNotPresent or Always)`,
			}},
		{name: "https without pin", plugin: "https://h.example/p.wasm",
			wantErr: []string{`plugins[0] (plugin "https://h.example/p.wasm"): name: invalid module reference "https://h.example/p.wasm": https:// modules need a sha256 pin`}},
		{name: "bad oci digest", plugin: "oci://r.example/p@sha256:12",
			wantErr: []string{`plugins[0] (plugin "oci://r.example/p@sha256:12"): name: invalid module reference`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := "_format_version: \"3.0\"\n"
			if tc.weir != "" {
				doc += "weir:\n  " + tc.weir + "\n"
			}
			if tc.plugin != "" {
				doc += "plugins:\n- name: \"" + tc.plugin + "\"\n"
			}
			c := mustNormalize(t, doc)
			err := c.Validate()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ve := fieldErrors(t, err)
			if len(ve) != len(tc.wantErr) {
				t.Fatalf("got %d errors, want %d: %v", len(ve), len(tc.wantErr), ve)
			}
			for i, w := range tc.wantErr {
				if got := ve[i].Error(); !strings.HasPrefix(got, w) {
					t.Errorf("error %d:\n got %s\nwant prefix %s", i, got, w)
				}
			}
		})
	}
}
