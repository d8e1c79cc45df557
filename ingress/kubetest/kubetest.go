// Package kubetest starts a real Kubernetes control plane for tests: an etcd
// and a kube-apiserver on 127.0.0.1, in temporary directories, with the
// certificates and service-account keys they need, and returns an admin
// *rest.Config for it. It plays the part of controller-runtime's envtest,
// without a controller-runtime dependency: the binaries are the real ones
// (Debian's etcd-server package, kube-apiserver built from the
// k8s.io/kubernetes module by `go tool task deps:kube`).
//
// Typical use:
//
//	env := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"../crds"}})
//	cs := kubernetes.NewForConfigOrDie(env.Config)
//
// Start fails the test (never skips) when a binary is missing, naming the
// task that installs it. Everything is stopped and removed in t.Cleanup.
//
// Binaries are looked up as follows: kube-apiserver from $KUBE_APISERVER,
// then $KUBEBUILDER_ASSETS/kube-apiserver, then .testbin/kube-apiserver in
// the enclosing Go module, then PATH; etcd from $ETCD, then
// $KUBEBUILDER_ASSETS/etcd, then PATH, then /usr/bin/etcd.
package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Options configure Start.
type Options struct {
	// CRDDirs are directories (or files) of CustomResourceDefinition
	// YAML (multi-document files allowed) installed before Start returns;
	// Start waits until every CRD is Established.
	CRDDirs []string
	// ExtraAPIServerFlags are appended to the kube-apiserver command line
	// ("--flag=value"); a later flag overrides an earlier one.
	ExtraAPIServerFlags []string
	// StartTimeout bounds the wait for etcd and the API server to become
	// ready. Default 90 s (the first start on a loaded 2-core machine is
	// slow: the API server installs its built-in objects).
	StartTimeout time.Duration
	// Logs, when set, receives both processes' stdout and stderr
	// (default: kept in memory and printed only if Start fails).
	Logs io.Writer
}

// Env is a running control plane.
type Env struct {
	// Config is an admin (system:masters) client config for the API
	// server, authenticated by a client certificate.
	Config *rest.Config
	// Dir is the temporary directory holding certificates, etcd data and
	// the kubeconfig; removed on cleanup.
	Dir string
	// Kubeconfig is the path of a kubeconfig file for Config (for
	// programs that take --kubeconfig).
	Kubeconfig string
	// EtcdURL is the etcd client URL.
	EtcdURL string

	procs []proc
	logs  *syncBuffer
}

// Start starts etcd and kube-apiserver, installs the CRDs and registers
// their shutdown with t.Cleanup. It calls t.Fatal on any failure.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	apiserverBin, err := FindKubeAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	etcdBin, err := FindEtcd()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "weir-kubetest-")
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Dir: dir, logs: &syncBuffer{}}
	var out io.Writer = env.logs
	if opts.Logs != nil {
		out = io.MultiWriter(env.logs, opts.Logs)
	}
	t.Cleanup(func() { env.stop(); os.RemoveAll(dir) })
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("kubetest: "+format+"\n--- control plane output (last 8 KiB) ---\n%s", append(args, env.logs.tail(8<<10))...)
	}

	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()

	if err := env.startEtcd(ctx, etcdBin, out); err != nil {
		fail("etcd: %v", err)
	}
	if err := env.startAPIServer(ctx, apiserverBin, out, opts.ExtraAPIServerFlags); err != nil {
		fail("kube-apiserver: %v", err)
	}
	for _, d := range opts.CRDDirs {
		if err := InstallCRDs(ctx, env.Config, d); err != nil {
			fail("installing CRDs from %s: %v", d, err)
		}
	}
	return env
}

