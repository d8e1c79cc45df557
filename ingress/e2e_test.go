package ingress_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/weirproxy/weir/ingress"
	"github.com/weirproxy/weir/ingress/kubetest"
)

// cluster is one real control plane, a pod network with echo backends,
// and a running `weir ingress` (controller + proxy, in-process).
type cluster struct {
	t     *testing.T
	env   *kubetest.Env
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	pods  *kubetest.PodNet
	proxy *ingress.Proxy
	c     *http.Client
	ns    string
}

type pod struct {
	name string
	ip   string
	port int32
	mu   sync.Mutex
	hits int
}

type reply struct {
	Pod     string            `json:"pod"`
	Host    string            `json:"host"`
	Path    string            `json:"path"`
	Proto   string            `json:"proto"`
	Headers map[string]string `json:"headers"`
}

// startPod serves an echo backend on a new pod IP, port 8080.
func (k *cluster) startPod(name string) *pod {
	ln := k.pods.Listen(k.t, 8080)
	a := ln.Addr().(*net.TCPAddr)
	p := &pod{name: name, ip: a.IP.String(), port: int32(a.Port)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits++
		p.mu.Unlock()
		h := map[string]string{}
		for k := range r.Header {
			h[strings.ToLower(k)] = r.Header.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reply{Pod: name, Host: r.Host, Path: r.RequestURI, Proto: r.Proto, Headers: h})
	})}
	go srv.Serve(ln)
	k.t.Cleanup(func() { srv.Close() })
	return p
}

func (p *pod) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

func newCluster(t *testing.T) *cluster { return newClusterWith(t, nil) }

// newClusterWith is newCluster with extra proxy options set by opt.
func newClusterWith(t *testing.T, opt func(*ingress.ProxyOptions)) *cluster {
	env := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"crds"}})
	k := &cluster{t: t, env: env, pods: kubetest.NewPodNet(t), ns: "e2e"}
	k.cs = kubernetes.NewForConfigOrDie(env.Config)
	k.dyn = dynamic.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	k.must(k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: k.ns}}, metav1.CreateOptions{}))
	k.must(k.cs.NetworkingV1().IngressClasses().Create(ctx, &netv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec:       netv1.IngressClassSpec{Controller: ingress.ControllerName},
	}, metav1.CreateOptions{}))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	po := ingress.ProxyOptions{
		Controller: ingress.ControllerOptions{
			IngressClass:         "weir",
			PublishStatusAddress: []string{"203.0.113.10", "weir.example.net"},
			LeaseNamespace:       "default",
			LeaseDuration:        3 * time.Second,
			Debounce:             20 * time.Millisecond,
		},
		ProxyListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "127.0.0.1:0", HTTPSListen: "127.0.0.1:0",
		Logger: log,
	}
	if opt != nil {
		opt(&po)
	}
	p, err := ingress.StartProxy(sctx, env.Config, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	k.proxy = p
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	k.c = &http.Client{Transport: tr, Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return k
}

func (k *cluster) must(_ any, err error) {
	k.t.Helper()
	if err != nil {
		k.t.Fatal(err)
	}
}

// service creates (or updates) a Service with one port and its
// EndpointSlice listing pods.
func (k *cluster) service(name string, port int32, portName string, annotations map[string]string, pods ...*pod) {
	k.t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns, Annotations: annotations},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: portName, Port: port}}},
	}
	if cur, err := k.cs.CoreV1().Services(k.ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		cur.Annotations = annotations
		k.must(k.cs.CoreV1().Services(k.ns).Update(ctx, cur, metav1.UpdateOptions{}))
	} else {
		k.must(k.cs.CoreV1().Services(k.ns).Create(ctx, svc, metav1.CreateOptions{}))
	}
	k.endpoints(name, portName, pods...)
}

func (k *cluster) endpoints(svc, portName string, pods ...*pod) {
	k.t.Helper()
	ctx := context.Background()
	port := int32(8080)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-slice", Namespace: k.ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	for _, p := range pods {
		ready := true
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	cur, err := k.cs.DiscoveryV1().EndpointSlices(k.ns).Get(ctx, es.Name, metav1.GetOptions{})
	if err == nil {
		es.ResourceVersion = cur.ResourceVersion
		k.must(k.cs.DiscoveryV1().EndpointSlices(k.ns).Update(ctx, es, metav1.UpdateOptions{}))
		return
	}
	k.must(k.cs.DiscoveryV1().EndpointSlices(k.ns).Create(ctx, es, metav1.CreateOptions{}))
}

