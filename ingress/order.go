package ingress

import (
	"hash/fnv"
	"slices"

	netv1 "k8s.io/api/networking/v1"
)

// ordEnt is one of Weir's Ingresses in the merge order (oldest first),
// with what the merge needs of it besides the object: its key
// (namespace/name) and whether a run of the merge ends after it.
type ordEnt struct {
	ing *netv1.Ingress
	key string
	cut bool
}

// newOrdEnt makes the entry of ing, whose key is k.
func newOrdEnt(ing *netv1.Ingress, k string) ordEnt {
	h := fnv.New32a()
	h.Write([]byte(k))
	return ordEnt{ing: ing, key: k, cut: h.Sum32()%chunkMean == 0}
}

func cmpOrd(a, b ordEnt) int { return byAge(a.ing, b.ing) }

// sortedOurs returns Weir's Ingresses in age order, sorted afresh.
func (t *translator) sortedOurs() []ordEnt {
	var ours []ordEnt
	for _, ing := range t.objs.Ingresses {
		if t.ours(ing) {
			ours = append(ours, newOrdEnt(ing, key(ing.Namespace, ing.Name)))
		}
	}
	slices.SortFunc(ours, cmpOrd)
	return ours
}

// orderMemo keeps the merge order of the last translation so the next
// one need not sort 10,000 Ingresses again: the objects the informers
// hand over are compared by pointer (an informer replaces an object when
// it changes), the Ingresses that are new or gone are inserted into or
// removed from the order, and the rest stays where it was.
type orderMemo struct {
	set     bool
	class   string
	ok      bool // classIsOK
	dflt    bool // isDefault
	gen     uint64
	objs    map[*netv1.Ingress]*objEnt // every Ingress of the last translation
	byKey   map[string]*objEnt         // the same, by namespace/name
	order   []ordEnt                   // Weir's, oldest first
	dropped int                        // Ingresses removed from the order (memo sweeps)
}

// objEnt is an Ingress object of the last translation.
type objEnt struct {
	ing  *netv1.Ingress
	key  string
	gen  uint64 // the translation that last saw it
	ours bool
}

// ours returns the merge order for t's Ingresses. The slice belongs to
// the memo: it is valid until the next translation and must not be
// kept.
func (m *memo) ours(t *translator) []ordEnt {
	if m == nil {
		return t.sortedOurs()
	}
	o := &m.order
	o.gen++
	o.dropped = 0
	if !o.set || o.class != t.opts.IngressClass || o.ok != t.classIsOK || o.dflt != t.isDefault || !o.update(t) {
		o.rebuild(t)
	}
	return o.order
}

// rebuild sorts afresh and indexes every object.
func (o *orderMemo) rebuild(t *translator) {
	old := len(o.order)
	*o = orderMemo{set: true, class: t.opts.IngressClass, ok: t.classIsOK, dflt: t.isDefault, gen: o.gen,
		objs: make(map[*netv1.Ingress]*objEnt, len(t.objs.Ingresses)), byKey: make(map[string]*objEnt, len(t.objs.Ingresses)),
		dropped: old}
	for _, ing := range t.objs.Ingresses {
		e := &objEnt{ing: ing, key: key(ing.Namespace, ing.Name), gen: o.gen, ours: t.ours(ing)}
		o.objs[ing] = e
		o.byKey[e.key] = e
		if e.ours {
			o.order = append(o.order, newOrdEnt(ing, e.key))
		}
	}
	slices.SortFunc(o.order, cmpOrd)
}

// update brings the order up to date with t's Ingresses by inserting and
// removing the objects that changed; false when it cannot (the caller
// rebuilds).
func (o *orderMemo) update(t *translator) bool {
	var fresh []*netv1.Ingress
	seen := 0
	for _, ing := range t.objs.Ingresses {
		e := o.objs[ing]
		if e == nil {
			fresh = append(fresh, ing)
			continue
		}
		if e.gen == o.gen {
			return false // listed twice
		}
		e.gen = o.gen
		seen++
	}
	if len(fresh) == 0 && seen == len(o.objs) {
		return true
	}
	if len(fresh) > len(o.order)/16+16 {
		return false // many changes: sorting afresh is as cheap
	}
	var gone []*objEnt
	// The object a new one replaces is found by its key; others that are
	// gone (deleted Ingresses) by a walk over all.
	for _, ing := range fresh {
		k := key(ing.Namespace, ing.Name)
		if e := o.byKey[k]; e != nil {
			if e.gen == o.gen {
				return false // two objects of one name
			}
			gone = append(gone, e)
			delete(o.objs, e.ing)
			delete(o.byKey, k)
		}
	}
	if len(o.objs) != seen {
		for ing, e := range o.objs {
			if e.gen != o.gen {
				gone = append(gone, e)
				delete(o.objs, ing)
				delete(o.byKey, e.key)
			}
		}
	}
	for _, e := range gone {
		if !e.ours {
			continue
		}
		i, found := slices.BinarySearchFunc(o.order, ordEnt{ing: e.ing}, cmpOrd)
		if !found || o.order[i].ing != e.ing {
			return false
		}
		o.order = slices.Delete(o.order, i, i+1)
		o.dropped++
	}
	for _, ing := range fresh {
		e := &objEnt{ing: ing, key: key(ing.Namespace, ing.Name), gen: o.gen, ours: t.ours(ing)}
		if o.byKey[e.key] != nil {
			return false // two objects of one name
		}
		o.objs[ing] = e
		o.byKey[e.key] = e
		if !e.ours {
			continue
		}
		oe := newOrdEnt(ing, e.key)
		i, found := slices.BinarySearchFunc(o.order, oe, cmpOrd)
		if found {
			return false
		}
		o.order = slices.Insert(o.order, i, oe)
	}
	return true
}
