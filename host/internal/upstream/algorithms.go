package upstream

import (
	"slices"
	"strconv"
)

// pickRoundRobin is nginx's smooth weighted round-robin: every usable
// target gains its weight, the largest current weight wins and pays back
// the total. Over any window of sum(weights) picks each target is chosen
// exactly weight times, interleaved (5,1,1 gives a a b a c a a).
func (b *Balancer) pickRoundRobin(r *Request) *Target {
	b.rrMu.Lock()
	t := b.swrr(r, true)
	if t == nil && len(r.Tried) > 0 {
		t = b.swrr(r, false)
	}
	b.rrMu.Unlock()
	return t
}

func (b *Balancer) swrr(r *Request, skipTried bool) *Target {
	best := -1
	var total int64
	for i, t := range b.active {
		if !b.usable(t) || (skipTried && tried(r, t)) {
			continue
		}
		w := int64(t.Weight)
		b.cw[i] += w
		total += w
		if best < 0 || b.cw[i] > b.cw[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b.cw[best] -= total
	return b.active[best]
}

// pickLeastConn picks the usable target with the fewest in-flight requests
// relative to its weight ((in-flight+1)/weight, as Kong scores). The scan
// starts at a rotating offset so that ties go round-robin.
func (b *Balancer) pickLeastConn(r *Request) *Target {
	t := b.leastConn(r, true)
	if t == nil && len(r.Tried) > 0 {
		t = b.leastConn(r, false)
	}
	return t
}

func (b *Balancer) leastConn(r *Request, skipTried bool) *Target {
	n := len(b.active)
	start := int(b.lcN.Add(1) % uint64(n))
	var best *Target
	var bestIn int64
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		t := b.active[j]
		if !b.usable(t) || (skipTried && tried(r, t)) {
			continue
		}
		in := t.st.inflight.Load() + 1
		// in/t.Weight < bestIn/best.Weight, without division.
		if best == nil || in*int64(best.Weight) < bestIn*int64(t.Weight) {
			best, bestIn = t, in
		}
	}
	return best
}

// ringPoint is one point of the consistent-hashing ring.
type ringPoint struct {
	h uint64
	t int32 // index into Balancer.active
}

const (
	// pointsPerTarget is ketama's (and Kong's) 160 points for a target of
	// the smallest weight in the upstream.
	pointsPerTarget = 160
	// maxRingPoints bounds memory (16 bytes a point) with extreme weight
	// ratios; above it point counts are scaled down.
	maxRingPoints = 1 << 18
)

// buildRing places each target on a 64-bit ring at hash("addr i") for
// i < points(target), with points proportional to weight (160 for the
// smallest weight). A target's points depend only on its own address and
// weight relative to the minimum, so removing or adding a target moves
// only the keys that hash to its points (≈1/N of them); Kong's
// slots-sized wheel instead reshuffles points whenever the total changes.
// `slots` is therefore accepted but does not size the ring.
func buildRing(active []*Target) []ringPoint {
	if len(active) == 0 {
		return nil
	}
	minW := active[0].Weight
	for _, t := range active {
		minW = min(minW, t.Weight)
	}
	counts := make([]int, len(active))
	sum := 0
	for i, t := range active {
		counts[i] = (t.Weight*pointsPerTarget + minW - 1) / minW
		sum += counts[i]
	}
	if sum > maxRingPoints {
		scaled := 0
		for i := range counts {
			counts[i] = max(1, int(int64(counts[i])*maxRingPoints/int64(sum)))
			scaled += counts[i]
		}
		sum = scaled
	}
	ring := make([]ringPoint, 0, sum)
	buf := make([]byte, 0, 64)
	for i, t := range active {
		for p := 0; p < counts[i]; p++ {
			buf = append(buf[:0], t.Addr...)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(p), 10)
			h := newHasher()
			h.writeBytes(buf)
			ring = append(ring, ringPoint{h: h.sum(), t: int32(i)})
		}
	}
	slices.SortFunc(ring, func(a, b ringPoint) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.t - b.t)
	})
	return ring
}

// pickRing returns the owner of the first point at or after h, walking on
// past unusable (and, while others remain, tried) targets.
func (b *Balancer) pickRing(r *Request, h uint64) *Target {
	ring := b.ring
	n := len(ring)
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ring[m].h < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	var fallback *Target
	for i := 0; i < n; i++ {
		j := lo + i
		if j >= n {
			j -= n
		}
		t := b.active[ring[j].t]
		if t == fallback {
			continue
		}
		if !b.usable(t) {
			continue
		}
		if !tried(r, t) {
			return t
		}
		if fallback == nil {
			fallback = t
		}
	}
	return fallback
}
