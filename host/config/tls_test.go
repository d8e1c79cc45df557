package config

import (
	"strings"
	"testing"
)

func TestValidateTLSAndACME(t *testing.T) {
	const routes = `
services:
- name: svc
  url: http://backend.example.com
  routes:
  - name: auto
    hosts: [shop.example.com]
    acme: true
`
	tests := []struct {
		name     string
		doc      string
		wantPath string // "" : valid
		wantMsg  string
	}{
		{name: "valid", doc: `weir:
  https_listen: 127.0.0.1:8443
  acme:
    email: ops@example.com
    directory: https://acme.example.com/dir
    eab: {key_id: kid, mac_key: c2VjcmV0}
    challenges: [http-01, tls-alpn-01]
    hosts: [www.example.com]
    on_demand: {allow: ["*.tenants.example.com"]}
    storage: {type: file, path: /var/lib/weir/acme}
    renewal_window_ratio: 0.3` + routes},
		{name: "https_listen off", doc: "weir:\n  https_listen: \"off\"\n"},
		{name: "bad https_listen", doc: "weir:\n  https_listen: nope\n", wantPath: "weir.https_listen", wantMsg: "want host:port"},
		{name: "acme route without weir.acme", doc: routes, wantPath: "services[0].routes[0].acme", wantMsg: "needs a weir.acme section"},
		{name: "acme route with a wildcard host", doc: "weir:\n  acme: {}\n" + strings.Replace(routes, "shop.example.com", `"*.example.com"`, 1), wantPath: "services[0].routes[0].hosts[0]", wantMsg: "wildcard host"},
		{name: "acme route without hosts", doc: "weir:\n  acme: {}\n" + strings.Replace(routes, "hosts: [shop.example.com]", "paths: [/]", 1), wantPath: "services[0].routes[0].acme", wantMsg: "no hosts"},
		{name: "http directory", doc: "weir:\n  acme: {directory: \"http://acme.example.com/dir\"}\n", wantPath: "weir.acme.directory", wantMsg: "https://"},
		{name: "bad email", doc: "weir:\n  acme: {email: \"not an email\"}\n", wantPath: "weir.acme.email", wantMsg: "invalid email"},
		{name: "ca_root not PEM", doc: "weir:\n  acme: {ca_root: \"nope\"}\n", wantPath: "weir.acme.ca_root", wantMsg: "no PEM certificate"},
		{name: "eab without mac_key", doc: "weir:\n  acme: {eab: {key_id: kid}}\n", wantPath: "weir.acme.eab.mac_key", wantMsg: "required"},
		{name: "unknown challenge", doc: "weir:\n  acme: {challenges: [dns-01]}\n", wantPath: "weir.acme.challenges[0]", wantMsg: "invalid challenge"},
		{name: "wildcard in hosts", doc: "weir:\n  acme: {hosts: [\"*.example.com\"]}\n", wantPath: "weir.acme.hosts[0]", wantMsg: "invalid host"},
		{name: "empty on-demand allow list", doc: "weir:\n  acme: {on_demand: {allow: []}}\n", wantPath: "weir.acme.on_demand.allow", wantMsg: "must not be empty"},
		{name: "trailing wildcard on-demand", doc: "weir:\n  acme: {on_demand: {allow: [\"example.*\"]}}\n", wantPath: "weir.acme.on_demand.allow[0]", wantMsg: "any TLD"},
		{name: "unknown storage", doc: "weir:\n  acme: {storage: {type: s3}}\n", wantPath: "weir.acme.storage.type", wantMsg: "invalid type"},
		{name: "path for kubernetes storage", doc: "weir:\n  acme: {storage: {type: kubernetes, path: /x}}\n", wantPath: "weir.acme.storage.path", wantMsg: "only for type file"},
		{name: "kubeconfig for file storage", doc: "weir:\n  acme: {storage: {kubeconfig: /k}}\n", wantPath: "weir.acme.storage.kubeconfig", wantMsg: "only for type kubernetes"},
		{name: "ratio out of range", doc: "weir:\n  acme: {renewal_window_ratio: 1.5}\n", wantPath: "weir.acme.renewal_window_ratio", wantMsg: "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("_format_version: \"3.0\"\n" + tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Normalize(); err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error at %s", tc.wantPath)
			}
			var found bool
			for _, fe := range err.(ValidationErrors) {
				if fe.Path == tc.wantPath && strings.Contains(fe.Message, tc.wantMsg) {
					found = true
				}
			}
			if !found {
				t.Fatalf("errors %v; want one at %s containing %q", err, tc.wantPath, tc.wantMsg)
			}
		})
	}
}