// FindKubeAPIServer returns the path of the kube-apiserver binary, or an
// error saying how to build it.
func FindKubeAPIServer() (string, error) {
	if p := os.Getenv("KUBE_APISERVER"); p != "" {
		return p, nil
	}
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		if p := filepath.Join(d, "kube-apiserver"); isExec(p) {
			return p, nil
		}
	}
	if root, ok := moduleRoot(); ok {
		if p := filepath.Join(root, ".testbin", "kube-apiserver"); isExec(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("kube-apiserver"); err == nil {
		return p, nil
	}
	return "", errors.New("kube-apiserver not found (looked at $KUBE_APISERVER, $KUBEBUILDER_ASSETS, .testbin/, PATH): run `go tool task deps:kube`")
}

// FindEtcd returns the path of the etcd binary, or an error saying how to
// install it.
func FindEtcd() (string, error) {
	if p := os.Getenv("ETCD"); p != "" {
		return p, nil
	}
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		if p := filepath.Join(d, "etcd"); isExec(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if isExec("/usr/bin/etcd") {
		return "/usr/bin/etcd", nil
	}
	return "", errors.New("etcd not found (looked at $ETCD, $KUBEBUILDER_ASSETS, PATH, /usr/bin/etcd): run `go tool task deps:kube` (apt-get install etcd-server)")
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// moduleRoot finds the directory of the go.mod enclosing the working
// directory (tests run in their package directory).
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// freePort returns a port that was free a moment ago on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (e *Env) startEtcd(ctx context.Context, bin string, out io.Writer) error {
	var lastErr error
	// A port picked by freePort can be taken by someone else before etcd
	// binds it; retry with new ports a few times.
	for attempt := 0; attempt < 3; attempt++ {
		client, err := freePort()
		if err != nil {
			return err
		}
		peer, err := freePort()
		if err != nil {
			return err
		}
		curl := "http://127.0.0.1:" + strconv.Itoa(client)
		purl := "http://127.0.0.1:" + strconv.Itoa(peer)
		data := filepath.Join(e.Dir, "etcd-"+strconv.Itoa(attempt))
		cmd := exec.Command(bin,
			"--name=kubetest",
			"--data-dir="+data,
			"--listen-client-urls="+curl,
			"--advertise-client-urls="+curl,
			"--listen-peer-urls="+purl,
			"--initial-advertise-peer-urls="+purl,
			"--initial-cluster=kubetest="+purl,
			"--quota-backend-bytes=2147483648",
			"--log-level=warn",
		)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return err
		}
		exited := watch(cmd)
		err = poll(ctx, exited, func() error {
			resp, err := http.Get(curl + "/health")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("health: %s", resp.Status)
			}
			return nil
		})
		if err == nil {
			e.procs = append(e.procs, proc{cmd, exited})
			e.EtcdURL = curl
			return nil
		}
		kill(cmd)
		<-exited
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

func (e *Env) startAPIServer(ctx context.Context, bin string, out io.Writer, extra []string) error {
	pki, err := writePKI(e.Dir)
	if err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		args := []string{
			"--etcd-servers=" + e.EtcdURL,
			"--etcd-prefix=/registry-" + strconv.Itoa(attempt),
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// The kubernetes Service endpoints cannot be a loopback address.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(port),
			"--cert-dir=" + filepath.Join(e.Dir, "apiserver-certs"),
			"--tls-cert-file=" + pki.servingCert,
			"--tls-private-key-file=" + pki.servingKey,
			"--client-ca-file=" + pki.caCert,
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pki.saPub,
			"--service-account-signing-key-file=" + pki.saKey,
			"--service-cluster-ip-range=10.0.0.0/16",
			"--authorization-mode=RBAC",
			"--allow-privileged=true",
			"--disable-admission-plugins=ServiceAccount",
			"--v=0",
		}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return err
		}
		cfg := &rest.Config{
			Host: "https://127.0.0.1:" + strconv.Itoa(port),
			TLSClientConfig: rest.TLSClientConfig{
				CAData:   pki.caPEM,
				CertData: pki.adminCertPEM,
				KeyData:  pki.adminKeyPEM,
			},
			QPS:   200,
			Burst: 400,
		}
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			kill(cmd)
			return err
		}
		exited := watch(cmd)
		err = poll(ctx, exited, func() error {
			resp, err := client.Get(cfg.Host + "/readyz")
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("readyz: %s: %s", resp.Status, body)
			}
			return nil
		})
		if err == nil {
			e.procs = append(e.procs, proc{cmd, exited})
			e.Config = cfg
			e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
			return os.WriteFile(e.Kubeconfig, kubeconfig(cfg, pki), 0o600)
		}
		kill(cmd)
		<-exited
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

