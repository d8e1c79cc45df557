package ingress_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/moduletest"
	"github.com/weirproxy/weir/ingress"
)

// TestE2EModulePullSecret runs `weir ingress` against a real API server
// and a real registry that requires basic auth. A KongPlugin (fail
// closed) and a KongPlugin annotated fail-open reference the same
// oci:// module, and so does a KongClusterPlugin. Without credentials both are Programmed=False with
// reason ModuleUnavailable and a Warning Event, the closed route answers
// 503 and the open one is served without the plugin. Creating the
// kubernetes.io/dockerconfigjson Secret named by --plugin-pull-secret
// loads the module: both become Programmed=True (a ModuleLoaded Event)
// and traffic goes through the plugin.
func TestE2EModulePullSecret(t *testing.T) {
	reg := moduletest.StartRegistry(t, "weir", "s3cret")
	wasm, err := os.ReadFile(filepath.Join("..", "host", "wasm", "testdata", "plugin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	moduletest.Push(t, reg, "weir", "s3cret", "plugins/mark:1.0", wasm)
	moduleRef := "oci://" + reg.Host + "/plugins/mark:1.0"

	k := newClusterWith(t, func(o *ingress.ProxyOptions) {
		o.Controller.PullSecrets = []string{"e2e/regcred"}
		o.Controller.Modules = config.Modules{CacheDir: t.TempDir(), InsecureRegistries: []string{reg.Host}, FetchTimeout: 10000}
		// Longer than the test: recovery must come from the Secret, not
		// from the periodic retry.
		o.Controller.ModuleRetry = time.Hour
	})
	ctx := context.Background()
	be := k.startPod("mod-1")
	k.service("mod", 80, "http", nil, be)
	k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
		"metadata": map[string]any{"name": "mark"}, "plugin": moduleRef})
	k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
		"metadata": map[string]any{"name": "mark-open", "annotations": map[string]any{ingress.AnnotationFailPolicy: "open"}},
		"plugin":   moduleRef})
	k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongClusterPlugin",
		"metadata": map[string]any{"name": "mark-cluster", "annotations": map[string]any{"kubernetes.io/ingress.class": "weir"}},
		"plugin":   moduleRef})
	for _, ing := range []struct{ name, host, plugin string }{
		{name: "closed", host: "closed.example.com", plugin: "mark"},
		{name: "open", host: "open.example.com", plugin: "mark-open"},
		{name: "cluster", host: "cluster.example.com", plugin: "mark-cluster"},
	} {
		k.applyIngress(ingressObj(ing.name, map[string]string{"konghq.com/plugins": ing.plugin}, str("weir"), "",
			rule(ing.host, path("/", netv1.PathTypePrefix, "mod", 80))))
	}

	// No credentials: the registry answers 401.
	for _, tc := range []struct {
		gvr             schema.GroupVersionResource
		plugin, instead string
	}{
		{gvr: ingress.KongPluginGVR, plugin: "mark", instead: "fail_policy closed"},
		{gvr: ingress.KongPluginGVR, plugin: "mark-open", instead: "fail_policy open"},
		{gvr: ingress.KongClusterPluginGVR, plugin: "mark-cluster", instead: "fail_policy closed"},
	} {
		k.eventually(tc.plugin+" Programmed=False ModuleUnavailable", func() string {
			return pluginCondition(k, tc.gvr, tc.plugin, "False", ingress.ReasonModuleUnavailable, tc.instead)
		})
	}
	k.eventually("closed route answers 503 (fail closed)", func() string {
		if st, _, _ := k.get("closed.example.com", "/", nil); st != 503 {
			return fmt.Sprintf("status %d", st)
		}
		return ""
	})
	st, r, _ := k.get("open.example.com", "/", nil)
	if st != 200 || r.Pod != "mod-1" || r.Headers["x-wasm"] != "" {
		t.Fatalf("fail-open route: %d from %q, x-wasm %q; want 200 from mod-1 without the plugin", st, r.Pod, r.Headers["x-wasm"])
	}
	k.eventually("Warning Event ModuleUnavailable on mark", func() string {
		return eventFor(k, "mark", corev1.EventTypeWarning, ingress.ReasonModuleUnavailable)
	})

	// The pull secret arrives: the module loads.
	auth := base64.StdEncoding.EncodeToString([]byte("weir:s3cret"))
	k.must(k.cs.CoreV1().Secrets(k.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, reg.Host, auth)},
	}, metav1.CreateOptions{}))
	for _, host := range []string{"closed.example.com", "open.example.com", "cluster.example.com"} {
		k.eventually(host+" runs the plugin", func() string {
			st, r, _ := k.get(host, "/", nil)
			if st != 200 || r.Pod != "mod-1" || r.Headers["x-wasm"] != "1" {
				return fmt.Sprintf("%d from %q, x-wasm %q", st, r.Pod, r.Headers["x-wasm"])
			}
			return ""
		})
	}
	for _, tc := range []struct {
		gvr  schema.GroupVersionResource
		name string
	}{
		{gvr: ingress.KongPluginGVR, name: "mark"},
		{gvr: ingress.KongPluginGVR, name: "mark-open"},
		{gvr: ingress.KongClusterPluginGVR, name: "mark-cluster"},
	} {
		k.eventually(tc.name+" Programmed=True", func() string {
			return pluginCondition(k, tc.gvr, tc.name, "True", "Programmed", "")
		})
	}
	k.eventually("Normal Event ModuleLoaded on mark", func() string {
		return eventFor(k, "mark", corev1.EventTypeNormal, ingress.ReasonModuleLoaded)
	})
}

// pluginCondition returns "" when the named plugin's Programmed condition
// has status, reason and a message containing msgPart.
func pluginCondition(k *cluster, gvr schema.GroupVersionResource, name, status, reason, msgPart string) string {
	var ri dynamic.ResourceInterface = k.dyn.Resource(gvr)
	if gvr != ingress.KongClusterPluginGVR {
		ri = k.dyn.Resource(gvr).Namespace(k.ns)
	}
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "Programmed" && m["status"] == status && m["reason"] == reason && strings.Contains(fmt.Sprint(m["message"]), msgPart) {
			return ""
		}
	}
	return fmt.Sprintf("conditions %v", conds)
}

// eventFor returns "" when an Event of type and reason names object name.
func eventFor(k *cluster, name, typ, reason string) string {
	evs, err := k.cs.CoreV1().Events(k.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		return err.Error()
	}
	var seen []string
	for _, e := range evs.Items {
		if e.Type == typ && e.Reason == reason {
			return ""
		}
		seen = append(seen, e.Type+"/"+e.Reason)
	}
	return fmt.Sprintf("events %v", seen)
}