// applyIngress creates or updates an Ingress (retrying when the
// controller's status write raced the update).
func (k *cluster) applyIngress(ing *netv1.Ingress) {
	k.t.Helper()
	ctx := context.Background()
	ing.Namespace = k.ns
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := k.cs.NetworkingV1().Ingresses(k.ns).Get(ctx, ing.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = k.cs.NetworkingV1().Ingresses(k.ns).Create(ctx, ing, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		cur.Spec, cur.Annotations = ing.Spec, ing.Annotations
		_, err = k.cs.NetworkingV1().Ingresses(k.ns).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		k.t.Fatal(err)
	}
}

// applyCR creates or updates a Kong custom resource in the test namespace
// (cluster-scoped for KongClusterPlugin).
func (k *cluster) applyCR(obj map[string]any) {
	k.t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	ctx := context.Background()
	res := k.dyn.Resource(ingress.KongPluginGVR)
	switch u.GetKind() {
	case "KongClusterPlugin":
		res = k.dyn.Resource(ingress.KongClusterPluginGVR)
	case "KongConsumer":
		res = k.dyn.Resource(ingress.KongConsumerGVR)
	case "KongUpstreamPolicy":
		res = k.dyn.Resource(ingress.KongUpstreamPolicyGVR)
	}
	var ri dynamic.ResourceInterface = res
	if u.GetKind() != "KongClusterPlugin" {
		u.SetNamespace(k.ns)
		ri = res.Namespace(k.ns)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = ri.Create(ctx, u, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		u.SetResourceVersion(cur.GetResourceVersion())
		_, err = ri.Update(ctx, u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		k.t.Fatal(err)
	}
}

// get sends a request through Weir's proxy port.
func (k *cluster) get(host, path string, hdr map[string]string) (int, reply, http.Header) {
	req, _ := http.NewRequest("GET", "http://"+k.proxy.Server.ProxyAddr().String()+path, nil)
	req.Host = host
	for n, v := range hdr {
		req.Header.Set(n, v)
	}
	resp, err := k.c.Do(req)
	if err != nil {
		return 0, reply{}, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r reply
	if resp.StatusCode == 200 {
		json.Unmarshal(b, &r)
	}
	return resp.StatusCode, r, resp.Header
}

// eventually polls cond every 20 ms until it returns "" or 15 s pass.
func (k *cluster) eventually(what string, cond func() string) {
	k.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	k.t.Fatalf("%s: not within 15 s: %s", what, last)
}

// expect polls until host+path is served by wantPod (or answers wantStatus
// when wantPod is "").
func (k *cluster) expect(host, path string, wantStatus int, wantPod string) reply {
	k.t.Helper()
	var r reply
	k.eventually(fmt.Sprintf("%s%s -> %d %s", host, path, wantStatus, wantPod), func() string {
		var st int
		st, r, _ = k.get(host, path, nil)
		if st != wantStatus || r.Pod != wantPod {
			return fmt.Sprintf("got %d from %q", st, r.Pod)
		}
		return ""
	})
	return r
}

func ingressObj(name string, ann map[string]string, class *string, db string, rules ...netv1.IngressRule) *netv1.Ingress {
	ing := &netv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}, Spec: netv1.IngressSpec{IngressClassName: class, Rules: rules}}
	if db != "" {
		ing.Spec.DefaultBackend = &netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: db, Port: netv1.ServiceBackendPort{Number: 80}}}
	}
	return ing
}

func rule(host string, paths ...netv1.HTTPIngressPath) netv1.IngressRule {
	return netv1.IngressRule{Host: host, IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: paths}}}
}

func path(p string, pt netv1.PathType, svc string, port any) netv1.HTTPIngressPath {
	bp := netv1.ServiceBackendPort{}
	switch v := port.(type) {
	case int:
		bp.Number = int32(v)
	case string:
		bp.Name = v
	}
	return netv1.HTTPIngressPath{Path: p, PathType: &pt, Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: svc, Port: bp}}}
}

