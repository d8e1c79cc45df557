package modules

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Errors a fetch wraps, for callers that classify failures.
var (
	// ErrDigestMismatch: content does not match its digest or pin.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNotWasm: the content is not a wasm module (magic, layout).
	ErrNotWasm = errors.New("not a wasm module")
	// ErrInsecure: plain HTTP to a registry not listed as insecure.
	ErrInsecure = errors.New("plain HTTP not allowed")
)

// Defaults of [Options].
const (
	DefaultTimeout        = 60 * time.Second
	DefaultRetries        = 3
	DefaultMaxModuleBytes = 64 << 20
	maxManifestBytes      = 4 << 20
)

// Options configure a Fetcher. The zero value works: no cache, no
// credentials, TLS only, default timeouts.
type Options struct {
	// CacheDir is the local module cache; "" disables caching (every
	// fetch goes to the source, and IfNotPresent behaves like Always).
	CacheDir string
	// Insecure lists registries (host or host:port; "*" for all) reached
	// over plain HTTP instead of HTTPS, and hosts http:// modules may
	// come from. Nothing else is ever fetched in the clear.
	Insecure []string
	// DockerConfig is a docker config.json with registry credentials
	// ("auths", credential helpers). "" uses none.
	DockerConfig string
	// RootCAs, when set, are trusted (instead of the system pool) for
	// https:// modules and registries.
	RootCAs *x509.CertPool
	// Timeout bounds one Fetch, retries included. Default 60s.
	Timeout time.Duration
	// Retries is how often a request failing with a network timeout, a
	// connection reset, 408, 429 or a 5xx is retried, with exponential
	// backoff (250ms doubling, at most 2s apart). Default 3; negative: none.
	Retries int
	// MaxModuleBytes bounds a module (and a compat layer). Default 64 MiB.
	MaxModuleBytes int64
	Logger         *slog.Logger
}

// Fetcher fetches modules from files, https URLs and OCI registries,
// through a local cache. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	cache  *Cache // nil: no cache
	client *http.Client
	docker credentials.Store // nil: no docker config
}

// New returns a Fetcher; it fails when the cache directory or the docker
// config cannot be opened.
func New(opts Options) (*Fetcher, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	} else if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.MaxModuleBytes <= 0 {
		opts.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{opts: opts}
	if opts.CacheDir != "" {
		c, err := OpenCache(opts.CacheDir)
		if err != nil {
			return nil, err
		}
		f.cache = c
	}
	if opts.DockerConfig != "" {
		if _, err := os.Stat(opts.DockerConfig); err != nil {
			return nil, fmt.Errorf("docker config: %w", err)
		}
		s, err := credentials.NewStore(opts.DockerConfig, credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("docker config %s: %w", opts.DockerConfig, err)
		}
		f.docker = s
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       60 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
	}
	f.client = &http.Client{Transport: &retry.Transport{Base: base, Policy: func() retry.Policy {
		return &retry.GenericPolicy{
			Retryable: retry.DefaultPredicate,
			Backoff:   retry.DefaultBackoff,
			MinWait:   200 * time.Millisecond,
			MaxWait:   2 * time.Second,
			MaxRetry:  opts.Retries,
		}
	}}}
	return f, nil
}

// Cache returns the fetcher's cache (nil without one).
func (f *Fetcher) Cache() *Cache { return f.cache }

// Credentials are registry credentials handed to one fetch, e.g. from a
// Kubernetes image pull Secret. They are tried before the docker config.
type Credentials struct{ stores []credentials.Store }

// MergeCredentials combines credentials; the first that has an entry for
// a registry wins. Nil arguments are ignored; no credentials give nil.
func MergeCredentials(cs ...*Credentials) *Credentials {
	var out Credentials
	for _, c := range cs {
		if c != nil {
			out.stores = append(out.stores, c.stores...)
		}
	}
	if len(out.stores) == 0 {
		return nil
	}
	return &out
}

func (c *Credentials) get(ctx context.Context, hostport string) (auth.Credential, bool) {
	if c == nil {
		return auth.EmptyCredential, false
	}
	for _, s := range c.stores {
		if cred, err := credentials.Credential(s)(ctx, hostport); err == nil && cred != auth.EmptyCredential {
			return cred, true
		}
	}
	return auth.EmptyCredential, false
}

