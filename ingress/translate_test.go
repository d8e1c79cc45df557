package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/weirproxy/weir/host"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current translator")

// loadObjects reads a multi-document YAML file of Kubernetes objects. A
// leading comment line "# class: NAME" sets the ingress class (default
// "weir").
func loadObjects(t testing.TB, path string) (*Objects, Options) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{IngressClass: "weir"}
	for _, line := range strings.Split(string(b), "\n") {
		if c, ok := strings.CutPrefix(line, "# class: "); ok {
			opts.IngressClass = strings.TrimSpace(c)
		}
	}
	objs, err := DecodeObjects(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return objs, opts
}

// DecodeObjects decodes a multi-document YAML stream into Objects
// (test helper; also used by the benchmarks).
func DecodeObjects(b []byte) (*Objects, error) {
	objs := &Objects{}
	rd := utilyaml.NewYAMLReader(bufioReader(b))
	for i := 0; ; i++ {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %v", i, err)
		}
		var dst any
		switch meta.Kind {
		case "":
			continue
		case "IngressClass":
			o := &netv1.IngressClass{}
			objs.IngressClasses, dst = append(objs.IngressClasses, o), o
		case "Ingress":
			o := &netv1.Ingress{}
			objs.Ingresses, dst = append(objs.Ingresses, o), o
		case "Service":
			o := &corev1.Service{}
			objs.Services, dst = append(objs.Services, o), o
		case "EndpointSlice":
			o := &discoveryv1.EndpointSlice{}
			objs.EndpointSlices, dst = append(objs.EndpointSlices, o), o
		case "Secret":
			o := &corev1.Secret{}
			objs.Secrets, dst = append(objs.Secrets, o), o
		case "KongPlugin":
			o := &KongPlugin{}
			objs.KongPlugins, dst = append(objs.KongPlugins, o), o
		case "KongClusterPlugin":
			o := &KongPlugin{}
			objs.KongClusterPlugins, dst = append(objs.KongClusterPlugins, o), o
		case "KongConsumer":
			o := &KongConsumer{}
			objs.KongConsumers, dst = append(objs.KongConsumers, o), o
		case "KongUpstreamPolicy":
			o := &KongUpstreamPolicy{}
			objs.KongUpstreamPolicies, dst = append(objs.KongUpstreamPolicies, o), o
		default:
			return nil, fmt.Errorf("document %d: unknown kind %q", i, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, dst); err != nil {
			return nil, fmt.Errorf("document %d (%s): %v", i, meta.Kind, err)
		}
	}
	// stringData is a write-only convenience of the API server; the test
	// files use it for readability.
	for _, s := range objs.Secrets {
		for k, v := range s.StringData {
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
	return objs, nil
}

// TestTranslateGolden translates every testdata/*.yaml and compares the
// result with testdata/*.golden.yaml (go test -run TestTranslateGolden
// -update rewrites them). Every translated config must also pass the
// runtime's own parse, normalize and validate steps.
func TestTranslateGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			objs, opts := loadObjects(t, in)
			res := Translate(objs, opts)
			raw, err := json.Marshal(res.Config)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := host.Prepare(raw); err != nil {
				t.Fatalf("translated config is not valid:\n%v", err)
			}
			// Pure: a second run gives the same bytes.
			raw2, _ := json.Marshal(Translate(objs, opts).Config)
			if !bytes.Equal(raw, raw2) {
				t.Fatal("two translations of the same objects differ")
			}
			got, err := yaml.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".yaml") + ".golden.yaml"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestTranslateGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation (run with -update and review the diff):\n%s", golden, lineDiff(string(want), string(got)))
			}
		})
	}
	if n == 0 {
		t.Fatal("no testdata/*.yaml inputs")
	}
}

// lineDiff shows the first differing lines.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, a, b)
		}
	}
	return "(no line differs)"
}

// TestOrigin: every entity of the config is pinned on the object the
// controller excludes when the proxy rejects that entity.
func TestOrigin(t *testing.T) {
	objs, opts := loadObjects(t, "testdata/plugins.yaml")
	res := Translate(objs, opts)
	tests := []struct {
		entity   string
		wantKind string
		wantOK   bool
	}{
		{entity: "routes[0]", wantKind: "Ingress", wantOK: true},
		{entity: "services[0]", wantKind: "Service", wantOK: true},
		{entity: "upstreams[0]", wantKind: "Service", wantOK: true},
		{entity: "plugins[0]", wantKind: "KongPlugin", wantOK: true},
		{entity: "plugins[" + strconv.Itoa(len(res.Config.Plugins)-1) + "]", wantKind: "KongClusterPlugin", wantOK: true},
		{entity: "plugins[" + strconv.Itoa(len(res.Config.Plugins)) + "]"},
		{entity: "routes[-1]"},
		{entity: "routes"},
		{entity: "nothing[0]"},
	}
	for _, tc := range tests {
		ref, ok := res.Origin(tc.entity)
		if ok != tc.wantOK || ref.Kind != tc.wantKind {
			t.Errorf("Origin(%q) = %v, %v; want kind %q, %v", tc.entity, ref, ok, tc.wantKind, tc.wantOK)
		}
	}
}
