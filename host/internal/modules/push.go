package modules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PushOptions configure [Fetcher.Push].
type PushOptions struct {
	// Format is the image layout; "" is FormatCNCF.
	Format Format
	// Annotations go on the manifest (not on Docker v2 manifests, which
	// have none).
	Annotations map[string]string
	// ABIVersions, for the solo.io config ("v0.2.1" style strings).
	ABIVersions []string
	Credentials *Credentials
}

// Push uploads wasm to ref (which must have a tag and no digest) in the
// given layout, and returns the manifest descriptor.
func (f *Fetcher) Push(ctx context.Context, ref Ref, wasm []byte, po PushOptions) (ocispec.Descriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	if ref.Scheme != SchemeOCI {
		return ocispec.Descriptor{}, badRef(ref.Raw, "push needs an oci:// reference")
	}
	if ref.Digest != "" || ref.Pin != "" {
		return ocispec.Descriptor{}, badRef(ref.Raw, "push needs a tag, not a digest or pin")
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return ocispec.Descriptor{}, fmt.Errorf("%w: the file does not start with the wasm magic", ErrNotWasm)
	}
	if po.Format == "" {
		po.Format = FormatCNCF
	}
	repo, err := f.repository(ref, po.Credentials)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	type blob struct {
		desc ocispec.Descriptor
		data []byte
	}
	mk := func(mt string, b []byte) blob {
		return blob{desc: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}, data: b}
	}
	created := time.Now().UTC().Format(time.RFC3339)
	ann := maps.Clone(po.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	if _, ok := ann[ocispec.AnnotationCreated]; !ok {
		ann[ocispec.AnnotationCreated] = created
	}
	var (
		config       blob
		layers       []blob
		manifestType = MediaTypeOCIManifest
	)
	switch po.Format {
	case FormatCNCF:
		layer := mk(MediaTypeCNCFLayer, wasm)
		cfg, _ := json.Marshal(map[string]any{
			"created":      created,
			"architecture": "wasm",
			"os":           "wasip1",
			"layerDigests": []string{layer.desc.Digest.String()},
		})
		config, layers = mk(MediaTypeCNCFConfig, cfg), []blob{layer}
	case FormatSolo:
		abis := po.ABIVersions
		if abis == nil {
			abis = []string{}
		}
		cfg, _ := json.Marshal(map[string]any{
			"type":        "envoy_proxy",
			"abiVersions": abis,
			"config":      map[string]any{"rootIds": []string{}},
		})
		config = mk(MediaTypeSoloConfig, cfg)
		layers = []blob{config, mk(MediaTypeSoloLayer, wasm)}
	case FormatCompat, FormatCompatDocker:
		gz, diffID, err := buildCompat(wasm)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		cfg, _ := json.Marshal(map[string]any{
			"created":      created,
			"architecture": "wasm",
			"os":           "wasip1",
			"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		})
		if po.Format == FormatCompat {
			ann[AnnotationVariant] = "compat"
			config, layers = mk(MediaTypeOCIConfig, cfg), []blob{mk(MediaTypeOCILayerGzip, gz)}
		} else {
			manifestType = MediaTypeDockerManifest
			config, layers = mk(MediaTypeDockerConfig, cfg), []blob{mk(MediaTypeDockerLayer, gz)}
		}
	default:
		return ocispec.Descriptor{}, fmt.Errorf("unknown format %q (want %s)", po.Format, formatList())
	}
	for _, b := range append([]blob{config}, layers...) {
		if ok, err := repo.Blobs().Exists(ctx, b.desc); err == nil && ok {
			continue
		}
		if err := repo.Blobs().Push(ctx, b.desc, bytes.NewReader(b.data)); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("push blob %s: %w", b.desc.Digest, err)
		}
	}
	mf := map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestType,
		"config":        config.desc,
	}
	ls := make([]ocispec.Descriptor, len(layers))
	for i, l := range layers {
		ls[i] = l.desc
	}
	mf["layers"] = ls
	if manifestType == MediaTypeOCIManifest {
		mf["annotations"] = ann
	}
	raw, err := json.Marshal(mf)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: manifestType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := repo.PushReference(ctx, desc, bytes.NewReader(raw), ref.Tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push manifest: %w", err)
	}
	return desc, nil
}

func formatList() string {
	s := make([]string, len(PushFormats))
	for i, f := range PushFormats {
		s[i] = string(f)
	}
	return fmt.Sprint(slices.Clip(s))
}
