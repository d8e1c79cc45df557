package modules

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// Reference schemes.
const (
	SchemeOCI   = "oci"
	SchemeHTTPS = "https"
	SchemeHTTP  = "http"
	SchemeFile  = "file"
)

// Ref is a parsed module reference. The accepted forms are:
//
//	oci://REGISTRY/REPOSITORY[:TAG][@sha256:MANIFEST][#sha256=HEX]
//	https://HOST/PATH#sha256=HEX          (the pin is required)
//	http://HOST/PATH#sha256=HEX           (required pin; host must be an insecure registry)
//	file:///ABSOLUTE/PATH[#sha256=HEX]
//
// An oci:// reference with neither tag nor digest means tag "latest".
// `@sha256:` pins the image manifest (what Istio's WasmPlugin.sha256
// compares with). The `#sha256=` fragment is the optional pin accepted on
// every scheme: for https and file it is the sha256 of the wasm bytes; for
// oci it may name either the manifest digest (Istio's choice) or the wasm
// layer digest (the CNCF artifact's layer, equal to the sha256 of the wasm
// bytes for raw-wasm layers; for a compat tar.gz layer either the blob's
// digest or the sha256 of plugin.wasm), and Weir accepts both.
type Ref struct {
	// Raw is the reference as written.
	Raw    string
	Scheme string

	// OCI: Registry is host[:port]; Repository the path; Tag and Digest
	// ("sha256:<hex>", the manifest) as written (Tag "latest" when both
	// are missing).
	Registry, Repository, Tag, Digest string

	// URL is the https/http URL without the fragment; Path the file path.
	URL, Path string

	// Pin is the optional `#sha256=` pin, lower-case hex (no prefix).
	Pin string
}

var (
	hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// OCI distribution-spec grammar for repository names and tags.
	repoPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// ErrBadRef wraps every reference syntax error.
var ErrBadRef = errors.New("invalid module reference")

func badRef(raw, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrBadRef, raw, fmt.Sprintf(format, args...))
}

// IsRef reports whether name is a module reference (has a scheme) rather
// than a built-in plugin name.
func IsRef(name string) bool { return strings.Contains(name, "://") }

// ParseRef parses a module reference (see [Ref]).
func ParseRef(raw string) (Ref, error) {
	r := Ref{Raw: raw}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return r, badRef(raw, "want oci://, https://, http:// or file://")
	}
	r.Scheme = strings.ToLower(scheme)
	if body, frag, ok := strings.Cut(rest, "#"); ok {
		pin, ok := strings.CutPrefix(frag, "sha256=")
		if !ok || !hexDigest.MatchString(strings.ToLower(pin)) {
			return r, badRef(raw, "the fragment must be #sha256=<64 hex digits>")
		}
		r.Pin = strings.ToLower(pin)
		rest = body
	}
	switch r.Scheme {
	case SchemeOCI:
		return r, r.parseOCI(rest)
	case SchemeHTTPS, SchemeHTTP:
		u, err := url.Parse(r.Scheme + "://" + rest)
		if err != nil {
			return r, badRef(raw, "%v", err)
		}
		if u.Host == "" {
			return r, badRef(raw, "the URL has no host")
		}
		if u.User != nil {
			return r, badRef(raw, "credentials in module URLs are not allowed")
		}
		if r.Pin == "" {
			return r, badRef(raw, "%s:// modules need a sha256 pin: append #sha256=<hex of the wasm file>", r.Scheme)
		}
		r.URL = u.String()
		return r, nil
	case SchemeFile:
		host, path, _ := strings.Cut(rest, "/")
		if host != "" && host != "localhost" {
			return r, badRef(raw, "file URLs name a local absolute path (file:///...)")
		}
		path = "/" + path
		if rest == "" || !filepath.IsAbs(path) || !strings.HasPrefix(rest, host+"/") {
			return r, badRef(raw, "the path must be absolute")
		}
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
		r.Path = path
		return r, nil
	}
	return r, badRef(raw, "unknown scheme %q (want oci, https, http or file)", scheme)
}