// CredentialsFromDockerConfigJSON reads the `.dockerconfigjson` key of a
// kubernetes.io/dockerconfigjson Secret (a docker config.json: {"auths":
// {"registry": {"auth": base64(user:pass)} or {"username", "password"}}}).
func CredentialsFromDockerConfigJSON(b []byte) (*Credentials, error) {
	s, err := credentials.NewMemoryStoreFromDockerConfig(b)
	if err != nil {
		return nil, fmt.Errorf("docker config JSON: %w", err)
	}
	return &Credentials{stores: []credentials.Store{s}}, nil
}

// BasicCredentials returns credentials for one registry (host[:port]).
func BasicCredentials(registry, username, password string) *Credentials {
	s := credentials.NewMemoryStore()
	s.Put(context.Background(), registry, auth.Credential{Username: username, Password: password})
	return &Credentials{stores: []credentials.Store{s}}
}

// FetchOptions are per-fetch settings.
type FetchOptions struct {
	// Policy for mutable (tag) references; see [PullPolicy].
	Policy PullPolicy
	// Credentials, if set, are tried before the docker config file.
	Credentials *Credentials
}

// Module is a fetched, verified module.
type Module struct {
	Ref  Ref
	Wasm []byte
	// Digest is "sha256:<hex>" of Wasm.
	Digest string
	Format Format
	// OCI only: the manifest's digest and media type, the wasm layer's
	// digest and media type, the config media type and the annotations.
	ManifestDigest, ManifestMediaType string
	LayerDigest, LayerMediaType       string
	ConfigMediaType                   string
	Annotations                       map[string]string
	// Size is the size of the layer (OCI) or of the module.
	Size int64
	// FromCache: served from the local cache without contacting the source.
	FromCache bool
}

// Fetch returns the module ref names, verified: its bytes start with the
// wasm magic, match their digests, and match the reference's pins. OCI
// references honour the pull policy; https references are served from
// the cache when the pinned content is there.
func (f *Fetcher) Fetch(ctx context.Context, ref Ref, fo FetchOptions) (*Module, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	switch ref.Scheme {
	case SchemeFile:
		return f.fetchFile(ref)
	case SchemeHTTPS, SchemeHTTP:
		return f.fetchHTTP(ctx, ref)
	case SchemeOCI:
		return f.fetchOCI(ctx, ref, fo)
	}
	return nil, badRef(ref.Raw, "unknown scheme %q", ref.Scheme)
}

