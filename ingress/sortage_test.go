package ingress

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSortByAgeEqualsByAge checks sortByAge against slices.SortFunc with
// byAge on Ingresses whose timestamps, namespaces and names collide often
// (including sub-second and zero timestamps).
func TestSortByAgeEqualsByAge(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 200 {
		n := 1 + rng.IntN(60)
		ings := make([]*netv1.Ingress, n)
		for i := range ings {
			ts := metav1.Time{}
			if rng.IntN(8) > 0 {
				ts = metav1.NewTime(time.Unix(int64(rng.IntN(4)), int64(rng.IntN(3))*1e8))
			}
			ings[i] = &netv1.Ingress{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ts,
				Namespace: "ns" + strconv.Itoa(rng.IntN(3)), Name: "i" + strconv.Itoa(rng.IntN(5))}}
		}
		got, want := slices.Clone(ings), slices.Clone(ings)
		sortByAge(got)
		slices.SortFunc(want, byAge)
		for i := range got {
			if byAge(got[i], want[i]) != 0 {
				t.Fatalf("round %d: position %d: %s/%s@%v, want %s/%s@%v", round, i, got[i].Namespace, got[i].Name,
					got[i].CreationTimestamp, want[i].Namespace, want[i].Name, want[i].CreationTimestamp)
			}
		}
	}
}
