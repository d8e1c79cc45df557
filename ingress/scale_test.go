package ingress_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weirproxy/weir/ingress"
	"github.com/weirproxy/weir/ingress/kubetest"
)

// BenchmarkScale creates N Ingresses (default 10,000; WEIR_SCALE_N
// overrides) with a Service and an EndpointSlice each in a real API
// server, then measures: cold sync (start of `weir ingress` until every
// Ingress is served), propagation of single Ingress changes while a
// client keeps requesting unchanged routes (p50/p99, failed requests),
// and the controller+proxy process's memory. It runs once whatever b.N
// is: go test -run '^$' -bench BenchmarkScale -benchtime 1x ./ingress
func BenchmarkScale(b *testing.B) {
	n := 10000
	if v := os.Getenv("WEIR_SCALE_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	changes := 20
	env := kubetest.Start(b, kubetest.Options{CRDDirs: []string{"crds"}, StartTimeout: 120 * time.Second,
		ExtraAPIServerFlags: []string{"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000"}})
	pods := kubetest.NewPodNet(b)
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 5000, 5000
	cs := kubernetes.NewForConfigOrDie(&cfg)
	ctx := context.Background()
	cls := "weir"
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, &netv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: cls},
		Spec: netv1.IngressClassSpec{Controller: ingress.ControllerName}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// Two real backends serve the sampled routes; the other Services'
	// endpoints are addresses nobody requests.
	var backends []string
	for i := 0; i < 2; i++ {
		ln := pods.Listen(b, 8080)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		backends = append(backends, strings.Split(ln.Addr().String(), ":")[0])
	}
	P := netv1.PathTypePrefix
	const nsCount = 10
	for i := 0; i < nsCount; i++ {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "s" + strconv.Itoa(i)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	ingressFor := func(i int, extra string) *netv1.Ingress {
		paths := []netv1.HTTPIngressPath{{Path: "/", PathType: &P, Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: "app" + strconv.Itoa(i), Port: netv1.ServiceBackendPort{Number: 80}}}}}
		if extra != "" {
			paths = append(paths, netv1.HTTPIngressPath{Path: extra, PathType: &P, Backend: paths[0].Backend})
		}
		return &netv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "app" + strconv.Itoa(i), Namespace: "s" + strconv.Itoa(i%nsCount)},
			Spec: netv1.IngressSpec{IngressClassName: &cls, Rules: []netv1.IngressRule{{Host: "app" + strconv.Itoa(i) + ".example.com",
				IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: paths}}}}},
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ns, name := "s"+strconv.Itoa(i%nsCount), "app"+strconv.Itoa(i)
				port, pn := int32(8080), ""
				ready := true
				_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
					Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
				if err == nil {
					_, err = cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
						ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
						AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &pn, Port: &port}},
						Endpoints: []discoveryv1.Endpoint{{Addresses: []string{backends[0]}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
							{Addresses: []string{backends[1]}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
					}, metav1.CreateOptions{})
				}
				if err == nil {
					_, err = cs.NetworkingV1().Ingresses(ns).Create(ctx, ingressFor(i, ""), metav1.CreateOptions{})
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d Ingresses + Services + EndpointSlices in %v", n, time.Since(start).Round(time.Millisecond))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start = time.Now()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	p, err := ingress.StartProxy(sctx, env.Config, ingress.ProxyOptions{
		Controller:  ingress.ControllerOptions{IngressClass: cls, PublishStatusAddress: []string{"203.0.113.1"}, LeaseNamespace: "default"},
		ProxyListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "off", HTTPSListen: "127.0.0.1:0",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Second}
	get := func(host, path string) int {
		req, _ := http.NewRequest("GET", "http://"+p.Server.ProxyAddr().String()+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Served: the first configuration holds every Ingress (StartProxy
	// waits for it); check a spread of them through the proxy.
	for i := 0; i < n; i += max(1, n/50) {
		if st := get("app"+strconv.Itoa(i)+".example.com", "/"); st != 200 {
			b.Fatalf("app%d after cold sync: %d", i, st)
		}
	}
	cold := time.Since(start)
	if got := len(p.Server.Config().Routes); got != n {
		b.Fatalf("%d routes served, want %d", got, n)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rss := vmRSS()

	// Propagation under load: a client hammers unchanged routes.
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var lwg sync.WaitGroup
	for w := 0; w < 4; w++ {
		lwg.Add(1)
		go func(w int) {
			defer lwg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (w*7919 + j*104729) % n
				if i < changes {
					i += changes // never a changing Ingress
				}
				sent.Add(1)
				if get("app"+strconv.Itoa(i)+".example.com", "/x") != 200 {
					failed.Add(1)
				}
			}
		}(w)
	}
	var lat []time.Duration
	for k := 0; k < changes; k++ {
		ing := ingressFor(k, "/changed-"+strconv.Itoa(k))
		cur, err := cs.NetworkingV1().Ingresses(ing.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		cur.Spec = ing.Spec
		host := "app" + strconv.Itoa(k) + ".example.com"
		// Before the change /changed-k is served by the / rule too; watch
		// for the new route itself.
		t0 := time.Now()
		if _, err := cs.NetworkingV1().Ingresses(ing.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		deadline := t0.Add(60 * time.Second)
		for {
			if routeServed(p, "s"+strconv.Itoa(k%nsCount)+".app"+strconv.Itoa(k)) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("change %d not served within 60 s", k)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
		if get(host, "/changed-"+strconv.Itoa(k)) != 200 {
			b.Fatalf("change %d: new path not served", k)
		}
	}
	close(stop)
	lwg.Wait()
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	st := p.Controller.Stats()
	b.Logf("N=%d cold sync %v; changes p50 %v p99 %v max %v; %d requests to unchanged routes during changes, %d failed; heap %.0f MiB (before start %.0f MiB), RSS %.0f MiB; syncs %d applies %d",
		n, cold.Round(time.Millisecond), pct(0.5), pct(0.99), lat[len(lat)-1], sent.Load(), failed.Load(),
		float64(after.HeapInuse)/(1<<20), float64(before.HeapInuse)/(1<<20), float64(rss)/(1<<20), st.Syncs, st.Applies)
	b.Logf("change latencies (sorted): %v", lat)
	for b.Loop() {
	}
	b.ReportMetric(cold.Seconds(), "cold-sync-s")
	b.ReportMetric(float64(pct(0.5).Milliseconds()), "change-p50-ms")
	b.ReportMetric(float64(pct(0.99).Milliseconds()), "change-p99-ms")
	b.ReportMetric(float64(failed.Load()), "failed-requests")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
}

// routeServed reports whether the running config has the route group
// for the changed path (the name the translator gives it).
func routeServed(p *ingress.Proxy, prefix string) bool {
	for _, r := range p.Server.Config().Routes {
		if strings.HasPrefix(r.Name, prefix+".") && len(r.Paths) == 2 {
			return true
		}
	}
	return false
}

// vmRSS is this process's resident set size (controller + proxy + test
// client; the API server and etcd are other processes).
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
