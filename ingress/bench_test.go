package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weirproxy/weir/host"
)

// ScaleObjects builds n Ingresses (one host, two paths each), n Services
// and n EndpointSlices with two endpoints each, in 10 namespaces.
func scaleObjects(n int) *Objects {
	objs := &Objects{}
	class := "weir"
	P := netv1.PathTypePrefix
	E := netv1.PathTypeExact
	for i := 0; i < n; i++ {
		ns := "ns" + strconv.Itoa(i%10)
		name := "app" + strconv.Itoa(i)
		objs.Ingresses = append(objs.Ingresses, &netv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.Unix(int64(i), 0)},
			Spec: netv1.IngressSpec{IngressClassName: &class, Rules: []netv1.IngressRule{{
				Host: name + ".example.com",
				IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{
					pathRule("/", P, name, 80), pathRule("/api/v1", E, name, 80),
				}}},
			}}},
		})
		objs.Services = append(objs.Services, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		})
		port, pn := int32(8080), ""
		objs.EndpointSlices = append(objs.EndpointSlices, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &pn, Port: &port}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{fmt.Sprintf("10.%d.%d.1", i/256%256, i%256)}},
				{Addresses: []string{fmt.Sprintf("10.%d.%d.2", i/256%256, i%256)}},
			},
		})
	}
	return objs
}

// BenchmarkTranslate10k measures one full translation of 10,000 Ingresses
// with their Services and EndpointSlices (the controller's work per
// change, before the proxy builds the snapshot).
func BenchmarkTranslate10k(b *testing.B) {
	objs := scaleObjects(10000)
	b.ReportAllocs()
	for b.Loop() {
		res := Translate(objs, Options{IngressClass: "weir"})
		if len(res.Config.Routes) != 20000 {
			b.Fatalf("%d routes", len(res.Config.Routes))
		}
	}
}

// BenchmarkTranslateAndPrepare10k adds the JSON encoding and the proxy's
// parse, normalize and validate steps (what Server.Apply does before it
// builds the router).
func BenchmarkTranslateAndPrepare10k(b *testing.B) {
	objs := scaleObjects(10000)
	b.ReportAllocs()
	for b.Loop() {
		res := Translate(objs, Options{IngressClass: "weir"})
		raw, err := json.Marshal(res.Config)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := host.Prepare(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyChange10k measures what one Ingress change costs at
// 10,000 Ingresses once the controller has its snapshot: translation plus
// host.Server.ApplyConfig (normalize, validate, hash, build, swap), with
// the change alternating so no apply is skipped.
func BenchmarkApplyChange10k(b *testing.B) {
	objs := scaleObjects(10000)
	path := b.TempDir() + "/empty.json"
	if err := os.WriteFile(path, []byte(emptyConfig), 0o600); err != nil {
		b.Fatal(err)
	}
	srv, err := host.New(host.Options{ConfigPath: path, ProxyListen: "127.0.0.1:0", HTTPSListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "off",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if err := srv.ApplyConfig(Translate(objs, Options{IngressClass: "weir"}).Config); err != nil {
		b.Fatal(err)
	}
	ing := objs.Ingresses[0]
	orig := ing.Spec.Rules[0].HTTP.Paths[1].Path
	i := 0
	for b.Loop() {
		i++
		ing.Spec.Rules[0].HTTP.Paths[1].Path = orig + "/" + strconv.Itoa(i%2)
		if err := srv.ApplyConfig(Translate(objs, Options{IngressClass: "weir"}).Config); err != nil {
			b.Fatal(err)
		}
	}
}
