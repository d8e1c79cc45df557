package host

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/caddyserver/certmagic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/tlsacme"
	"github.com/weirproxy/weir/host/internal/tlsacme/kubestorage"
)

// challengeHandler answers ACME HTTP-01 validations on the proxy
// listeners before any route is matched (a route for "/" must not
// swallow them), and passes everything else to the proxy.
type challengeHandler struct {
	tm   *tlsacme.Manager
	next http.Handler
}

func (h *challengeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.tm.HandleHTTPChallenge(w, r) {
		return
	}
	h.next.ServeHTTP(w, r)
}

// kubeStorage is weir.acme.storage type kubernetes: Secrets and Leases
// in the storage's namespace. The client config is, in order: the
// storage's kubeconfig file, Options.KubeConfig, the in-cluster one. The
// namespace defaults to the kubeconfig context's, else the pod's own.
// The lock holder is POD_NAME (else the hostname) with a random suffix,
// so two Weirs never mistake each other's lock for their own.
func (o Options) kubeStorage(s *config.ACMEStorage) (certmagic.Storage, error) {
	const field = "weir.acme.storage"
	var rc *rest.Config
	namespace := s.Namespace
	switch {
	case s.Kubeconfig != "":
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: s.Kubeconfig}, &clientcmd.ConfigOverrides{})
		var err error
		if rc, err = loader.ClientConfig(); err != nil {
			return nil, fmt.Errorf("%s.kubeconfig: %w", field, err)
		}
		if namespace == "" {
			if ns, _, err := loader.Namespace(); err == nil && ns != "" {
				namespace = ns
			}
		}
	case o.KubeConfig != nil:
		rc = rest.CopyConfig(o.KubeConfig)
	default:
		var err error
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("%s.type kubernetes: %w (outside a cluster, set %s.kubeconfig)", field, err, field)
		}
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("%s.type kubernetes: %w", field, err)
	}
	if namespace == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, fmt.Errorf("%s.namespace: not set and none from the service account: %w", field, err)
		}
		namespace = strings.TrimSpace(string(b))
	}
	id := os.Getenv("POD_NAME")
	if id == "" {
		id, _ = os.Hostname()
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	id += "_" + hex.EncodeToString(r[:])
	return &kubestorage.Storage{Client: cs, Namespace: namespace, Identity: id}, nil
}