func (r *Ref) parseOCI(rest string) error {
	raw := r.Raw
	if i := strings.Index(rest, "@"); i >= 0 {
		d := rest[i+1:]
		hexPart, ok := strings.CutPrefix(d, "sha256:")
		if !ok || !hexDigest.MatchString(hexPart) {
			return badRef(raw, "the digest must be @sha256:<64 lower-case hex digits>")
		}
		r.Digest = d
		rest = rest[:i]
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || host == "" || path == "" {
		return badRef(raw, "want oci://registry/repository[:tag][@sha256:...]")
	}
	if _, _, err := net.SplitHostPort(host); err != nil && strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return badRef(raw, "invalid registry %q", host)
	}
	r.Registry = host
	if i := strings.LastIndex(path, ":"); i >= 0 {
		r.Tag = path[i+1:]
		path = path[:i]
		if !tagRe.MatchString(r.Tag) {
			return badRef(raw, "invalid tag %q", r.Tag)
		}
	}
	if !repoPath.MatchString(path) {
		return badRef(raw, "invalid repository %q (lower-case letters, digits and . _ - / separators)", path)
	}
	r.Repository = path
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return nil
}

// Reference returns what to ask the registry for: the digest when there
// is one, else the tag.
func (r Ref) Reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// Repo returns "registry/repository" (OCI only).
func (r Ref) Repo() string { return r.Registry + "/" + r.Repository }

// Mutable reports whether the reference can point at different content
// over time: an OCI tag without a digest. https and file references are
// pinned or local.
func (r Ref) Mutable() bool { return r.Scheme == SchemeOCI && r.Digest == "" }

// Remote reports whether fetching needs the network (oci, https, http).
func (r Ref) Remote() bool { return r.Scheme != SchemeFile }

// Slot returns the reference without tag, digest or pin: what stays the
// same when a plugin moves to a new version ("oci://reg/repo",
// "https://host/path", "file:///path").
func (r Ref) Slot() string {
	switch r.Scheme {
	case SchemeOCI:
		return "oci://" + r.Repo()
	case SchemeFile:
		return "file://" + r.Path
	}
	return r.URL
}

// String returns the canonical form of the reference.
func (r Ref) String() string {
	var s string
	switch r.Scheme {
	case SchemeOCI:
		s = "oci://" + r.Repo()
		if r.Tag != "" {
			s += ":" + r.Tag
		}
		if r.Digest != "" {
			s += "@" + r.Digest
		}
	case SchemeFile:
		s = "file://" + r.Path
	default:
		s = r.URL
	}
	if r.Pin != "" {
		s += "#sha256=" + r.Pin
	}
	return s
}

// PullPolicy says when a mutable reference is resolved again at the
// registry.
type PullPolicy string

// Pull policies (Istio's imagePullPolicy).
const (
	// PullDefault: IfNotPresent, except Always for the tag "latest".
	PullDefault PullPolicy = ""
	// PullIfNotPresent uses the locally cached module for the reference
	// when there is one.
	PullIfNotPresent PullPolicy = "IfNotPresent"
	// PullAlways resolves the tag at the registry on every load (config
	// apply or reload); unchanged content is not downloaded again.
	PullAlways PullPolicy = "Always"
)

// ParsePullPolicy accepts "", "IfNotPresent" and "Always" (any case).
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch strings.ToLower(s) {
	case "":
		return PullDefault, nil
	case "ifnotpresent":
		return PullIfNotPresent, nil
	case "always":
		return PullAlways, nil
	}
	return "", fmt.Errorf("invalid pull policy %q (want IfNotPresent or Always)", s)
}

// Effective resolves PullDefault for r.
func (p PullPolicy) Effective(r Ref) PullPolicy {
	if p != PullDefault {
		return p
	}
	if r.Scheme == SchemeOCI && r.Digest == "" && r.Tag == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

func digestHex(d string) string { return strings.TrimPrefix(d, "sha256:") }

func sha256Hex(b []byte) string {
	s := sumSHA256(b)
	return hex.EncodeToString(s[:])
}
