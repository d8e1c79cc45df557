package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"oras.land/oras-go/v2/errdef"

	"github.com/weirproxy/weir/host/internal/modules/registrytest"
)

func readWasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "wasm", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestParseRef(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	tests := []struct {
		name, in              string
		wantErr               string
		wantRepo, wantTag     string
		wantDigest, wantPin   string
		wantURL, wantPath     string
		wantMutable, wantLate bool
	}{
		{name: "tag", in: "oci://127.0.0.1:5000/plugins/auth:v1", wantRepo: "127.0.0.1:5000/plugins/auth", wantTag: "v1", wantMutable: true},
		{name: "no tag means latest", in: "oci://ghcr.io/acme/p", wantRepo: "ghcr.io/acme/p", wantTag: "latest", wantMutable: true, wantLate: true},
		{name: "digest", in: "oci://r.example/p@sha256:" + pin, wantRepo: "r.example/p", wantDigest: "sha256:" + pin},
		{name: "tag and digest", in: "oci://r.example/p:v2@sha256:" + pin, wantRepo: "r.example/p", wantTag: "v2", wantDigest: "sha256:" + pin},
		{name: "oci pin", in: "oci://r.example/p:v2#sha256=" + strings.ToUpper(pin), wantRepo: "r.example/p", wantTag: "v2", wantPin: pin, wantMutable: true},
		{name: "https", in: "https://h.example/m/p.wasm#sha256=" + pin, wantURL: "https://h.example/m/p.wasm", wantPin: pin},
		{name: "file", in: "file:///opt/p.wasm", wantPath: "/opt/p.wasm"},
		{name: "file localhost pinned", in: "file://localhost/opt/p.wasm#sha256=" + pin, wantPath: "/opt/p.wasm", wantPin: pin},
		{name: "https without pin", in: "https://h.example/p.wasm", wantErr: "need a sha256 pin"},
		{name: "bad pin", in: "https://h.example/p.wasm#sha256=xyz", wantErr: "#sha256="},
		{name: "bad fragment", in: "oci://r/p:v1#md5=00", wantErr: "#sha256="},
		{name: "bad digest", in: "oci://r/p@sha256:1234", wantErr: "@sha256:"},
		{name: "upper-case repository", in: "oci://r/Plugins:v1", wantErr: "invalid repository"},
		{name: "bad tag", in: "oci://r/p:-x", wantErr: "invalid tag"},
		{name: "no repository", in: "oci://registry.example", wantErr: "want oci://registry/repository"},
		{name: "relative file", in: "file://rel/p.wasm", wantErr: "local absolute path"},
		{name: "unknown scheme", in: "ftp://h/p.wasm", wantErr: "unknown scheme"},
		{name: "credentials in URL", in: "https://u:p@h/p.wasm#sha256=" + pin, wantErr: "credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRef(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrBadRef) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want an error containing %q", tc.in, r, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRef(%q): %v", tc.in, err)
			}
			if r.Scheme == SchemeOCI && r.Repo() != tc.wantRepo {
				t.Errorf("Repo = %q, want %q", r.Repo(), tc.wantRepo)
			}
			if r.Tag != tc.wantTag || r.Digest != tc.wantDigest || r.Pin != tc.wantPin || r.URL != tc.wantURL || r.Path != tc.wantPath {
				t.Errorf("got tag %q digest %q pin %q url %q path %q", r.Tag, r.Digest, r.Pin, r.URL, r.Path)
			}
			if r.Mutable() != tc.wantMutable {
				t.Errorf("Mutable = %v, want %v", r.Mutable(), tc.wantMutable)
			}
			if late := PullDefault.Effective(r) == PullAlways; late != tc.wantLate {
				t.Errorf("default policy Always = %v, want %v", late, tc.wantLate)
			}
			again, err := ParseRef(r.String())
			if err != nil || again.String() != r.String() {
				t.Errorf("String() %q does not round-trip: %q, %v", r.String(), again.String(), err)
			}
		})
	}
}

