package ingress

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weirproxy/weir/host"
)

// FuzzTranslate feeds arbitrary annotation values, hosts, paths and
// plugin configuration to the translator: it must never panic, and what
// it produces must always pass the proxy's own validation (bad input
// becomes a Failure, never an invalid config).
func FuzzTranslate(f *testing.F) {
	f.Add("GET,POST", "x-a", "~*^a", "true", "308", "a.example.com", "*.w.example.com", "/a", "/~/v[0-9]+", "/base", "15", `{"a":1}`)
	f.Add("get", "Host", "~*(", "yes", "303", "bad_host", "*.*.x", "a", "/~(", "nope", "-1", `[`)
	f.Add("", "", "", "", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, methods, hname, hval, strip, redirect, hostName, alias, p1, p2, svcPath, retries, pcfg string) {
		class := "weir"
		P, I := netv1.PathTypePrefix, netv1.PathTypeImplementationSpecific
		objs := &Objects{
			Ingresses: []*netv1.Ingress{{
				ObjectMeta: metav1.ObjectMeta{Name: "f", Namespace: "n", Annotations: map[string]string{
					"konghq.com/methods": methods, "konghq.com/headers." + hname: hval, "konghq.com/strip-path": strip,
					"konghq.com/https-redirect-status-code": redirect, "konghq.com/host-aliases": alias, "konghq.com/plugins": "p",
					"konghq.com/protocols": strip, "konghq.com/regex-priority": retries,
				}},
				Spec: netv1.IngressSpec{IngressClassName: &class, Rules: []netv1.IngressRule{{Host: hostName, IngressRuleValue: netv1.IngressRuleValue{
					HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{pathRule(p1, P, "s", 80), pathRule(p2, I, "s", 80)}}}}},
					TLS: []netv1.IngressTLS{{Hosts: []string{hostName, alias}, SecretName: "t"}}},
			}},
			Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n", Annotations: map[string]string{
				"konghq.com/path": svcPath, "konghq.com/retries": retries, "konghq.com/read-timeout": retries, "konghq.com/host-header": alias,
				"konghq.com/protocol": redirect,
			}}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
			Secrets: []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "n"}, Data: map[string][]byte{"tls.crt": []byte(pcfg), "tls.key": []byte(pcfg)}}},
			KongPlugins: []*KongPlugin{{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n"}, Plugin: "file:///x.wasm", Config: validJSONOrNil(pcfg),
				ConfigPatches: []ConfigPatch{{Path: svcPath, ValueFrom: ConfigSource{SecretKeyRef: SecretKeyRef{Name: "t", Key: "tls.key"}}}}}},
		}
		res := Translate(objs, Options{IngressClass: "weir"})
		raw, err := json.Marshal(res.Config)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := host.Prepare(raw); err != nil {
			t.Fatalf("invalid config from fuzzed objects:\n%v\nfailures: %v", err, res.Failures)
		}
	})
}

func validJSONOrNil(s string) json.RawMessage {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return json.RawMessage(s)
}
