package ingress

import (
	"testing"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestInputSum checks the running fingerprint: an update that changes
// only an Ingress's status leaves it (and is recognized as such), any
// change the translator reads moves it, and removing every object brings
// it back to zero.
func TestInputSum(t *testing.T) {
	base := &netv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "n", UID: "u1", Generation: 1, ResourceVersion: "1",
		Annotations: map[string]string{"konghq.com/strip-path": "true"}}}
	withStatus := base.DeepCopy()
	withStatus.ResourceVersion = "2"
	withStatus.Status.LoadBalancer.Ingress = []netv1.IngressLoadBalancerIngress{{IP: "203.0.113.1"}}
	annotated := base.DeepCopy()
	annotated.ResourceVersion = "3"
	annotated.Annotations["konghq.com/methods"] = "GET"
	respec := base.DeepCopy()
	respec.ResourceVersion, respec.Generation = "4", 2
	relabelled := base.DeepCopy()
	relabelled.ResourceVersion, relabelled.Labels = "5", map[string]string{"x": "y"}

	type updateCase struct {
		name       string
		to         *netv1.Ingress
		statusOnly bool
	}
	for _, tc := range []updateCase{
		{name: "status only", to: withStatus, statusOnly: true},
		{name: "annotation", to: annotated},
		{name: "spec (generation)", to: respec},
		{name: "labels", to: relabelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s inputSum
			s.add("Ingress", base, 1)
			before := s.sum()
			if got := statusOnly(base, tc.to); got != tc.statusOnly {
				t.Fatalf("statusOnly = %v, want %v", got, tc.statusOnly)
			}
			s.add("Ingress", base, -1)
			s.add("Ingress", tc.to, 1)
			if moved := s.sum() != before; moved == tc.statusOnly {
				t.Errorf("fingerprint moved = %v, want %v", moved, !tc.statusOnly)
			}
			s.add("Ingress", cache.DeletedFinalStateUnknown{Key: "n/a", Obj: tc.to}, -1)
			if s.sum() != ([4]uint64{}) {
				t.Errorf("after removing every object the fingerprint is %v, want zero", s.sum())
			}
		})
	}
	if fingerprint([4]uint64{1}, nil) == fingerprint([4]uint64{1}, map[Ref]string{{"Ingress", "n", "a"}: "rejected"}) {
		t.Errorf("exclusions do not change the fingerprint")
	}
}