func TestCacheVerifiesAndCollects(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wasm := readWasm(t, "plugin.wasm")
	d, err := c.PutBlob(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store(&Entry{Ref: "oci://r/p:v1", WasmDigest: d}); err != nil {
		t.Fatal(err)
	}
	if _, b, ok := c.Lookup("oci://r/p:v1"); !ok || !bytes.Equal(b, wasm) {
		t.Fatalf("Lookup: ok=%v", ok)
	}
	if _, _, ok := c.Lookup("oci://r/p:v2"); ok {
		t.Fatal("Lookup of an unknown ref hit")
	}
	// No temporary files are left behind by atomic writes.
	tmps, _ := filepath.Glob(filepath.Join(c.Dir(), "*", ".tmp-*"))
	if len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}

	// A corrupt blob reads as a miss and is removed.
	p := c.blobPath(digestHex(d))
	corrupt := bytes.Clone(wasm)
	corrupt[len(corrupt)-1] ^= 0xff
	if err := os.WriteFile(p, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Lookup("oci://r/p:v1"); ok {
		t.Fatal("a corrupt blob was served")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("corrupt blob not removed: %v", err)
	}

	// GC: a recently used entry stays, an old one goes.
	d1, _ := c.PutBlob(wasm)
	other := readWasm(t, "addheader.wasm")
	d2, _ := c.PutBlob(other)
	c.Store(&Entry{Ref: "oci://r/p:v1", WasmDigest: d1})
	c.Store(&Entry{Ref: "oci://r/q:v1", WasmDigest: d2})
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(c.blobPath(digestHex(d2)), old, old)
	os.Chtimes(c.refPath("oci://r/q:v1"), old, old)
	n, err := c.GC(24 * time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("GC removed %d (err %v), want 2 (one blob, one ref)", n, err)
	}
	if _, _, ok := c.Lookup("oci://r/p:v1"); !ok {
		t.Fatal("GC removed an entry in use")
	}
	if _, _, ok := c.Lookup("oci://r/q:v1"); ok {
		t.Fatal("GC kept an unused entry")
	}
}

func newFetcher(t testing.TB, opts Options) *Fetcher {
	t.Helper()
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustRef(t testing.TB, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRegistryFormats pushes one module in every layout to a real
// registry and pulls it back.
func TestRegistryFormats(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFetcher(t, Options{Insecure: []string{reg.Host}})
	wasm := readWasm(t, "plugin.wasm")
	ctx := context.Background()
	tests := []struct {
		format       Format
		wantManifest string
		wantLayer    string
		wantConfig   string
	}{
		{format: FormatCNCF, wantManifest: MediaTypeOCIManifest, wantLayer: MediaTypeCNCFLayer, wantConfig: MediaTypeCNCFConfig},
		{format: FormatCompat, wantManifest: MediaTypeOCIManifest, wantLayer: MediaTypeOCILayerGzip, wantConfig: MediaTypeOCIConfig},
		{format: FormatCompatDocker, wantManifest: MediaTypeDockerManifest, wantLayer: MediaTypeDockerLayer, wantConfig: MediaTypeDockerConfig},
		{format: FormatSolo, wantManifest: MediaTypeOCIManifest, wantLayer: MediaTypeSoloLayer, wantConfig: MediaTypeSoloConfig},
	}
	for _, tc := range tests {
		t.Run(string(tc.format), func(t *testing.T) {
			ref := mustRef(t, "oci://"+reg.Host+"/plugins/"+string(tc.format)+":v1")
			desc, err := f.Push(ctx, ref, wasm, PushOptions{Format: tc.format, Annotations: map[string]string{AnnotationPluginName: "p"}})
			if err != nil {
				t.Fatal(err)
			}
			m, err := f.Pull(ctx, ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Wasm, wasm) || m.Digest != "sha256:"+hexOf(wasm) {
				t.Fatalf("pulled %d bytes (%s), want the pushed module", len(m.Wasm), m.Digest)
			}
			if m.Format != tc.format || m.ManifestMediaType != tc.wantManifest || m.LayerMediaType != tc.wantLayer || m.ConfigMediaType != tc.wantConfig {
				t.Fatalf("got format %s manifest %s layer %s config %s", m.Format, m.ManifestMediaType, m.LayerMediaType, m.ConfigMediaType)
			}
			if m.ManifestDigest != desc.Digest.String() {
				t.Fatalf("manifest digest %s, pushed %s", m.ManifestDigest, desc.Digest)
			}
			if tc.wantManifest == MediaTypeOCIManifest && m.Annotations[AnnotationPluginName] != "p" {
				t.Fatalf("annotations %v lack the plugin name", m.Annotations)
			}
		})
	}
}

// pushRaw pushes a hand-built single-layer manifest (for layouts Push
// refuses to write).
func pushRaw(t testing.TB, f *Fetcher, ref Ref, layerType string, layer []byte) {
	t.Helper()
	ctx := context.Background()
	repo, err := f.repository(ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte("{}")
	cd := ocispec.Descriptor{MediaType: MediaTypeCNCFConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	ld := ocispec.Descriptor{MediaType: layerType, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cd, cfg}, {ld, layer}} {
		if err := repo.Blobs().Push(ctx, b.d, bytes.NewReader(b.b)); err != nil {
			t.Fatal(err)
		}
	}
	mf := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		MediaTypeOCIManifest, cd.MediaType, cd.Digest, cd.Size, ld.MediaType, ld.Digest, ld.Size)
	md := ocispec.Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromString(mf), Size: int64(len(mf))}
	if err := repo.PushReference(ctx, md, strings.NewReader(mf), ref.Tag); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryVerification: digest pins of both kinds are accepted, wrong
// pins, tampered blobs, non-wasm layers and unknown layouts are rejected.
func TestRegistryVerification(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFetcher(t, Options{Insecure: []string{reg.Host}})
	ctx := context.Background()
	wasm := readWasm(t, "plugin.wasm")
	base := "oci://" + reg.Host + "/plugins/p"
	desc, err := f.Push(ctx, mustRef(t, base+":v1"), wasm, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compatDesc, err := f.Push(ctx, mustRef(t, base+"-compat:v1"), wasm, PushOptions{Format: FormatCompat})
	if err != nil {
		t.Fatal(err)
	}
	compat, err := f.Pull(ctx, mustRef(t, base+"-compat:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	manifest := digestHex(desc.Digest.String())
	layer := hexOf(wasm) // the CNCF layer is the raw module
	wrong := strings.Repeat("0", 64)
	pushRaw(t, f, mustRef(t, base+"-text:v1"), MediaTypeCNCFLayer, []byte("not a wasm module"))
	pushRaw(t, f, mustRef(t, base+"-tar:v1"), "application/vnd.oci.image.layer.v1.tar", wasm)

	tests := []struct {
		name, ref string
		wantErr   error
	}{
		{name: "manifest digest reference", ref: base + "@sha256:" + manifest},
		{name: "tag and matching digest", ref: base + ":v1@sha256:" + manifest},
		{name: "pin: manifest digest (Istio)", ref: base + ":v1#sha256=" + manifest},
		{name: "pin: wasm layer digest", ref: base + ":v1#sha256=" + layer},
		{name: "compat pin: layer blob", ref: base + "-compat:v1#sha256=" + digestHex(compat.LayerDigest)},
		{name: "compat pin: plugin.wasm", ref: base + "-compat:v1#sha256=" + hexOf(wasm)},
		{name: "compat pin: manifest", ref: base + "-compat:v1#sha256=" + digestHex(compatDesc.Digest.String())},
		{name: "wrong pin", ref: base + ":v1#sha256=" + wrong, wantErr: ErrDigestMismatch},
		{name: "digest of another repository", ref: base + ":v1@sha256:" + digestHex(compatDesc.Digest.String()), wantErr: errdef.ErrNotFound},
		{name: "non-wasm layer", ref: base + "-text:v1", wantErr: ErrNotWasm},
		{name: "unknown layer type", ref: base + "-tar:v1", wantErr: ErrNotWasm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := f.Pull(ctx, mustRef(t, tc.ref), nil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Pull: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Wasm, wasm) {
				t.Fatal("wrong module")
			}
		})
	}

	t.Run("tampered blob", func(t *testing.T) {
		ref := mustRef(t, base+"-tampered:v1")
		other := readWasm(t, "addheader.wasm")
		if _, err := f.Push(ctx, ref, other, PushOptions{}); err != nil {
			t.Fatal(err)
		}
		p := reg.BlobPath("sha256:" + hexOf(other))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 0xff // same size, different content
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Pull(ctx, ref, nil); !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Pull of a tampered blob: %v, want ErrDigestMismatch", err)
		}
	})

	t.Run("plain HTTP only when listed", func(t *testing.T) {
		strict := newFetcher(t, Options{Timeout: 5 * time.Second})
		if _, err := strict.Pull(ctx, mustRef(t, base+":v1"), nil); err == nil || !strings.Contains(err.Error(), "https") && !strings.Contains(err.Error(), "HTTP") {
			t.Fatalf("Pull over TLS from a plain-HTTP registry: %v, want a TLS error", err)
		}
	})
}

// TestRegistryAuth: a registry with htpasswd basic auth refuses
// anonymous pulls and accepts credentials from a docker config file, a
// dockerconfigjson Secret payload, and explicit basic credentials.
func TestRegistryAuth(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Username: "weir", Password: "s3cret"})
	ctx := context.Background()
	wasm := readWasm(t, "plugin.wasm")
	ref := mustRef(t, "oci://"+reg.Host+"/private/p:v1")
	secret := []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, base64.StdEncoding.EncodeToString([]byte("weir:s3cret"))))
	dockerCfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(dockerCfg, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	anon := newFetcher(t, Options{Insecure: []string{reg.Host}})
	basic := BasicCredentials(reg.Host, "weir", "s3cret")
	if _, err := anon.Push(ctx, ref, wasm, PushOptions{}); err == nil {
		t.Fatal("anonymous push succeeded")
	}
	if _, err := anon.Push(ctx, ref, wasm, PushOptions{Credentials: basic}); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	fromSecret, err := CredentialsFromDockerConfigJSON(secret)
	if err != nil {
		t.Fatal(err)
	}
	badSecret, _ := CredentialsFromDockerConfigJSON([]byte(fmt.Sprintf(`{"auths":{%q:{"username":"weir","password":"nope"}}}`, reg.Host)))
	tests := []struct {
		name    string
		opts    Options
		creds   *Credentials
		wantErr bool
	}{
		{name: "anonymous", wantErr: true},
		{name: "wrong password", creds: badSecret, wantErr: true},
		{name: "docker config file", opts: Options{DockerConfig: dockerCfg}},
		{name: "dockerconfigjson secret", creds: fromSecret},
		{name: "basic credentials", creds: basic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Insecure = []string{reg.Host}
			f := newFetcher(t, tc.opts)
			m, err := f.Pull(ctx, ref, tc.creds)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "credential") {
					t.Fatalf("Pull: %v, want 401", err)
				}
				return
			}
			if err != nil || !bytes.Equal(m.Wasm, wasm) {
				t.Fatalf("Pull: %v", err)
			}
		})
	}
}