func (f *Fetcher) fetchFile(ref Ref) (*Module, error) {
	fh, err := os.Open(ref.Path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, f.opts.MaxModuleBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > f.opts.MaxModuleBytes {
		return nil, fmt.Errorf("%s: over the %d byte module limit", ref.Path, f.opts.MaxModuleBytes)
	}
	m := &Module{Ref: ref, Wasm: b, Digest: "sha256:" + sha256Hex(b), Format: FormatFile, Size: int64(len(b))}
	return m, verifyModule(m, ref.Pin, "")
}

func (f *Fetcher) fetchHTTP(ctx context.Context, ref Ref) (*Module, error) {
	if ref.Scheme == SchemeHTTP && !f.insecure(hostOf(ref.URL)) {
		return nil, fmt.Errorf("%w: %s (list the host in insecure registries, or use https)", ErrInsecure, ref.URL)
	}
	if f.cache != nil {
		if b, ok := f.cache.Blob(ref.Pin); ok {
			return &Module{Ref: ref, Wasm: b, Digest: "sha256:" + ref.Pin, Format: FormatHTTP, Size: int64(len(b)), FromCache: true}, nil
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/wasm, */*")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", ref.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", ref.URL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", ref.URL, err)
	}
	if int64(len(b)) > f.opts.MaxModuleBytes {
		return nil, fmt.Errorf("GET %s: over the %d byte module limit", ref.URL, f.opts.MaxModuleBytes)
	}
	m := &Module{Ref: ref, Wasm: b, Digest: "sha256:" + sha256Hex(b), Format: FormatHTTP, Size: int64(len(b))}
	if err := verifyModule(m, ref.Pin, ""); err != nil {
		return nil, err
	}
	if f.cache != nil {
		if _, err := f.cache.PutBlob(b); err != nil {
			f.opts.Logger.Warn("module cache: cannot store", "ref", ref.String(), "err", err)
		}
	}
	return m, nil
}

// cacheKey is the cache entry name of an OCI reference (its pin is
// checked on every use, not part of the key).
func cacheKey(ref Ref) string {
	ref.Pin = ""
	return ref.String()
}

func (f *Fetcher) fetchOCI(ctx context.Context, ref Ref, fo FetchOptions) (*Module, error) {
	key := cacheKey(ref)
	var cached *Module
	if f.cache != nil {
		if e, b, ok := f.cache.Lookup(key); ok {
			cached = e.module(ref, b)
			if fo.Policy.Effective(ref) == PullIfNotPresent || !ref.Mutable() {
				if err := verifyModule(cached, ref.Pin, ref.Digest); err == nil {
					return cached, nil
				}
				// A pin the cached content does not satisfy: ask the registry.
			}
		}
	}
	m, err := f.pull(ctx, ref, fo.Credentials, cached)
	if err != nil {
		return nil, err
	}
	if m == cached {
		return m, nil // Always, and the tag still names the cached manifest
	}
	if f.cache != nil {
		if _, err := f.cache.PutBlob(m.Wasm); err == nil {
			err = f.cache.Store(&Entry{Ref: key, WasmDigest: m.Digest, ManifestDigest: m.ManifestDigest, LayerDigest: m.LayerDigest,
				MediaType: m.ManifestMediaType, Format: m.Format, Annotations: m.Annotations, Fetched: time.Now().UTC()})
		}
		if err != nil {
			f.opts.Logger.Warn("module cache: cannot store", "ref", key, "err", err)
		}
	}
	return m, nil
}

func (e *Entry) module(ref Ref, b []byte) *Module {
	return &Module{Ref: ref, Wasm: b, Digest: e.WasmDigest, Format: e.Format, ManifestDigest: e.ManifestDigest,
		ManifestMediaType: e.MediaType, LayerDigest: e.LayerDigest, Annotations: e.Annotations, Size: int64(len(b)), FromCache: true}
}

// verifyModule checks the wasm magic, the manifest digest the reference
// names (OCI), and the pin: for OCI it may be the manifest digest, the
// layer digest or the sha256 of the module; otherwise the module's.
func verifyModule(m *Module, pin, manifestDigest string) error {
	if !bytes.HasPrefix(m.Wasm, []byte("\x00asm")) {
		return fmt.Errorf("%w: %s does not start with the wasm magic \\0asm", ErrNotWasm, m.Ref.String())
	}
	if manifestDigest != "" && m.ManifestDigest != manifestDigest {
		return fmt.Errorf("%w: %s: manifest is %s", ErrDigestMismatch, m.Ref.String(), m.ManifestDigest)
	}
	if pin == "" {
		return nil
	}
	ok := digestHex(m.Digest) == pin
	if m.Ref.Scheme == SchemeOCI {
		ok = ok || digestHex(m.ManifestDigest) == pin || digestHex(m.LayerDigest) == pin
	}
	if !ok {
		if m.Ref.Scheme == SchemeOCI {
			return fmt.Errorf("%w: %s: pin sha256=%s matches neither the manifest (%s), the wasm layer (%s) nor the module (%s)",
				ErrDigestMismatch, m.Ref.String(), pin, m.ManifestDigest, m.LayerDigest, m.Digest)
		}
		return fmt.Errorf("%w: %s: content is %s, pinned sha256=%s", ErrDigestMismatch, m.Ref.String(), m.Digest, pin)
	}
	return nil
}

func hostOf(rawURL string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
	h, _, _ := strings.Cut(s, "/")
	return h
}

// insecure reports whether registry (host[:port]) may be reached over
// plain HTTP.
func (f *Fetcher) insecure(registry string) bool {
	host, _, err := net.SplitHostPort(registry)
	if err != nil {
		host = registry
	}
	return slices.ContainsFunc(f.opts.Insecure, func(s string) bool {
		return s == "*" || strings.EqualFold(s, registry) || strings.EqualFold(s, host)
	})
}

func (f *Fetcher) repository(ref Ref, creds *Credentials) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Repo())
	if err != nil {
		return nil, badRef(ref.Raw, "%v", err)
	}
	repo.PlainHTTP = f.insecure(ref.Registry)
	repo.ManifestMediaTypes = []string{MediaTypeOCIManifest, MediaTypeDockerManifest, MediaTypeOCIIndex, MediaTypeDockerList}
	var docker auth.CredentialFunc
	if f.docker != nil {
		docker = credentials.Credential(f.docker)
	}
	repo.Client = &auth.Client{
		Client: f.client,
		Header: http.Header{"User-Agent": {"weir"}},
		Cache:  auth.NewCache(),
		Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
			if c, ok := creds.get(ctx, hostport); ok {
				return c, nil
			}
			if docker != nil {
				return docker(ctx, hostport)
			}
			return auth.EmptyCredential, nil
		},
	}
	return repo, nil
}

// Pull fetches ref from its registry (never from the cache) and verifies
// it: manifest and layer digests, the reference's digest and pin, the
// wasm magic.
func (f *Fetcher) Pull(ctx context.Context, ref Ref, creds *Credentials) (*Module, error) {
	return f.pull(ctx, ref, creds, nil)
}

// pull is Pull that returns cached, without downloading the layer, when
// the registry's manifest is the one cached came from.
func (f *Fetcher) pull(ctx context.Context, ref Ref, creds *Credentials, cached *Module) (*Module, error) {
	if ref.Scheme != SchemeOCI {
		return nil, badRef(ref.Raw, "not an oci:// reference")
	}
	repo, err := f.repository(ref, creds)
	if err != nil {
		return nil, err
	}
	desc, rc, err := repo.FetchReference(ctx, ref.Reference())
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", ref.String(), err)
	}
	raw, err := readVerified(rc, desc, maxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", ref.String(), err)
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(raw, &mf); err != nil {
		return nil, fmt.Errorf("%w: %s: manifest is not JSON: %v", ErrNotWasm, ref.String(), err)
	}
	mt := desc.MediaType
	if mt == "" {
		mt = mf.MediaType
	}
	switch mt {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
	case MediaTypeOCIIndex, MediaTypeDockerList:
		return nil, fmt.Errorf("%w: %s is an image index (%s); reference a single wasm manifest", ErrNotWasm, ref.String(), mt)
	default:
		return nil, fmt.Errorf("%w: %s: unsupported manifest media type %q", ErrNotWasm, ref.String(), mt)
	}
	if cached != nil && cached.ManifestDigest == desc.Digest.String() {
		if err := verifyModule(cached, ref.Pin, ref.Digest); err == nil {
			return cached, nil
		}
	}
	layer, format, err := pickLayer(&mf, mt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.String(), err)
	}
	if layer.Size > f.opts.MaxModuleBytes {
		return nil, fmt.Errorf("%s: wasm layer is %d bytes, over the %d byte limit", ref.String(), layer.Size, f.opts.MaxModuleBytes)
	}
	lrc, err := repo.Blobs().Fetch(ctx, layer)
	if err != nil {
		return nil, fmt.Errorf("%s: layer %s: %w", ref.String(), layer.Digest, err)
	}
	blob, err := readVerified(lrc, layer, f.opts.MaxModuleBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: layer %s: %w", ref.String(), layer.Digest, err)
	}
	wasm := blob
	if format == FormatCompat || format == FormatCompatDocker {
		if wasm, err = extractCompat(blob, f.opts.MaxModuleBytes); err != nil {
			return nil, fmt.Errorf("%s: %w", ref.String(), err)
		}
	}
	m := &Module{Ref: ref, Wasm: wasm, Digest: "sha256:" + sha256Hex(wasm), Format: format,
		ManifestDigest: desc.Digest.String(), ManifestMediaType: mt, LayerDigest: layer.Digest.String(),
		LayerMediaType: layer.MediaType, ConfigMediaType: mf.Config.MediaType, Annotations: mf.Annotations, Size: layer.Size}
	if err := verifyModule(m, ref.Pin, ref.Digest); err != nil {
		return nil, err
	}
	return m, nil
}

// readVerified reads the content desc describes (at most limit bytes)
// and checks its size and digest.
func readVerified(rc io.ReadCloser, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	defer rc.Close()
	if desc.Size > limit {
		return nil, fmt.Errorf("%d bytes, over the %d byte limit", desc.Size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if desc.Size > 0 && int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrDigestMismatch, len(b), desc.Size)
	}
	if desc.Digest != "" {
		if got := "sha256:" + sha256Hex(b); desc.Digest.Algorithm() != "sha256" || got != desc.Digest.String() {
			return nil, fmt.Errorf("%w: content is %s, want %s", ErrDigestMismatch, got, desc.Digest)
		}
	}
	return b, nil
}
