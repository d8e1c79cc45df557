package ingress

import (
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// inputSum is a running fingerprint of every watched object: the sum,
// lane by lane modulo 2^64, of the SHA-256 of each object's kind,
// namespace, name and resourceVersion. The informers' handlers add and
// subtract objects as they come and go, so a sync reads the fingerprint
// of 30,000 objects in constant time instead of sorting and hashing them
// all (which cost more than the incremental translation itself).
type inputSum struct {
	mu    sync.Mutex
	lanes [4]uint64
}

// add adds (sign 1) or removes (sign -1) one object version.
func (s *inputSum) add(kind string, obj any, sign int) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	h := sha256.New()
	for _, p := range []string{kind, m.GetNamespace(), m.GetName()} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	if ing, ok := obj.(*netv1.Ingress); ok && ing.Generation != 0 {
		// What the translator reads of an Ingress: an update of its
		// status alone (statusOnly) leaves the fingerprint as it is.
		h.Write([]byte(string(ing.UID) + "\x00" + strconv.FormatInt(ing.Generation, 10) + "\x00"))
		for _, kv := range []map[string]string{ing.Annotations, ing.Labels} {
			for _, k := range slices.Sorted(maps.Keys(kv)) {
				h.Write([]byte(k + "\x00" + kv[k] + "\x00"))
			}
			h.Write([]byte{1})
		}
		if ing.DeletionTimestamp != nil {
			h.Write([]byte("deleting"))
		}
	} else {
		h.Write([]byte(m.GetResourceVersion()))
	}
	var d [32]byte
	h.Sum(d[:0])
	s.mu.Lock()
	for i := range s.lanes {
		v := binary.LittleEndian.Uint64(d[i*8:])
		if sign < 0 {
			s.lanes[i] -= v
		} else {
			s.lanes[i] += v
		}
	}
	s.mu.Unlock()
}

// sum returns the current fingerprint.
func (s *inputSum) sum() [4]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lanes
}

// fingerprint identifies the translator's input: the objects (their
// running sum) and the exclusions.
func fingerprint(objects [4]uint64, excluded map[Ref]string) [32]byte {
	h := sha256.New()
	var b [8]byte
	for _, l := range objects {
		binary.LittleEndian.PutUint64(b[:], l)
		h.Write(b[:])
	}
	keys := make([]string, 0, len(excluded))
	for r, why := range excluded {
		keys = append(keys, r.String()+"\x00"+why)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// objectRef returns the ObjectReference (for Events and rejections) of a
// watched object as the informer caches hold it now: IngressClasses,
// Ingresses, Services and Kong's custom resources.
func (c *Controller) objectRef(r Ref) (*corev1.ObjectReference, bool) {
	var obj runtime.Object
	var err error
	apiVersion := ""
	switch r.Kind {
	case "IngressClass":
		obj, err = c.clusterFac.Networking().V1().IngressClasses().Lister().Get(r.Name)
		apiVersion = "networking.k8s.io/v1"
	case "Ingress":
		obj, err = c.factory.Networking().V1().Ingresses().Lister().Ingresses(r.Namespace).Get(r.Name)
		apiVersion = "networking.k8s.io/v1"
	case "Service":
		obj, err = c.factory.Core().V1().Services().Lister().Services(r.Namespace).Get(r.Name)
		apiVersion = "v1"
	default:
		ok := false
		for g, l := range c.crds {
			if kindOf[g.Resource] != r.Kind {
				continue
			}
			ok = true
			apiVersion = g.GroupVersion().String()
			if r.Namespace == "" {
				obj, err = l.Get(r.Name)
			} else {
				obj, err = l.ByNamespace(r.Namespace).Get(r.Name)
			}
		}
		if !ok {
			return nil, false
		}
	}
	if err != nil || obj == nil {
		return nil, false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	return &corev1.ObjectReference{Kind: r.Kind, APIVersion: apiVersion, Namespace: m.GetNamespace(), Name: m.GetName(),
		UID: m.GetUID(), ResourceVersion: m.GetResourceVersion()}, true
}

// kindOf maps the resources of Kong's CRDs to their kinds.
var kindOf = map[string]string{
	KongPluginGVR.Resource:         "KongPlugin",
	KongClusterPluginGVR.Resource:  "KongClusterPlugin",
	KongConsumerGVR.Resource:       "KongConsumer",
	KongUpstreamPolicyGVR.Resource: "KongUpstreamPolicy",
}

// statusOnly reports whether an Ingress update changed nothing the
// translator reads: same UID, generation (the API server bumps it on
// every spec change), annotations and labels. Status updates (ours
// included) and managed-fields churn are such updates.
func statusOnly(old, cur any) bool {
	a, ok1 := old.(*netv1.Ingress)
	b, ok2 := cur.(*netv1.Ingress)
	if !ok1 || !ok2 || a.Generation == 0 {
		return false
	}
	return a.UID == b.UID && a.Generation == b.Generation && maps.Equal(a.Annotations, b.Annotations) &&
		maps.Equal(a.Labels, b.Labels) && a.DeletionTimestamp.Equal(b.DeletionTimestamp)
}

// recheckStatus asks the status writer to compare the Ingress statuses
// with the last applied result again.
func (c *Controller) recheckStatus() {
	c.mu.Lock()
	c.recheck = true
	c.mu.Unlock()
	select {
	case c.statusKick <- struct{}{}:
	default:
	}
}

// gcCycles is the number of completed GC cycles (for the sync log: a
// slow sync that overlapped a collection says so).
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
