package host

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
	"github.com/weirproxy/weir/host/internal/modules"
)

// ModuleToolOptions configure the registry client of `weir plugin
// push/pull/inspect`.
type ModuleToolOptions struct {
	// Insecure lists registries (host or host:port, "*") reached over
	// plain HTTP.
	Insecure []string
	// DockerConfig holds registry credentials; "" uses $DOCKER_CONFIG/
	// config.json or ~/.docker/config.json when present.
	DockerConfig string
	// CAFile is a PEM bundle trusted instead of the system roots.
	CAFile string
	// Timeout bounds the whole operation. Default 60s.
	Timeout time.Duration
}

func (o ModuleToolOptions) fetcher() (*modules.Fetcher, error) {
	opts := modules.Options{Insecure: o.Insecure, DockerConfig: o.DockerConfig, Timeout: o.Timeout}
	if opts.DockerConfig == "" {
		dir := os.Getenv("DOCKER_CONFIG")
		if dir == "" {
			if home, err := os.UserHomeDir(); err == nil {
				dir = filepath.Join(home, ".docker")
			}
		}
		if p := filepath.Join(dir, "config.json"); dir != "" {
			if _, err := os.Stat(p); err == nil {
				opts.DockerConfig = p
			}
		}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
		}
		opts.RootCAs = pool
	}
	return modules.New(opts)
}

// ModuleFormats are the layouts PushModule writes: "cncf" (the CNCF wasm
// artifact, the default), "compat" and "compat-docker" (Istio's compat
// image, OCI or Docker manifest), "solo" (solo.io's two-layer variant).
func ModuleFormats() []string {
	out := make([]string, len(modules.PushFormats))
	for i, f := range modules.PushFormats {
		out[i] = string(f)
	}
	return out
}

// PushModule pushes wasm to an oci:// reference with a tag, in format
// ("" = cncf). The manifest is annotated with the plugin name (when
// given) and the proxy-wasm ABI version detected from the module's
// exports. It returns the manifest digest.
func PushModule(ctx context.Context, ref string, wasm []byte, format, name string, o ModuleToolOptions) (string, error) {
	r, err := modules.ParseRef(ref)
	if err != nil {
		return "", err
	}
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return "", fmt.Errorf("not a wasm module: %w", err)
	}
	ann := map[string]string{}
	var abis []string
	if v, err := abi.DetectVersion(exportNames(m)); err == nil {
		ann[modules.AnnotationABIVersion] = v.String()
		abis = []string{"v" + v.String()}
	} else {
		return "", fmt.Errorf("not a proxy-wasm module: %w", err)
	}
	if name != "" {
		ann[modules.AnnotationPluginName] = name
		ann["org.opencontainers.image.title"] = name
	}
	f, err := o.fetcher()
	if err != nil {
		return "", err
	}
	desc, err := f.Push(ctx, r, wasm, modules.PushOptions{Format: modules.Format(format), Annotations: ann, ABIVersions: abis})
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// PulledModule is a module fetched by PullModule, with what `weir plugin
// inspect` shows.
type PulledModule struct {
	Ref    string `json:"ref"`
	Wasm   []byte `json:"-"`
	Digest string `json:"digest"`
	Format string `json:"format"`
	Size   int64  `json:"size"`

	ManifestDigest    string            `json:"manifest_digest,omitempty"`
	ManifestMediaType string            `json:"manifest_media_type,omitempty"`
	ConfigMediaType   string            `json:"config_media_type,omitempty"`
	LayerDigest       string            `json:"layer_digest,omitempty"`
	LayerMediaType    string            `json:"layer_media_type,omitempty"`
	LayerSize         int64             `json:"layer_size,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
}

// PullModule fetches and verifies a module reference (oci://, https://
// with its pin, file://), bypassing any cache.
func PullModule(ctx context.Context, ref string, o ModuleToolOptions) (*PulledModule, error) {
	r, err := modules.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	f, err := o.fetcher()
	if err != nil {
		return nil, err
	}
	var m *modules.Module
	if r.Scheme == modules.SchemeOCI {
		if o.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.Timeout)
			defer cancel()
		}
		m, err = f.Pull(ctx, r, nil)
	} else {
		m, err = f.Fetch(ctx, r, modules.FetchOptions{})
	}
	if err != nil {
		return nil, err
	}
	return &PulledModule{Ref: r.String(), Wasm: m.Wasm, Digest: m.Digest, Format: string(m.Format), Size: int64(len(m.Wasm)),
		ManifestDigest: m.ManifestDigest, ManifestMediaType: m.ManifestMediaType, ConfigMediaType: m.ConfigMediaType,
		LayerDigest: m.LayerDigest, LayerMediaType: m.LayerMediaType, Annotations: m.Annotations, LayerSize: layerSize(m)}, nil
}

func exportNames(m *wasmbin.Module) []string {
	names := make([]string, len(m.Exports))
	for i, e := range m.Exports {
		names[i] = e.Name
	}
	return names
}

func layerSize(m *modules.Module) int64 {
	if m.LayerDigest == "" {
		return 0
	}
	return m.Size
}
