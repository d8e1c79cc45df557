package host

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/caddyserver/certmagic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

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
// in namespace (default: the pod's own, from the service account), with
// the in-cluster credentials. The lock holder is POD_NAME, else the
// hostname (a pod's name).
func kubeStorage(namespace string) (certmagic.Storage, error) {
	rc, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("storage.type kubernetes: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("storage.type kubernetes: %w", err)
	}
	if namespace == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, fmt.Errorf("storage.type kubernetes: no namespace set and none from the service account: %w", err)
		}
		namespace = strings.TrimSpace(string(b))
	}
	id := os.Getenv("POD_NAME")
	if id == "" {
		id, _ = os.Hostname()
	}
	return &kubestorage.Storage{Client: cs, Namespace: namespace, Identity: id}, nil
}
