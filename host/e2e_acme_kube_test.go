package host_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/ingress/kubetest"
)

// TestE2EACMEKubernetesStorageSharedByTwoWeirs is issue 8's acceptance
// for shared storage: two Weir servers, both with weir.acme.storage
// type kubernetes against one real kube-apiserver (out of cluster,
// through storage.kubeconfig), asked for the same name at the same time,
// obtain one certificate from Pebble between them and both serve it.
// Pebble validates HTTP-01 on the first Weir's port only, so when the
// second one wins the lock, the first answers the challenge from the
// shared storage.
func TestE2EACMEKubernetesStorageSharedByTwoWeirs(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{})
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "weir-acme"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	a := startWeirACME(t, `{"_format_version": "3.0"}`, 0)
	b := startWeirACME(t, `{"_format_version": "3.0"}`, 0)
	p := startPebble(t, port(a.ProxyAddr()), port(a.HTTPSAddr()), 24*time.Hour)

	// Every Lease the storage creates is recorded: locks are deleted on
	// Unlock, so they are observed while they exist.
	var (
		leaseMu sync.Mutex
		leases  = map[string]string{} // lock name -> first holder
	)
	events := watchLeases(ctx, t, cs, ns)
	go func() {
		for l := range events {
			if l.Labels["weir.dev/acme-storage"] != "weir-acme" || l.Spec.HolderIdentity == nil {
				continue
			}
			leaseMu.Lock()
			if _, seen := leases[l.Annotations["weir.dev/acme-key"]]; !seen {
				leases[l.Annotations["weir.dev/acme-key"]] = *l.Spec.HolderIdentity
			}
			leaseMu.Unlock()
		}
	}()

	const name = "shared.weir.test"
	doc := mustJSON(t, acmeDoc(p, "", map[string]any{
		"challenges": []string{"http-01"},
		"storage":    map[string]string{"type": "kubernetes", "namespace": ns, "kubeconfig": env.Kubeconfig},
	}, name))
	// Both at once: whoever takes the Lease orders, the other waits and
	// then finds the certificate in storage.
	errs := make(chan error, 2)
	for _, srv := range []*host.Server{a, b} {
		go func() { errs <- srv.Apply([]byte(doc)) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	la := waitForACMECert(t, a, name, p.Roots, 90*time.Second, nil)
	lb := waitForACMECert(t, b, name, p.Roots, 90*time.Second, nil)
	if la.SerialNumber.Cmp(lb.SerialNumber) != 0 {
		t.Fatalf("the two Weirs serve different certificates: serials %x and %x", la.SerialNumber, lb.SerialNumber)
	}
	if len(la.DNSNames) != 1 || la.DNSNames[0] != name {
		t.Fatalf("certificate for %v, want [%s]", la.DNSNames, name)
	}
	if n := p.Issued.Load(); n != 1 {
		t.Fatalf("Pebble issued %d certificates, want exactly 1 between the two Weirs", n)
	}

	// The certificate lives in a Secret of the namespace...
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "weir.dev/acme-storage=weir-acme"})
	if err != nil {
		t.Fatal(err)
	}
	var stored *x509.Certificate
	var keys []string
	for _, s := range secrets.Items {
		k := s.Annotations["weir.dev/acme-key"]
		keys = append(keys, k)
		if strings.HasSuffix(k, "/"+name+"/"+name+".crt") {
			blk, _ := pem.Decode(s.Data["value"])
			if blk == nil {
				t.Fatalf("Secret %s (%s) holds no PEM", s.Name, k)
			}
			if stored, err = x509.ParseCertificate(blk.Bytes); err != nil {
				t.Fatalf("Secret %s (%s): %v", s.Name, k, err)
			}
		}
	}
	if stored == nil {
		t.Fatalf("no Secret holds the certificate for %s; stored keys: %q", name, keys)
	}
	if stored.SerialNumber.Cmp(la.SerialNumber) != 0 {
		t.Fatalf("the Secret holds serial %x, the Weirs serve %x", stored.SerialNumber, la.SerialNumber)
	}
	// ...and the order was made under a Lease held by one of the Weirs.
	leaseMu.Lock()
	holder, ok := leases["issue_cert_"+name]
	seen := len(leases)
	leaseMu.Unlock()
	if !ok || holder == "" {
		t.Fatalf("no Lease for the lock issue_cert_%s was created (saw %d lock Leases)", name, seen)
	}
	t.Logf("lock issue_cert_%s held by %s; %d Secrets stored", name, holder, len(secrets.Items))
}

// watchLeases returns the Leases added in ns from now on, until ctx
// ends. A fresh API server's watch cache can lag behind etcd and refuse
// watches for a while, so it retries until a probe Lease it creates is
// seen: from then on no addition is missed.
func watchLeases(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) <-chan *coordinationv1.Lease {
	t.Helper()
	api := cs.CoordinationV1().Leases(ns)
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; ; attempt++ {
		if time.Now().After(deadline) {
			t.Fatalf("no working watch on Leases in %s within 30s", ns)
		}
		w, err := api.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		probe := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "probe-" + strconv.Itoa(attempt), Namespace: ns}}
		if _, err := api.Create(ctx, probe, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		live := false
		for ev := range w.ResultChan() {
			l, ok := ev.Object.(*coordinationv1.Lease)
			if ev.Type == watch.Added && ok && l.Name == probe.Name {
				live = true
				break
			}
			if ev.Type == watch.Error {
				break // the watch cache is not ready: start over
			}
		}
		if !live {
			w.Stop()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		out := make(chan *coordinationv1.Lease, 64)
		go func() {
			defer close(out)
			defer w.Stop()
			for ev := range w.ResultChan() {
				if l, ok := ev.Object.(*coordinationv1.Lease); ok && ev.Type == watch.Added {
					out <- l
				}
			}
		}()
		return out
	}
}
