package ingress

// rope is a list kept as segments, so that a translation can take the
// recorded lists of a replayed run of Ingresses (chunks.go) as they are
// instead of copying them: shared segments are never written to; values
// added one by one go to a segment of the rope's own.
type rope[T any] struct {
	segs [][]T
	n    int
	own  bool // the last segment is the rope's own
}

func (r *rope[T]) len() int { return r.n }

// add appends v.
func (r *rope[T]) add(v T) {
	if !r.own {
		r.segs = append(r.segs, make([]T, 0, 16))
		r.own = true
	}
	last := &r.segs[len(r.segs)-1]
	*last = append(*last, v)
	r.n++
}

// share appends s, which is never written to (by the rope or anyone).
func (r *rope[T]) share(s []T) {
	if len(s) == 0 {
		return
	}
	r.segs = append(r.segs, s[:len(s):len(s)])
	r.own = false
	r.n += len(s)
}

// setLast replaces the value last added.
func (r *rope[T]) setLast(v T) {
	if !r.own {
		panic("ingress: rope.setLast after share")
	}
	s := r.segs[len(r.segs)-1]
	s[len(s)-1] = v
}

// at returns the i-th value.
func (r *rope[T]) at(i int) T {
	for _, s := range r.segs {
		if i < len(s) {
			return s[i]
		}
		i -= len(s)
	}
	panic("ingress: rope index out of range")
}

// slice returns a copy of values [from, to).
func (r *rope[T]) slice(from, to int) []T {
	out := make([]T, 0, to-from)
	off := 0
	for _, s := range r.segs {
		if off >= to {
			break
		}
		lo, hi := max(from-off, 0), min(to-off, len(s))
		if lo < hi {
			out = append(out, s[lo:hi]...)
		}
		off += len(s)
	}
	return out
}

// each calls fn with the values [from, to) and their indexes, in order;
// values past the end are zero.
func (r *rope[T]) each(from, to int, fn func(i int, v T)) {
	off := 0
	for _, s := range r.segs {
		if off >= to {
			break
		}
		for j := max(from-off, 0); j < len(s) && off+j < to; j++ {
			fn(off+j, s[j])
		}
		off += len(s)
	}
	var zero T
	for i := max(from, off); i < to; i++ {
		fn(i, zero)
	}
}

// flat returns all values in one slice (a copy).
func (r *rope[T]) flat() []T { return r.slice(0, r.n) }
