package ingress_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weirproxy/weir/ingress"
	"github.com/weirproxy/weir/ingress/kubetest"
)

// TestLeaderElection runs two replicas of `weir ingress` that publish
// different addresses: only the Lease holder writes Ingress status (it
// never flips to the other replica's address while the leader lives), and
// when the leader stops the other takes over and writes its own.
func TestLeaderElection(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"crds"}})
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, &netv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec: netv1.IngressClassSpec{Controller: ingress.ControllerName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.NetworkingV1().Ingresses("default").Create(ctx, ingressObj("le", nil, str("weir"), "",
		rule("le.example.com", path("/", netv1.PathTypePrefix, "svc", 80))), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := func(id, addr string) *ingress.Proxy {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		p, err := ingress.StartProxy(sctx, env.Config, ingress.ProxyOptions{
			Controller: ingress.ControllerOptions{IngressClass: "weir", PublishStatusAddress: []string{addr},
				LeaseNamespace: "default", Identity: id, LeaseDuration: 2 * time.Second},
			ProxyListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "off", HTTPSListen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.Shutdown(ctx)
		})
		return p
	}
	a := start("replica-a", "192.0.2.1")
	b := start("replica-b", "192.0.2.2")
	status := func() string {
		ing, err := cs.NetworkingV1().Ingresses("default").Get(ctx, "le", metav1.GetOptions{})
		if err != nil || len(ing.Status.LoadBalancer.Ingress) != 1 {
			return ""
		}
		return ing.Status.LoadBalancer.Ingress[0].IP
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for status() != want {
			if time.Now().After(deadline) {
				t.Fatalf("status %q, want %q", status(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var leader, follower *ingress.Proxy
	var leaderAddr, followerAddr string
	deadline := time.Now().Add(20 * time.Second)
	for leader == nil {
		switch {
		case a.Controller.IsLeader() && b.Controller.IsLeader():
			t.Fatal("both replicas lead")
		case a.Controller.IsLeader():
			leader, follower, leaderAddr, followerAddr = a, b, "192.0.2.1", "192.0.2.2"
		case b.Controller.IsLeader():
			leader, follower, leaderAddr, followerAddr = b, a, "192.0.2.2", "192.0.2.1"
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader elected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(leaderAddr)
	// Both replicas keep syncing (a change makes both translate); the
	// follower must not write its address.
	if _, err := cs.NetworkingV1().Ingresses("default").Create(ctx, ingressObj("le2", nil, str("weir"), "",
		rule("le2.example.com", path("/", netv1.PathTypePrefix, "svc", 80))), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if s := status(); s != leaderAddr {
			t.Fatalf("status changed to %q while %q leads", s, leaderAddr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if follower.Controller.IsLeader() {
		t.Fatal("follower became leader while the leader lives")
	}
	// The leader stops (releasing its Lease): the follower takes over.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := leader.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitFor(followerAddr)
	if !follower.Controller.IsLeader() {
		t.Fatal("follower wrote status without holding the Lease")
	}
}