func wasmPath(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("..", "sdk", "go", "examples", name, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

func str(s string) *string { return &s }

// TestE2E runs Weir's ingress controller against a real kube-apiserver and
// etcd, with backends on pod IPs in a network namespace, and checks that
// traffic through Weir's proxy port follows the objects as they change.
func TestE2E(t *testing.T) {
	k := newCluster(t)
	ctx := context.Background()
	P, E, I := netv1.PathTypePrefix, netv1.PathTypeExact, netv1.PathTypeImplementationSpecific
	weir := str("weir")

	web1, web2 := k.startPod("web-1"), k.startPod("web-2")
	api1 := k.startPod("api-1")
	exact := k.startPod("exact-1")
	def := k.startPod("default-1")
	wild := k.startPod("wild-1")
	k.service("web", 80, "", nil, web1, web2)
	k.service("api", 8000, "http", nil, api1)
	k.service("exact", 80, "", nil, exact)
	k.service("default", 80, "", nil, def)
	k.service("wild", 80, "", nil, wild)

	t.Run("paths, hosts, merge and default backend", func(t *testing.T) {
		k.t = t
		k.applyIngress(ingressObj("main", nil, weir, "default",
			rule("shop.example.com",
				path("/", P, "web", 80),
				path("/api", P, "api", "http"),
				path("/foo", E, "exact", 80),
				path("/foo", P, "api", "http"),
				path("/static", I, "exact", 80),
			),
			rule("*.wild.example.com", path("/", P, "wild", 80)),
		))
		r := k.expect("shop.example.com", "/api/v1?q=1", 200, "api-1")
		if r.Host != "shop.example.com" || r.Path != "/api/v1?q=1" || r.Proto != "HTTP/1.1" {
			t.Errorf("backend saw Host %q path %q proto %q; want them unchanged over HTTP/1.1", r.Host, r.Path, r.Proto)
		}
		k.expect("shop.example.com", "/apix", 200, r0(k, "shop.example.com", "/apix"))
		k.expect("shop.example.com", "/foo", 200, "exact-1")        // Exact beats Prefix
		k.expect("shop.example.com", "/foo/bar", 200, "api-1")      // Prefix
		k.expect("shop.example.com", "/staticfile", 200, "exact-1") // ImplementationSpecific = string prefix
		k.expect("a.wild.example.com", "/", 200, "wild-1")
		k.expect("a.b.wild.example.com", "/", 200, "default-1") // one label only
		k.expect("nothing.example.com", "/", 200, "default-1")

		// A second Ingress adds a path to the same host.
		k.applyIngress(ingressObj("extra", nil, weir, "", rule("shop.example.com", path("/extra", P, "wild", 80))))
		k.expect("shop.example.com", "/extra/1", 200, "wild-1")
		// Change an object: Weir follows.
		k.applyIngress(ingressObj("extra", nil, weir, "", rule("shop.example.com", path("/extra", P, "exact", 80))))
		k.expect("shop.example.com", "/extra/1", 200, "exact-1")
		// Delete it: back to the / rule.
		if err := k.cs.NetworkingV1().Ingresses(k.ns).Delete(ctx, "extra", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		k.eventually("/extra served by web after delete", func() string {
			_, r, _ := k.get("shop.example.com", "/extra/1", nil)
			if !strings.HasPrefix(r.Pod, "web-") {
				return "got " + r.Pod
			}
			return ""
		})
	})

	t.Run("scale-out and load spread", func(t *testing.T) {
		k.t = t
		web3 := k.startPod("web-3")
		k.endpoints("web", "", web1, web2, web3)
		start := time.Now()
		k.eventually("web-3 receives traffic", func() string {
			k.get("shop.example.com", "/", nil)
			if web3.count() == 0 {
				return "no request reached web-3 yet"
			}
			return ""
		})
		t.Logf("new endpoint picked up in %v", time.Since(start).Round(time.Millisecond))
		before := []int{web1.count(), web2.count(), web3.count()}
		for i := 0; i < 60; i++ {
			if st, _, _ := k.get("shop.example.com", "/", nil); st != 200 {
				t.Fatalf("request %d: status %d", i, st)
			}
		}
		for i, p := range []*pod{web1, web2, web3} {
			if got := p.count() - before[i]; got < 10 {
				t.Errorf("%s got %d of 60 requests; want the load spread over every endpoint", p.name, got)
			}
		}
		// Not ready endpoints leave the rotation.
		ready, notReady := true, false
		port, pn := int32(8080), ""
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-slice", Namespace: k.ns, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &pn, Port: &port}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{web1.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
				{Addresses: []string{web2.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady, Terminating: &ready}},
				{Addresses: []string{web3.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			},
		}
		cur, err := k.cs.DiscoveryV1().EndpointSlices(k.ns).Get(ctx, "web-slice", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		es.ResourceVersion = cur.ResourceVersion
		k.must(k.cs.DiscoveryV1().EndpointSlices(k.ns).Update(ctx, es, metav1.UpdateOptions{}))
		k.eventually("only web-1 serves", func() string {
			for i := 0; i < 10; i++ {
				if _, r, _ := k.get("shop.example.com", "/", nil); r.Pod != "web-1" {
					return "got " + r.Pod
				}
			}
			return ""
		})
	})

	t.Run("status written for our class only, removed on class change", func(t *testing.T) {
		k.t = t
		k.applyIngress(ingressObj("nginx-owned", nil, str("nginx"), "", rule("nginx.example.com", path("/", P, "web", 80))))
		k.eventually("status on main", func() string {
			ing, err := k.cs.NetworkingV1().Ingresses(k.ns).Get(ctx, "main", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			lb := ing.Status.LoadBalancer.Ingress
			if len(lb) != 2 || lb[0].IP != "203.0.113.10" || lb[1].Hostname != "weir.example.net" {
				return fmt.Sprintf("status %+v", lb)
			}
			return ""
		})
		// Weir has synced since the nginx Ingress was created (it is in the
		// informer cache and traffic for it is not served); its status stays empty.
		k.expect("nginx.example.com", "/", 200, "default-1")
		ing, err := k.cs.NetworkingV1().Ingresses(k.ns).Get(ctx, "nginx-owned", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ing.Status.LoadBalancer.Ingress) != 0 {
			t.Fatalf("status written on another class's Ingress: %+v", ing.Status.LoadBalancer.Ingress)
		}
		// Moving an Ingress to another class removes Weir's status.
		k.applyIngress(ingressObj("moving", nil, weir, "", rule("moving.example.com", path("/", P, "web", 80))))
		k.eventually("status on moving", func() string {
			ing, _ := k.cs.NetworkingV1().Ingresses(k.ns).Get(ctx, "moving", metav1.GetOptions{})
			if ing == nil || len(ing.Status.LoadBalancer.Ingress) == 0 {
				return "no status yet"
			}
			return ""
		})
		k.applyIngress(ingressObj("moving", nil, str("nginx"), "", rule("moving.example.com", path("/", P, "web", 80))))
		k.eventually("status removed from moving", func() string {
			ing, _ := k.cs.NetworkingV1().Ingresses(k.ns).Get(ctx, "moving", metav1.GetOptions{})
			if ing == nil || len(ing.Status.LoadBalancer.Ingress) != 0 {
				return "status still set"
			}
			return ""
		})
		if !k.proxy.Controller.IsLeader() {
			t.Error("the only replica is not the leader")
		}
		lease, err := k.cs.CoordinationV1().Leases("default").Get(ctx, "weir-ingress-weir", metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			t.Fatalf("no Lease held: %v %+v", err, lease)
		}
	})

	t.Run("invalid annotation raises an Event", func(t *testing.T) {
		k.t = t
		k.applyIngress(ingressObj("annotated", map[string]string{"konghq.com/methods": "GET,post", "konghq.com/headers.x-env": "canary"}, weir, "",
			rule("annotated.example.com", path("/", P, "web", 80))))
		k.eventually("InvalidAnnotation event on annotated", func() string {
			evs, err := k.cs.CoreV1().Events(k.ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=annotated"})
			if err != nil {
				return err.Error()
			}
			for _, e := range evs.Items {
				if e.Reason == "InvalidAnnotation" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, "konghq.com/methods") {
					return ""
				}
			}
			return fmt.Sprintf("%d events, none InvalidAnnotation", len(evs.Items))
		})
		// The rest of the Ingress is served; the valid header annotation
		// applies (without the header: the default backend).
		k.expect("annotated.example.com", "/", 200, "default-1")
		st, r, _ := k.get("annotated.example.com", "/", map[string]string{"x-env": "canary"})
		if st != 200 || !strings.HasPrefix(r.Pod, "web-") {
			t.Fatalf("with the header: %d %q", st, r.Pod)
		}
	})

	t.Run("KongPlugin on Ingress and Service, KongClusterPlugin global, bad plugin isolated", func(t *testing.T) {
		k.t = t
		k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
			"metadata": map[string]any{"name": "hdr-route"}, "plugin": wasmPath(t, "headers"), "config": map[string]any{"value": "route"}})
		k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
			"metadata": map[string]any{"name": "auth-svc"}, "plugin": wasmPath(t, "auth"),
			"configFrom": map[string]any{"secretKeyRef": map[string]any{"name": "auth-conf", "key": "conf"}}})
		k.must(k.cs.CoreV1().Secrets(k.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "auth-conf"},
			StringData: map[string]string{"conf": `{"keys": ["k-123"]}`}}, metav1.CreateOptions{}))
		k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
			"metadata": map[string]any{"name": "broken"}, "plugin": "file:///nonexistent/plugin.wasm"})

		k.startPod("plug-1")
		pl := k.startPod("plug-2")
		k.service("plugged", 80, "", map[string]string{"konghq.com/plugins": "auth-svc"}, pl)
		k.applyIngress(ingressObj("plugins", map[string]string{"konghq.com/plugins": "hdr-route"}, weir, "",
			rule("plugins.example.com", path("/", P, "web", 80), path("/secure", P, "plugged", 80))))
		k.applyIngress(ingressObj("broken", map[string]string{"konghq.com/plugins": "broken"}, weir, "",
			rule("broken.example.com", path("/", P, "exact", 80))))

		// Plugin on the Ingress's routes: the request header reaches the backend.
		k.eventually("route plugin adds its header", func() string {
			st, r, h := k.get("plugins.example.com", "/", nil)
			if st != 200 || r.Headers["x-weir-example"] != "route" || h.Get("X-Powered-By") != "weir-go-sdk" {
				return fmt.Sprintf("%d %v %v", st, r.Headers["x-weir-example"], h.Get("X-Powered-By"))
			}
			return ""
		})
		// Plugin on the Service: key required, config from a Secret.
		k.eventually("service plugin enforces the key", func() string {
			if st, _, _ := k.get("plugins.example.com", "/secure", nil); st != 401 {
				return fmt.Sprintf("without key: %d", st)
			}
			st, r, _ := k.get("plugins.example.com", "/secure", map[string]string{"x-api-key": "k-123"})
			if st != 200 || r.Pod != "plug-2" {
				return fmt.Sprintf("with key: %d %s", st, r.Pod)
			}
			return ""
		})
		// The bad plugin: its route is withheld, the rest keeps serving,
		// and it says why.
		k.eventually("broken KongPlugin Programmed=False", func() string {
			u, err := k.dyn.Resource(ingress.KongPluginGVR).Namespace(k.ns).Get(ctx, "broken", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m := c.(map[string]any)
				if m["type"] == "Programmed" && m["status"] == "False" && strings.Contains(fmt.Sprint(m["message"]), "nonexistent") {
					return ""
				}
			}
			return fmt.Sprintf("conditions %v", conds)
		})
		if _, r, _ := k.get("broken.example.com", "/", nil); r.Pod != "default-1" {
			t.Errorf("route with the broken plugin served by %q, want the default backend (route withheld, fail closed)", r.Pod)
		}
		k.expect("shop.example.com", "/foo", 200, "exact-1")
		u, err := k.dyn.Resource(ingress.KongPluginGVR).Namespace(k.ns).Get(ctx, "hdr-route", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		if len(conds) != 1 || conds[0].(map[string]any)["status"] != "True" {
			t.Errorf("hdr-route conditions %v, want Programmed=True", conds)
		}

		// A global KongClusterPlugin runs on every route.
		k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongClusterPlugin",
			"metadata": map[string]any{"name": "global-hdr", "labels": map[string]any{"global": "true"}, "annotations": map[string]any{"kubernetes.io/ingress.class": "weir"}},
			"plugin":   wasmPath(t, "headers"), "config": map[string]any{"value": "global"}})
		k.eventually("global plugin on an unrelated route", func() string {
			st, r, _ := k.get("shop.example.com", "/foo", nil)
			if st != 200 || r.Headers["x-weir-example"] != "global" {
				return fmt.Sprintf("%d %q", st, r.Headers["x-weir-example"])
			}
			return ""
		})
		// The route-scoped instance wins over the global one (Kong precedence).
		_, r, _ := k.get("plugins.example.com", "/", nil)
		if r.Headers["x-weir-example"] != "route" {
			t.Errorf("route plugin should win over the global one, got %q", r.Headers["x-weir-example"])
		}
		if err := k.dyn.Resource(ingress.KongClusterPluginGVR).Delete(ctx, "global-hdr", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("KongConsumer with key-auth credentials", func(t *testing.T) {
		k.t = t
		k.must(k.cs.CoreV1().Secrets(k.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-key", Labels: map[string]string{"konghq.com/credential": "key-auth"}},
			StringData: map[string]string{"key": "alice-k"}}, metav1.CreateOptions{}))
		k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongConsumer",
			"metadata": map[string]any{"name": "alice", "annotations": map[string]any{"kubernetes.io/ingress.class": "weir"}},
			"username": "alice", "credentials": []any{"alice-key", "missing-secret"}})
		k.eventually("alice Programmed=False (missing credential)", func() string {
			return consumerCondition(k, "alice", "False")
		})
		k.must(k.cs.CoreV1().Secrets(k.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "missing-secret", Labels: map[string]string{"konghq.com/credential": "acl"}},
			StringData: map[string]string{"group": "admins"}}, metav1.CreateOptions{}))
		k.eventually("alice Programmed=True and in the served config", func() string {
			if s := consumerCondition(k, "alice", "True"); s != "" {
				return s
			}
			cfg := k.proxy.Server.Config()
			for _, c := range cfg.Consumers {
				if c.Username == "alice" && len(c.KeyauthCredentials) == 1 && c.KeyauthCredentials[0].Key == "alice-k" && len(c.ACLs) == 1 {
					return ""
				}
			}
			return fmt.Sprintf("consumers in the served config: %+v", cfg.Consumers)
		})
	})

	t.Run("KongUpstreamPolicy consistent hashing", func(t *testing.T) {
		k.t = t
		h1, h2, h3 := k.startPod("hash-1"), k.startPod("hash-2"), k.startPod("hash-3")
		k.service("hashed", 80, "", map[string]string{"konghq.com/upstream-policy": "by-user"}, h1, h2, h3)
		k.applyCR(map[string]any{"apiVersion": "configuration.konghq.com/v1beta1", "kind": "KongUpstreamPolicy",
			"metadata": map[string]any{"name": "by-user"},
			"spec":     map[string]any{"algorithm": "consistent-hashing", "hashOn": map[string]any{"header": "x-user"}}})
		k.applyIngress(ingressObj("hashed", nil, weir, "", rule("hash.example.com", path("/", P, "hashed", 80))))
		k.eventually("policy in the served config", func() string {
			for _, u := range k.proxy.Server.Config().Upstreams {
				if strings.HasPrefix(u.Name, "hashed.") && u.Algorithm == "consistent-hashing" && u.HashOnHeader == "x-user" {
					return ""
				}
			}
			return "upstream not configured yet"
		})
		k.expect("hash.example.com", "/", 200, r0(k, "hash.example.com", "/"))
		// Each user sticks to one pod; users spread over more than one.
		seen := map[string]bool{}
		for u := 0; u < 12; u++ {
			user := "user-" + strconv.Itoa(u)
			_, first, _ := k.get("hash.example.com", "/", map[string]string{"x-user": user})
			for i := 0; i < 5; i++ {
				_, r, _ := k.get("hash.example.com", "/", map[string]string{"x-user": user})
				if r.Pod != first.Pod {
					t.Fatalf("%s went to %s then %s", user, first.Pod, r.Pod)
				}
			}
			seen[first.Pod] = true
		}
		if len(seen) < 2 {
			t.Errorf("12 users all hashed to %v", seen)
		}
	})

	st := k.proxy.Controller.Stats()
	t.Logf("controller: %d syncs, %d applies, %d skipped as unchanged, %d proxy rejections", st.Syncs, st.Applies, st.Skipped, st.ApplyErrors)
	if st.Skipped == 0 {
		t.Error("no sync was skipped as a no-op (hash skip not exercised)")
	}
	if _, err := k.cs.NetworkingV1().Ingresses(k.ns).Get(ctx, "main", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Fatal("main Ingress vanished")
	}
}

// r0 returns whichever pod currently serves host+path (for rules whose
// exact pod does not matter, only that something answers 200).
func r0(k *cluster, host, path string) string {
	var pod string
	k.eventually("something serves "+host+path, func() string {
		st, r, _ := k.get(host, path, nil)
		if st != 200 {
			return fmt.Sprintf("status %d", st)
		}
		pod = r.Pod
		return ""
	})
	return pod
}

func consumerCondition(k *cluster, name, want string) string {
	u, err := k.dyn.Resource(ingress.KongConsumerGVR).Namespace(k.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "Programmed" && m["status"] == want {
			return ""
		}
	}
	return fmt.Sprintf("conditions %v", conds)
}
