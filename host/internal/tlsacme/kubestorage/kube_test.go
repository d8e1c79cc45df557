package kubestorage

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weirproxy/weir/ingress/kubetest"
)

// TestRealAPIServer runs the storage cases against a real kube-apiserver
// and etcd (one control plane, a namespace per case): real
// resourceVersion conflicts, label selectors, MicroTime round trips and
// delete preconditions, which the fake clientset only imitates.
func TestRealAPIServer(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{})
	cs := kubernetes.NewForConfigOrDie(env.Config)
	for _, tc := range storageCases {
		t.Run(tc.name, func(t *testing.T) {
			ns := strings.ToLower(tc.name)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.run(t, func(t *testing.T) (*Storage, *Storage) { return pairOn(cs, ns) })
		})
	}
}
