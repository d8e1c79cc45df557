package router

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrNoRoom is returned by [Table.Update] when the ranks between two
// groups are used up (after many updates inserting at the same place);
// the caller compiles the table anew with [Compile].
var ErrNoRoom = errors.New("router: no room between ranks; compile the table anew")

// Change replaces the route at Index in [Table.Update].
type Change struct {
	Index int
	Route Route
}

// Update returns a table equal in behaviour to what Compile would build
// from t's routes with each change's route put at its index: only the
// changed routes are compiled, their groups are ranked between the
// unchanged ones (binary search), and only the host buckets the changed
// routes were or are indexed in are rebuilt; every other bucket, and
// the maps of unchanged indexes, are shared with t, which is not
// modified (both tables stay safe for concurrent use).
//
// The number and order of routes stay t's. The error is a
// *CompileError naming the offending change's route (by its index), an
// error for an index out of range or repeated, or [ErrNoRoom].
func (t *Table) Update(changes []Change) (*Table, error) {
	if len(changes) == 0 {
		return t, nil
	}
	isChanged := make([]bool, t.n)
	compiled := make([]compiledRoute, len(changes))
	ngroups := 0
	for k := range changes {
		i := changes[k].Index
		if i < 0 || i >= t.n {
			return nil, fmt.Errorf("router: update of route #%d in a table of %d routes", i, t.n)
		}
		if isChanged[i] {
			return nil, fmt.Errorf("router: route #%d updated twice", i)
		}
		isChanged[i] = true
		cr, err := compileRoute(i, &changes[k].Route)
		if err != nil {
			return nil, err
		}
		compiled[k] = cr
		ngroups += len(cr.groups)
	}

	// Rank: drop the changed routes' groups, insert their new ones.
	order := make([]ranked, 0, len(t.order)+ngroups)
	for _, o := range t.order {
		if !isChanged[o.e.route] {
			order = append(order, o)
		}
	}
	for k := range compiled {
		for g := range compiled[k].groups {
			gr := &compiled[k].groups[g]
			p, _ := slices.BinarySearchFunc(order, gr.prio, func(o ranked, x prio) int { return o.prio.compare(x) })
			lo, hi := 0, 0
			if p > 0 {
				lo = order[p-1].rank
			}
			if p < len(order) {
				hi = order[p].rank
			} else {
				hi = lo + 2*rankGap
			}
			if hi-lo < 2 {
				return nil, ErrNoRoom
			}
			e := gr.entry
			gr.rank, gr.e = lo+(hi-lo)/2, &e
			order = slices.Insert(order, p, ranked{prio: gr.prio, rank: gr.rank, e: gr.e})
		}
	}

	nt := &Table{n: t.n, order: order, routes: slices.Clone(t.routes), exact: t.exact,
		suffixAny: t.suffixAny, suffixOne: t.suffixOne, prefixAny: t.prefixAny, prefixOne: t.prefixOne, hostless: t.hostless}
	for k := range changes {
		nt.routes[changes[k].Index] = routeInfo{bindings: compiled[k].bindings, one: changes[k].Route.WildcardOneLabel}
	}

	// The buckets to rebuild: every one a changed route was or is in.
	type bkey struct {
		kind hostKind
		one  bool // wildcard kinds only
		key  string
	}
	keyOf := func(ri routeInfo, bd *binding) bkey {
		if bd == nil {
			return bkey{kind: hostless}
		}
		return bkey{kind: bd.kind, one: ri.one && bd.kind != hostExact, key: bd.key}
	}
	touched := map[bkey]bool{}
	mark := func(ri routeInfo) {
		if len(ri.bindings) == 0 {
			touched[keyOf(ri, nil)] = true
		}
		for j := range ri.bindings {
			touched[keyOf(ri, &ri.bindings[j])] = true
		}
	}
	for k := range changes {
		mark(t.routes[changes[k].Index])
		mark(nt.routes[changes[k].Index])
	}
	// Copy on write: the maps of the indexes touched.
	cloned := map[hostKind]map[bool]bool{}
	for bk := range touched {
		switch {
		case bk.kind == hostless || cloned[bk.kind][bk.one]:
			continue
		case bk.kind == hostExact:
			nt.exact = maps.Clone(t.exact)
		default:
			x := nt.wildIndex(bk.kind, bk.one)
			x.m = maps.Clone(x.m)
		}
		if cloned[bk.kind] == nil {
			cloned[bk.kind] = map[bool]bool{}
		}
		cloned[bk.kind][bk.one] = true
	}
	for bk := range touched {
		nb := new(bucket)
		var old *bucket
		switch bk.kind {
		case hostless:
			old = t.hostless
		case hostExact:
			old = t.exact[bk.key]
		default:
			old = t.wildIndex(bk.kind, bk.one).m[bk.key]
		}
		empty := true
		if old != nil {
			old.root.each("", func(key string, h hit) {
				if !isChanged[h.e.route] {
					nb.root.insert(key, h)
					empty = false
				}
			})
		}
		for k := range compiled {
			ri := nt.routes[changes[k].Index]
			if len(ri.bindings) == 0 && bk.kind == hostless {
				compiled[k].index(nb, nil)
				empty = false
			}
			for j := range ri.bindings {
				if bd := &ri.bindings[j]; keyOf(ri, bd) == bk {
					ports := bd.ports
					if bd.anyPort {
						ports = nil
					}
					compiled[k].index(nb, ports)
					empty = false
				}
			}
		}
		if !empty {
			nb.root.finish()
		}
		switch {
		case bk.kind == hostless && empty:
			nt.hostless = nil
		case bk.kind == hostless:
			nt.hostless = nb
		case bk.kind == hostExact && empty:
			delete(nt.exact, bk.key)
		case bk.kind == hostExact:
			if nt.exact == nil {
				nt.exact = map[string]*bucket{}
			}
			nt.exact[bk.key] = nb
		default:
			x := nt.wildIndex(bk.kind, bk.one)
			if empty {
				if _, ok := x.m[bk.key]; ok {
					delete(x.m, bk.key)
					x.n--
				}
				continue
			}
			x.bucket(bk.key) // counts a new key
			x.m[bk.key] = nb
		}
	}
	return nt, nil
}

// each calls f with every hit under n (prefix is n's parent's key), in
// trie order: a node's hits in rank order, then its children.
func (n *pnode) each(prefix string, f func(key string, h hit)) {
	key := prefix + n.label
	for _, h := range n.hits {
		f(key, h)
	}
	for _, c := range n.children {
		c.each(key, f)
	}
}