// proc is a started process and the channel closed when it exits.
type proc struct {
	cmd    *exec.Cmd
	exited <-chan error
}

// watch returns a channel closed when cmd exits.
func watch(cmd *exec.Cmd) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait(); close(ch) }()
	return ch
}

// poll calls check every 100 ms until it succeeds, the process exits or
// ctx ends.
func poll(ctx context.Context, exited <-chan error, check func() error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("process exited (%v) before it was ready; last check: %v", err, last)
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %v", last)
		case <-tick.C:
		}
	}
}

func kill(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	// The process group: the binaries do not fork, but be thorough.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}

// stop terminates the API server, then etcd (reverse start order),
// gracefully first, with a bounded wait.
func (e *Env) stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			kill(p.cmd)
			<-p.exited
		}
	}
	e.procs = nil
}

// InstallCRDs creates (or updates) every CustomResourceDefinition found in
// path (a YAML file or a directory of *.yaml files) and waits until each is
// Established and served.
func InstallCRDs(ctx context.Context, cfg *rest.Config, path string) error {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return err
	} else if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.yaml"))
		if err != nil {
			return err
		}
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("%s: %w", f, err)
			}
			if obj.Object == nil || obj.GetKind() != "CustomResourceDefinition" {
				continue
			}
			_, err := dc.Resource(crdGVR).Create(ctx, &obj, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				cur, gerr := dc.Resource(crdGVR).Get(ctx, obj.GetName(), metav1.GetOptions{})
				if gerr != nil {
					return gerr
				}
				obj.SetResourceVersion(cur.GetResourceVersion())
				_, err = dc.Resource(crdGVR).Update(ctx, &obj, metav1.UpdateOptions{})
			}
			if err != nil {
				return fmt.Errorf("%s: CRD %s: %w", f, obj.GetName(), err)
			}
			names = append(names, obj.GetName())
		}
	}
	for _, n := range names {
		err := poll(ctx, nil, func() error {
			crd, err := dc.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("CRD %s not Established yet", n)
		})
		if err != nil {
			return err
		}
	}
	// Established means the API is registered; the discovery of the new
	// resources by clients can lag a little, which informers tolerate.
	return nil
}

type pkiFiles struct {
	caCert, servingCert, servingKey, saKey, saPub string
	caPEM, adminCertPEM, adminKeyPEM              []byte
}

// writePKI creates a CA, a serving certificate for 127.0.0.1/localhost, an
// admin client certificate (CN=kubetest-admin, O=system:masters) and a
// service-account signing key pair.
func writePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	leaf := func(serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		kb, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
	}
	servCert, servKey, err := leaf(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	p.adminCertPEM, p.adminKeyPEM, err = leaf(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubetest-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"ca.crt":      p.caPEM,
		"serving.crt": servCert,
		"serving.key": servKey,
		"sa.key":      pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(sa)}),
		"sa.pub":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	p.caCert = filepath.Join(dir, "ca.crt")
	p.servingCert, p.servingKey = filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	p.saKey, p.saPub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	return p, nil
}

func kubeconfig(cfg *rest.Config, p *pkiFiles) []byte {
	b64 := func(b []byte) string { return base64Std(b) }
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: kubetest
  context: {cluster: kubetest, user: admin}
current-context: kubetest
`, cfg.Host, b64(p.caPEM), b64(p.adminCertPEM), b64(p.adminKeyPEM)))
}

// syncBuffer keeps process output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Keep the last 256 KiB.
	if b.buf.Len() > 256<<10 {
		rest := b.buf.Bytes()[b.buf.Len()-128<<10:]
		nb := append([]byte(nil), rest...)
		b.buf.Reset()
		b.buf.Write(nb)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
