package modules

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format names an image layout (or a non-OCI source).
type Format string

// Image layouts Weir pulls (and pushes), and the non-OCI sources.
const (
	// FormatCNCF: the CNCF TAG-Runtime wasm artifact: config
	// application/vnd.wasm.config.v0+json, one application/wasm layer.
	FormatCNCF Format = "cncf"
	// FormatCompat: Istio/solo.io "compat" OCI image: a tar+gzip layer
	// holding plugin.wasm, annotation module.wasm.image/variant=compat.
	FormatCompat Format = "compat"
	// FormatCompatDocker: the same as a Docker v2 image.
	FormatCompatDocker Format = "compat-docker"
	// FormatSolo: solo.io's "oci" variant: two layers, a
	// application/vnd.module.wasm.config.v1+json and the raw wasm as
	// application/vnd.module.wasm.content.layer.v1+wasm.
	FormatSolo Format = "solo"
	// FormatLegacy: wasm-to-oci / early ORAS artifacts
	// (application/vnd.wasm.content.layer.v1+wasm). Pull only.
	FormatLegacy Format = "legacy"
	// FormatHTTP and FormatFile: not from a registry.
	FormatHTTP Format = "https"
	FormatFile Format = "file"
)

// PushFormats are the layouts `weir plugin push --format` writes.
var PushFormats = []Format{FormatCNCF, FormatCompat, FormatCompatDocker, FormatSolo}

// Media types of the layouts above.
const (
	MediaTypeOCIManifest    = ocispec.MediaTypeImageManifest
	MediaTypeOCIIndex       = ocispec.MediaTypeImageIndex
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeOCIConfig      = ocispec.MediaTypeImageConfig
	MediaTypeOCILayerGzip   = ocispec.MediaTypeImageLayerGzip

	MediaTypeCNCFConfig = "application/vnd.wasm.config.v0+json"
	MediaTypeCNCFLayer  = "application/wasm"

	MediaTypeSoloConfig = "application/vnd.module.wasm.config.v1+json"
	MediaTypeSoloLayer  = "application/vnd.module.wasm.content.layer.v1+wasm"

	MediaTypeLegacyLayer  = "application/vnd.wasm.content.layer.v1+wasm"
	MediaTypeLegacyConfig = "application/vnd.wasm.config.v1+json"

	// AnnotationVariant marks an OCI compat image (value "compat").
	AnnotationVariant = "module.wasm.image/variant"
	// AnnotationPluginName and AnnotationABIVersion are what `weir plugin
	// push` records about the module.
	AnnotationPluginName = "dev.weir.plugin.name"
	AnnotationABIVersion = "dev.weir.plugin.abi-version"
)

// pickLayer chooses the layer holding the module, in the order Istio's
// fetcher and the CNCF spec imply: a raw wasm layer of any known media
// type first, else the last tar+gzip layer of a compat image.
func pickLayer(m *ocispec.Manifest, manifestType string) (ocispec.Descriptor, Format, error) {
	for _, l := range m.Layers {
		switch l.MediaType {
		case MediaTypeCNCFLayer:
			return l, FormatCNCF, nil
		case MediaTypeSoloLayer:
			return l, FormatSolo, nil
		case MediaTypeLegacyLayer:
			return l, FormatLegacy, nil
		}
	}
	if n := len(m.Layers); n > 0 {
		l := m.Layers[n-1]
		switch l.MediaType {
		case MediaTypeDockerLayer:
			return l, FormatCompatDocker, nil
		case MediaTypeOCILayerGzip:
			return l, FormatCompat, nil
		}
	}
	types := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		types[i] = l.MediaType
	}
	return ocispec.Descriptor{}, "", fmt.Errorf("%w: manifest (%s) has no wasm layer (layers %q; want %s, %s, or a compat tar+gzip layer holding plugin.wasm)",
		ErrNotWasm, manifestType, types, MediaTypeCNCFLayer, MediaTypeSoloLayer)
}

// extractCompat returns plugin.wasm from a compat tar.gz layer, reading
// at most limit bytes of it.
func extractCompat(blob []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, fmt.Errorf("%w: compat layer is not gzip: %v", ErrNotWasm, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: compat layer has no plugin.wasm", ErrNotWasm)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: compat layer: %v", ErrNotWasm, err)
		}
		if h.Typeflag != tar.TypeReg || path.Clean("/"+h.Name) != "/plugin.wasm" {
			continue
		}
		if h.Size > limit {
			return nil, fmt.Errorf("plugin.wasm is %d bytes, over the %d byte limit", h.Size, limit)
		}
		b, err := io.ReadAll(io.LimitReader(tr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("compat layer: %v", err)
		}
		return b, nil
	}
}

// buildCompat returns a tar.gz holding wasm as plugin.wasm, and the
// sha256 digest of the uncompressed tar (the image config's diff_id).
func buildCompat(wasm []byte) (gz []byte, diffID string, err error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(&tar.Header{Name: "plugin.wasm", Mode: 0o644, Size: int64(len(wasm)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), "sha256:" + sha256Hex(tarBuf.Bytes()), nil
}
