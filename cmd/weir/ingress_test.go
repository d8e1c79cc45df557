package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weirproxy/weir/ingress/kubetest"
)

func TestIngressCommandFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{name: "outside a cluster without kubeconfig", args: []string{"ingress"}, env: map[string]string{"KUBECONFIG": "", "KUBERNETES_SERVICE_HOST": ""},
			wantCode: 2, wantErr: "outside a cluster, pass --kubeconfig"},
		{name: "missing kubeconfig file", args: []string{"ingress", "--kubeconfig", "/nonexistent/kubeconfig"}, wantCode: 2, wantErr: "/nonexistent/kubeconfig"},
		{name: "bad log level", args: []string{"ingress", "--log-level", "loud"}, wantCode: 2, wantErr: "--log-level"},
		{name: "unknown flag", args: []string{"ingress", "--nope"}, wantCode: 2, wantErr: "flag provided but not defined"},
		{name: "pull secret without namespace", args: []string{"ingress", "--plugin-pull-secret", "regcred"}, wantCode: 2, wantErr: "want namespace/name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Fatalf("stderr %q does not mention %q", errb.String(), tc.wantErr)
			}
		})
	}
}

// TestIngressCommand builds the weir binary and runs `weir ingress
// --kubeconfig` against a real API server: the status port answers ready
// once the cluster's configuration is served, Ingress status is written,
// and SIGTERM stops it cleanly.
func TestIngressCommand(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"../../ingress/crds"}})
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, &netv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "cli"},
		Spec: netv1.IngressClassSpec{Controller: "weir.dev/ingress-controller"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pt := netv1.PathTypePrefix
	if _, err := cs.NetworkingV1().Ingresses("default").Create(ctx, &netv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "cli"},
		Spec: netv1.IngressSpec{IngressClassName: ptr("cli"), Rules: []netv1.IngressRule{{Host: "cli.example.com",
			IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{{Path: "/", PathType: &pt,
				Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: "svc", Port: netv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	status := freeAddr(t)
	cmd := exec.Command(bin, "ingress", "--kubeconfig", env.Kubeconfig, "--ingress-class", "cli",
		"--publish-status-address", "192.0.2.7", "--election-namespace", "default",
		"--proxy-listen", "127.0.0.1:0", "--https-listen", "off", "--admin-listen", "off", "--status-listen", status)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	ready := false
	for !ready && time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + status + "/status/ready"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("status port never ready; stderr:\n%s", stderr.String())
	}
	for {
		ing, err := cs.NetworkingV1().Ingresses("default").Get(ctx, "cli", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if lb := ing.Status.LoadBalancer.Ingress; len(lb) == 1 && lb[0].IP == "192.0.2.7" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ingress status not written; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20 s after SIGTERM; stderr:\n%s", stderr.String())
	}
}

func ptr(s string) *string { return &s }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