// TestPullPolicy: IfNotPresent keeps the cached module of a moved tag,
// Always follows the tag, and digest references are served from the
// cache even with the registry down.
func TestPullPolicy(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	f := newFetcher(t, Options{Insecure: []string{reg.Host}, CacheDir: t.TempDir()})
	v1, v2 := readWasm(t, "plugin.wasm"), readWasm(t, "addheader.wasm")
	ref := mustRef(t, "oci://"+reg.Host+"/plugins/p:stable")
	d1, err := f.Push(ctx, ref, v1, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := f.Fetch(ctx, ref, FetchOptions{}); err != nil || m.FromCache || !bytes.Equal(m.Wasm, v1) {
		t.Fatalf("first fetch: %v (from cache %v)", err, m != nil && m.FromCache)
	}
	if _, err := f.Push(ctx, ref, v2, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		policy    PullPolicy
		want      []byte
		fromCache bool
	}{
		{name: "IfNotPresent keeps the cached module", policy: PullIfNotPresent, want: v1, fromCache: true},
		{name: "default is IfNotPresent for a version tag", policy: PullDefault, want: v1, fromCache: true},
		{name: "Always follows the tag", policy: PullAlways, want: v2},
		{name: "IfNotPresent now has the new module", policy: PullIfNotPresent, want: v2, fromCache: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := f.Fetch(ctx, ref, FetchOptions{Policy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Wasm, tc.want) || m.FromCache != tc.fromCache {
				t.Fatalf("got %s (from cache %v), want %s (from cache %v)", m.Digest, m.FromCache, hexOf(tc.want), tc.fromCache)
			}
		})
	}
	byDigest := mustRef(t, "oci://"+reg.Host+"/plugins/p@"+d1.Digest.String())
	if _, err := f.Fetch(ctx, byDigest, FetchOptions{Policy: PullAlways}); err != nil {
		t.Fatal(err)
	}
	reg.Stop()
	m, err := f.Fetch(ctx, byDigest, FetchOptions{Policy: PullAlways})
	if err != nil || !m.FromCache || !bytes.Equal(m.Wasm, v1) {
		t.Fatalf("digest reference with the registry down: %v", err)
	}
	if _, err := f.Fetch(ctx, ref, FetchOptions{Policy: PullAlways}); err == nil {
		t.Fatal("Always with the registry down succeeded")
	}
}

// TestHTTPSFetch fetches a pinned module from a TLS server on 127.0.0.1,
// with retries on 5xx, then from the cache; a wrong pin or non-wasm
// content is rejected, and a hung server hits the timeout.
func TestHTTPSFetch(t *testing.T) {
	wasm := readWasm(t, "plugin.wasm")
	var hits, fail atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/hang":
			<-r.Context().Done()
			// Never answer (a plain return would send an empty 200 that a
			// retry on a loaded machine could read).
			panic(http.ErrAbortHandler)
		case "/text":
			w.Write([]byte("hello"))
			return
		}
		if fail.Load() > 0 {
			fail.Add(-1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write(wasm)
	}))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	f := newFetcher(t, Options{RootCAs: pool, CacheDir: t.TempDir(), Timeout: 3 * time.Second})
	ctx := context.Background()
	good := mustRef(t, srv.URL+"/p.wasm#sha256="+hexOf(wasm))

	fail.Store(2)
	m, err := f.Fetch(ctx, good, FetchOptions{})
	if err != nil || !bytes.Equal(m.Wasm, wasm) || m.FromCache {
		t.Fatalf("fetch: %v", err)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d requests, want 3 (two 503s retried)", hits.Load())
	}
	if m, err := f.Fetch(ctx, good, FetchOptions{}); err != nil || !m.FromCache || hits.Load() != 3 {
		t.Fatalf("second fetch: %v, from cache %v, %d requests", err, m != nil && m.FromCache, hits.Load())
	}
	tests := []struct {
		name, ref string
		wantErr   error
		wantText  string
	}{
		{name: "wrong pin", ref: srv.URL + "/other.wasm#sha256=" + strings.Repeat("1", 64), wantErr: ErrDigestMismatch},
		{name: "not wasm", ref: srv.URL + "/text#sha256=" + hexOf([]byte("hello")), wantErr: ErrNotWasm},
		{name: "timeout", ref: srv.URL + "/hang#sha256=" + strings.Repeat("2", 64), wantText: "deadline"},
		{name: "plain http not listed", ref: "http://" + srv.Listener.Addr().String() + "/p.wasm#sha256=" + hexOf(wasm), wantErr: ErrInsecure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Fetch(ctx, mustRef(t, tc.ref), FetchOptions{})
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) || tc.wantText != "" && !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Fetch: %v, want %v %q", err, tc.wantErr, tc.wantText)
			}
		})
	}
}

func TestFileFetch(t *testing.T) {
	wasm := readWasm(t, "plugin.wasm")
	p := filepath.Join(t.TempDir(), "p.wasm")
	os.WriteFile(p, wasm, 0o644)
	f := newFetcher(t, Options{})
	if m, err := f.Fetch(context.Background(), mustRef(t, "file://"+p+"#sha256="+hexOf(wasm)), FetchOptions{}); err != nil || !bytes.Equal(m.Wasm, wasm) {
		t.Fatalf("pinned file: %v", err)
	}
	if _, err := f.Fetch(context.Background(), mustRef(t, "file://"+p+"#sha256="+strings.Repeat("3", 64)), FetchOptions{}); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("wrong pin: %v", err)
	}
}
