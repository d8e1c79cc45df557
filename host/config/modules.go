package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/host/internal/modules"
)

// Modules configures how plugin modules referenced by URL (oci://,
// https://) are fetched and cached. Every field is optional.
type Modules struct {
	// PullPolicy for oci:// tags: "IfNotPresent" (default: the cached
	// module of a reference is used when present) or "Always" (the tag
	// is resolved at the registry on every load: config apply or reload).
	// Without a policy the tag "latest" is pulled Always, as in Istio.
	PullPolicy string `json:"pull_policy,omitempty"`
	// CacheDir is the local module cache. Default: the user cache
	// directory's weir/modules (e.g. ~/.cache/weir/modules).
	CacheDir string `json:"cache_dir,omitempty"`
	// CacheTTL removes cached modules unused for this many seconds.
	// Default 86400 (a day, Istio's); the sweep runs hourly.
	CacheTTL int `json:"cache_ttl,omitempty"`
	// InsecureRegistries are registries (host or host:port, "*" for any)
	// reached over plain HTTP, and hosts http:// modules may come from.
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
	// DockerConfig is a docker config.json holding registry credentials.
	DockerConfig string `json:"docker_config,omitempty"`
	// CAFile is a PEM bundle trusted (instead of the system roots) for
	// https:// modules and registries.
	CAFile string `json:"ca_file,omitempty"`
	// FetchTimeout bounds fetching one module, retries included, in
	// milliseconds. Default 60000.
	FetchTimeout int `json:"fetch_timeout,omitempty"`
	// FetchRetries is how often a failing registry or https request is
	// retried (timeouts, resets, 408, 429, 5xx). Default 3; -1 for none.
	FetchRetries int `json:"fetch_retries,omitempty"`
}

// modules checks weir.modules.
func (v *validator) modules() {
	m := &v.c.Weir.Modules
	if _, err := modules.ParsePullPolicy(m.PullPolicy); err != nil {
		v.errs.add("weir.modules.pull_policy", err.Error())
	}
	if m.CacheTTL < 0 {
		v.errs.add("weir.modules.cache_ttl", fmt.Sprintf("%d is negative (seconds)", m.CacheTTL))
	}
	if m.FetchTimeout < 0 || m.FetchTimeout > 3600000 {
		v.errs.add("weir.modules.fetch_timeout", fmt.Sprintf("%d is out of range 0..3600000 (ms)", m.FetchTimeout))
	}
	if m.FetchRetries < -1 || m.FetchRetries > 10 {
		v.errs.add("weir.modules.fetch_retries", fmt.Sprintf("%d is out of range -1..10", m.FetchRetries))
	}
	for i, r := range m.InsecureRegistries {
		if err := checkRegistryHost(r); err != nil {
			v.errs.add(index("weir.modules.insecure_registries", i), err.Error())
		}
	}
	for _, f := range []struct{ field, path string }{{"weir.modules.docker_config", m.DockerConfig}, {"weir.modules.ca_file", m.CAFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			v.errs.add(f.field, fmt.Sprintf("cannot read %q: %v", f.path, err))
		}
	}
}

func checkRegistryHost(s string) error {
	if s == "*" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return fmt.Errorf("invalid registry %q: want host or host:port (or \"*\")", s)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid registry %q: bad port", s)
		}
	}
	return nil
}

// pluginRef checks the syntax of a plugin name that is a module
// reference (oci://, https://, http://, file://).
func pluginRef(rep *reporter, name string) {
	if !modules.IsRef(name) {
		return
	}
	if _, err := modules.ParseRef(name); err != nil {
		rep.add("name", err.Error())
	}
}
