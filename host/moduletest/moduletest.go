// Package moduletest lets tests outside host/ (the ingress controller's)
// run a real OCI registry and push plugin modules to it, with the same
// code `weir plugin push` uses. It wraps host/internal/modules/registrytest.
package moduletest

import (
	"context"
	"testing"

	"github.com/weirproxy/weir/host/internal/modules"
	"github.com/weirproxy/weir/host/internal/modules/registrytest"
)

// Registry is a running registry process (Host is "127.0.0.1:PORT").
type Registry = registrytest.Registry

// StartRegistry runs the distribution registry on 127.0.0.1 until the
// test ends; with a username it requires basic auth (htpasswd). The test
// fails when the binary is missing (`go tool task deps:registry`).
func StartRegistry(t testing.TB, username, password string) *Registry {
	t.Helper()
	return registrytest.Start(t, registrytest.Options{Username: username, Password: password})
}

// Push uploads wasm to reg as repoTag ("plugins/auth:1.0") in the CNCF
// single-layer format, over plain HTTP, with basic auth when username is
// set, and returns the manifest digest.
func Push(t testing.TB, reg *Registry, username, password, repoTag string, wasm []byte) string {
	t.Helper()
	f, err := modules.New(modules.Options{Insecure: []string{reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := modules.ParseRef("oci://" + reg.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	var creds *modules.Credentials
	if username != "" {
		creds = modules.BasicCredentials(reg.Host, username, password)
	}
	d, err := f.Push(context.Background(), ref, wasm, modules.PushOptions{Format: modules.FormatCNCF, Credentials: creds})
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	return d.Digest.String()
}
