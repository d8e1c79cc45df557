package ingress_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/weirproxy/weir/ingress"
	"github.com/weirproxy/weir/ingress/kubetest"
)

// TestDeployCRDsInSync: deploy/00-crds.yaml carries exactly the CRDs of
// ingress/crds (the files the tests install).
func TestDeployCRDsInSync(t *testing.T) {
	files, _ := filepath.Glob("crds/*.yaml")
	if len(files) != 4 {
		t.Fatalf("want 4 CRD files, found %v", files)
	}
	deploy, err := os.ReadFile("../deploy/00-crds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.Contains(deploy, b) {
			t.Errorf("deploy/00-crds.yaml does not contain %s verbatim: regenerate it by concatenating ingress/crds/*.yaml", f)
		}
	}
}

// decodeAll reads every object of a multi-document YAML file.
func decodeAll(t *testing.T, path string) []*unstructured.Unstructured {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		if u.Object != nil {
			out = append(out, &u)
		}
	}
}

// TestDeployManifests applies deploy/*.yaml (the documented install path,
// kubectl apply -f deploy/) to a real API server, then runs the controller
// with the RBAC of the weir-ingress ServiceAccount (impersonated): the
// least-privilege rules must be enough to translate, elect a leader, write
// Ingress status, set Programmed conditions and raise Events.
func TestDeployManifests(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	dc := discovery.NewDiscoveryClientForConfigOrDie(env.Config)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	files, _ := filepath.Glob("../deploy/*.yaml")
	if len(files) == 0 {
		t.Fatal("no deploy/*.yaml")
	}
	for _, f := range files {
		for _, u := range decodeAll(t, f) {
			var err error
			// The CRDs must be established before anything names them;
			// a fresh mapper per object sees new kinds.
			deadline := time.Now().Add(20 * time.Second)
			for {
				mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
				gvk := u.GroupVersionKind()
				var m *metaMapping
				m, err = mapping(mapper, gvk.GroupKind(), gvk.Version)
				if err == nil {
					var ri dynamic.ResourceInterface = dyn.Resource(m.gvr)
					if m.namespaced {
						ri = dyn.Resource(m.gvr).Namespace(u.GetNamespace())
					}
					_, err = ri.Create(ctx, u, metav1.CreateOptions{})
				}
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("%s: %s %s: %v", f, u.GetKind(), u.GetName(), err)
			}
		}
	}

	// Run as the ServiceAccount.
	sa := rest.CopyConfig(env.Config)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:weir-system:weir-ingress"}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	cls := "weir"
	pt := netv1.PathTypePrefix
	_, err := cs.NetworkingV1().Ingresses("default").Create(ctx, &netv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Annotations: map[string]string{"konghq.com/plugins": "demo", "konghq.com/strip-path": "maybe"}},
		Spec: netv1.IngressSpec{IngressClassName: &cls, Rules: []netv1.IngressRule{{Host: "demo.example.com", IngressRuleValue: netv1.IngressRuleValue{
			HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: netv1.IngressBackend{
				Service: &netv1.IngressServiceBackend{Name: "demo", Port: netv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(ingress.KongPluginGVR).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin", "metadata": map[string]any{"name": "demo"},
		"plugin": "file:///does/not/exist.wasm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	p, err := ingress.StartProxy(sctx, sa, ingress.ProxyOptions{
		Controller: ingress.ControllerOptions{
			IngressClass: "weir", PublishService: "weir-system/weir-proxy", LeaseNamespace: "weir-system", LeaseDuration: 3 * time.Second,
		},
		ProxyListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "off", HTTPSListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	}()
	svc, err := cs.CoreV1().Services("weir-system").Get(ctx, "weir-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		last = ""
		ing, err := cs.NetworkingV1().Ingresses("default").Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No load balancer in this cluster: the publish Service's cluster IP.
		if lb := ing.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != svc.Spec.ClusterIP {
			last += "ingress status not written; "
		}
		kp, err := dyn.Resource(ingress.KongPluginGVR).Namespace("default").Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(kp.Object, "status", "conditions")
		if len(conds) == 0 || conds[0].(map[string]any)["status"] != "False" {
			last += "KongPlugin condition not written; "
		}
		evs, _ := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=demo"})
		var reasons []string
		for _, e := range evs.Items {
			reasons = append(reasons, e.Reason)
		}
		if !strings.Contains(strings.Join(reasons, ","), "InvalidAnnotation") {
			last += "no InvalidAnnotation Event; "
		}
		if last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("as the weir-ingress ServiceAccount: %s", last)
}
