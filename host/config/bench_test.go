package config

import (
	"fmt"
	"strings"
	"testing"
)

// largeConfig returns a document with n services, each with two nested
// routes, a plugin, and an upstream with two targets.
func largeConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, `- name: svc-%d
  url: http://up-%d.internal:8080/base
  plugins:
  - name: rate-limiting
    config: {minute: %d, policy: local}
  routes:
  - name: r-%d-a
    hosts: [app-%d.example.com]
    paths: [/api, /v1]
  - name: r-%d-b
    paths: ["~/items/\\d+$"]
    methods: [GET, POST]
`, i, i, i+1, i, i, i)
	}
	b.WriteString("upstreams:\n")
	for i := range n {
		fmt.Fprintf(&b, "- name: up-%d.internal\n  targets:\n  - target: 10.%d.%d.1:8080\n  - target: 10.%d.%d.2:8080\n",
			i, i/256, i%256, i/256, i%256)
	}
	return []byte(b.String())
}

func benchmarkPipeline(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Normalize(); err != nil {
			b.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineKongYML measures Parse+Normalize+Validate of testdata/kong.yml.
func BenchmarkPipelineKongYML(b *testing.B) { benchmarkPipeline(b, readTestdata(b, "kong.yml")) }

// BenchmarkPipeline1000Services measures a 1000-service, 2000-route config.
func BenchmarkPipeline1000Services(b *testing.B) { benchmarkPipeline(b, largeConfig(1000)) }

func BenchmarkHash1000Services(b *testing.B) {
	c := mustNormalize(b, string(largeConfig(1000)))
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Hash()
	}
}

func TestLargeConfigIsValid(t *testing.T) {
	c := mustNormalize(t, string(largeConfig(50)))
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 100 || len(c.Targets) != 100 || len(c.Plugins) != 50 {
		t.Errorf("got %d routes, %d targets, %d plugins", len(c.Routes), len(c.Targets), len(c.Plugins))
	}
}
