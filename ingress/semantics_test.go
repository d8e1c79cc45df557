package ingress

import (
	"testing"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestIngressSemantics translates Ingresses and serves them with a real
// Weir in front of real backends on 127.0.0.1, then checks every example
// of the Kubernetes Ingress documentation (path types, longest match,
// Exact over Prefix, one-label wildcards, merging of several Ingresses on
// one host, defaultBackend, 404) and that Host and path reach the backend
// unchanged.
func TestIngressSemantics(t *testing.T) {
	names := []string{"root", "aaa", "aaabbb", "exact", "prefixfoo", "wild", "merged", "def", "slash", "impl", "regex"}
	be := map[string]*echoBackend{}
	objs := &Objects{}
	for i, n := range names {
		be[n] = startEcho(t, n, "")
		svc, es := serviceFor("ns", n, int32(80+i), "", be[n])
		objs.Services = append(objs.Services, svc)
		objs.EndpointSlices = append(objs.EndpointSlices, es)
	}
	port := func(n string) int32 {
		for i, x := range names {
			if x == n {
				return int32(80 + i)
			}
		}
		t.Fatalf("no backend %s", n)
		return 0
	}
	P, E, I := netv1.PathTypePrefix, netv1.PathTypeExact, netv1.PathTypeImplementationSpecific
	class := "weir"
	ing := func(name string, age int, db string, rules ...netv1.IngressRule) *netv1.Ingress {
		in := &netv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.Unix(int64(1000+age), 0)},
			Spec:       netv1.IngressSpec{IngressClassName: &class, Rules: rules},
		}
		if db != "" {
			in.Spec.DefaultBackend = &netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: db, Port: netv1.ServiceBackendPort{Number: port(db)}}}
		}
		return in
	}
	rule := func(host string, paths ...netv1.HTTPIngressPath) netv1.IngressRule {
		return netv1.IngressRule{Host: host, IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: paths}}}
	}
	pr := func(path string, pt netv1.PathType, svc string) netv1.HTTPIngressPath {
		return pathRule(path, pt, svc, port(svc))
	}
	objs.Ingresses = []*netv1.Ingress{
		ing("paths", 0, "def",
			rule("paths.example.com",
				pr("/", P, "root"),
				pr("/aaa", P, "aaa"),
				pr("/aaa/bbb", P, "aaabbb"),
				pr("/foo", E, "exact"),
				pr("/foo", P, "prefixfoo"),
				pr("/slash/", P, "slash"),
				pr("/impl", I, "impl"),
				pr("/~/v[0-9]+/items", I, "regex"),
			),
			rule("*.wild.example.com", pr("/", P, "wild")),
			rule("*.impl.example.com", pr("/", I, "wild")),
			rule("exactonly.example.com", pr("/only", E, "exact")),
		),
		// A second Ingress adds a path to the same host: rules merge.
		ing("more", 1, "", rule("paths.example.com", pr("/merged", P, "merged"))),
		// A younger defaultBackend loses to the oldest one.
		ing("younger", 2, "root"),
	}
	res := Translate(objs, Options{IngressClass: "weir"})
	for _, f := range res.Failures {
		if f.Object.Name != "younger" {
			t.Errorf("unexpected failure: %s", f)
		}
	}
	srv := startWeirWith(t, res)
	c := newClient(t)
	proxy := srv.ProxyAddr().String()

	tests := []struct {
		name, host, path string
		wantStatus       int
		wantService      string
	}{
		{"prefix / matches all", "paths.example.com", "/anything", 200, "root"},
		{"exact /foo", "paths.example.com", "/foo", 200, "exact"},
		{"exact beats prefix on equal path", "paths.example.com", "/foo", 200, "exact"},
		{"exact /foo does not match /foo/; prefix /foo does", "paths.example.com", "/foo/", 200, "prefixfoo"},
		{"prefix /aaa/bbb matches itself", "paths.example.com", "/aaa/bbb", 200, "aaabbb"},
		{"prefix ignores a trailing slash of the request", "paths.example.com", "/aaa/bbb/", 200, "aaabbb"},
		{"prefix matches subpaths", "paths.example.com", "/aaa/bbb/ccc", 200, "aaabbb"},
		{"prefix is element-wise, not a string prefix", "paths.example.com", "/aaa/bbbxyz", 200, "aaa"},
		{"longest path wins", "paths.example.com", "/aaa/ccc", 200, "aaa"},
		{"prefix with trailing slash matches without", "paths.example.com", "/slash", 200, "slash"},
		{"prefix with trailing slash matches subpath", "paths.example.com", "/slash/x", 200, "slash"},
		{"/ wins when nothing longer matches", "paths.example.com", "/ccc", 200, "root"},
		{"ImplementationSpecific is a Kong string prefix", "paths.example.com", "/implementation", 200, "impl"},
		{"ImplementationSpecific /~ is a regex", "paths.example.com", "/v12/items", 200, "regex"},
		{"merged rule from a second Ingress", "paths.example.com", "/merged/x", 200, "merged"},
		{"query string kept", "paths.example.com", "/aaa?x=1&y=%20", 200, "aaa"},
		{"host port ignored", "paths.example.com:8080", "/aaa", 200, "aaa"},
		{"wildcard covers one label", "bar.wild.example.com", "/", 200, "wild"},
		{"wildcard does not cover two labels", "baz.bar.wild.example.com", "/", 200, "def"},
		{"wildcard does not cover the bare domain", "wild.example.com", "/", 200, "def"},
		{"ImplementationSpecific wildcard covers one label", "a.impl.example.com", "/x", 200, "wild"},
		{"ImplementationSpecific wildcard does not cover two labels", "a.b.impl.example.com", "/x", 200, "def"},
		{"unknown host goes to the default backend", "other.example.com", "/x", 200, "def"},
		{"host without a matching path goes to the default backend", "exactonly.example.com", "/other", 200, "def"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, r := get(t, c, proxy, tc.host, tc.path)
			if status != tc.wantStatus || r.Service != tc.wantService {
				t.Fatalf("%s%s: got %d from %q, want %d from %q", tc.host, tc.path, status, r.Service, tc.wantStatus, tc.wantService)
			}
			if r.Host != tc.host {
				t.Errorf("backend saw Host %q, want %q (preserved)", r.Host, tc.host)
			}
			if r.Path != tc.path {
				t.Errorf("backend saw path %q, want %q (unchanged)", r.Path, tc.path)
			}
			if r.Proto != "HTTP/1.1" {
				t.Errorf("upstream protocol %q, want HTTP/1.1", r.Proto)
			}
		})
	}

	// Without a defaultBackend, no match is a 404.
	objs.Ingresses = objs.Ingresses[1:2]
	srv2 := startWeirWith(t, Translate(objs, Options{IngressClass: "weir"}))
	if status, _ := get(t, c, srv2.ProxyAddr().String(), "paths.example.com", "/nothing"); status != 404 {
		t.Fatalf("no rule matched: status %d, want 404", status)
	}
	if status, r := get(t, c, srv2.ProxyAddr().String(), "paths.example.com", "/merged"); status != 200 || r.Service != "merged" {
		t.Fatalf("merged: %d %q", status, r.Service)
	}
}
