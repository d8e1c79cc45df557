package kubetest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weirproxy/weir/ingress/kubetest"
)

// TestStart brings up etcd and kube-apiserver, installs Weir's CRDs and
// checks that built-in and custom resources round-trip through the real
// API server, that the kubeconfig file works, and that the API server
// enforces CRD validation (CEL rules included).
func TestStart(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"../crds"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cs := kubernetes.NewForConfigOrDie(env.Config)
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("API server %s", v.GitVersion)

	// The kubeconfig file reaches the same server.
	kc, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if kc.Host != env.Config.Host {
		t.Fatalf("kubeconfig host %q, want %q", kc.Host, env.Config.Host)
	}
	if _, err := os.Stat(env.Dir); err != nil {
		t.Fatal(err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubetest"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// EndpointSlices take pod IPs; loopback is rejected by validation.
	eps := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "bad", Namespace: "kubetest"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("kubetest").Create(ctx, eps, metav1.CreateOptions{}); err == nil {
		t.Fatal("EndpointSlice with a loopback address was accepted; expected validation to reject it")
	}

	dc := dynamic.NewForConfigOrDie(env.Config)
	gvr := schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1", Resource: "kongplugins"}
	kp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
		"metadata": map[string]any{"name": "p", "namespace": "kubetest"},
		"plugin":   "file:///x.wasm",
		"config":   map[string]any{"header": "x-a"},
	}}
	got, err := dc.Resource(gvr).Namespace("kubetest").Create(ctx, kp, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Object["plugin"] != "file:///x.wasm" {
		t.Fatalf("plugin = %v", got.Object["plugin"])
	}
	// CEL: config and configFrom together are rejected.
	bad := kp.DeepCopy()
	bad.SetName("bad")
	bad.Object["configFrom"] = map[string]any{"secretKeyRef": map[string]any{"name": "s", "key": "k"}}
	if _, err := dc.Resource(gvr).Namespace("kubetest").Create(ctx, bad, metav1.CreateOptions{}); err == nil {
		t.Fatal("KongPlugin with config and configFrom was accepted")
	}
}

// TestPodNet serves HTTP from a "pod IP" inside a network namespace and
// reaches it from the host through the veth.
func TestPodNet(t *testing.T) {
	pn := kubetest.NewPodNet(t)
	ln1 := pn.Listen(t, 8080)
	ln2 := pn.Listen(t, 8080)
	for _, ln := range []net.Listener{ln1, ln2} {
		addr := ln.Addr().String()
		if !strings.HasPrefix(addr, "198.1") {
			t.Fatalf("listener on %s, want 198.18.0.0/15", addr)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, addr) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	c := &http.Client{Timeout: 5 * time.Second}
	for _, ln := range []net.Listener{ln1, ln2} {
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != ln.Addr().String() {
			t.Fatalf("got %q from %s", b, ln.Addr())
		}
	}
	// The namespace is really separate: its address is not local to the host.
	if l, err := net.Listen("tcp", ln1.Addr().(*net.TCPAddr).IP.String()+":0"); err == nil {
		l.Close()
		t.Fatal("the pod IP is bindable on the host; expected it only inside the namespace")
	}
}
