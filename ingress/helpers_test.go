package ingress

import (
	"context"
	"encoding/json"

	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weirproxy/weir/host"
)

// echoBackend is a real HTTP server on 127.0.0.1 that answers with its
// name, the Host header and request URI it received, as JSON.
type echoBackend struct {
	name string
	addr *net.TCPAddr
	hits atomic.Int64
}

type echoReply struct {
	Service string `json:"service"`
	Host    string `json:"host"`
	Path    string `json:"path"`
	Proto   string `json:"proto"`
}

func startEcho(t testing.TB, name string, listen string) *echoBackend {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	b := &echoBackend{name: name, addr: ln.Addr().(*net.TCPAddr)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoReply{Service: name, Host: r.Host, Path: r.RequestURI, Proto: r.Proto})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

// serviceFor returns a Service and an EndpointSlice that point at the
// given backends (all must listen on the same port).
func serviceFor(ns, name string, port int32, portName string, backends ...*echoBackend) (*corev1.Service, *discoveryv1.EndpointSlice) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: portName, Port: port}}},
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if len(backends) > 0 {
		p := int32(backends[0].addr.Port)
		es.Ports = []discoveryv1.EndpointPort{{Name: &portName, Port: &p}}
	}
	for _, b := range backends {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{b.addr.IP.String()}})
	}
	return svc, es
}

func pathRule(path string, pt netv1.PathType, svc string, port int32) netv1.HTTPIngressPath {
	return netv1.HTTPIngressPath{Path: path, PathType: &pt, Backend: netv1.IngressBackend{
		Service: &netv1.IngressServiceBackend{Name: svc, Port: netv1.ServiceBackendPort{Number: port}},
	}}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startWeirWith starts a real Weir serving the translation of objs.
func startWeirWith(t testing.TB, res *Result) *host.Server {
	t.Helper()
	raw, err := json.Marshal(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "weir.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := host.New(host.Options{ConfigPath: path, ProxyListen: "127.0.0.1:0", HTTPSListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "off", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// get sends one request through Weir with the given Host header.
func get(t testing.TB, c *http.Client, proxy, hostHeader, path string) (int, echoReply) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+proxy+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = hostHeader
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", hostHeader, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r echoReply
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("GET %s%s: body %q: %v", hostHeader, path, body, err)
		}
	}
	return resp.StatusCode, r
}

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func itoa(n int) string { return strconv.Itoa(n) }
