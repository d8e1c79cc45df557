package router

import (
	"slices"
	"strings"
)

// pnode is a node of a radix trie over path bytes. The node's key is the
// concatenation of the labels from the root; hits are the path rules whose
// trie key ends exactly here.
type pnode struct {
	label    string   // edge label from the parent (non-empty except at the root)
	keys     string   // first byte of each child's label, same order as children
	children []*pnode // never two children with the same first byte
	hits     []hit    // sorted by rank after finish
	minRank  int      // lowest rank in this subtree, set by finish
}

// insert adds h under key.
func (n *pnode) insert(key string, h hit) {
	for {
		if key == "" {
			n.hits = append(n.hits, h)
			return
		}
		i := strings.IndexByte(n.keys, key[0])
		if i < 0 {
			n.keys += key[:1]
			n.children = append(n.children, &pnode{label: key, hits: []hit{h}})
			return
		}
		c := n.children[i]
		l := commonPrefixLen(key, c.label)
		if l < len(c.label) {
			// Split c: mid takes the common part, c keeps the rest.
			mid := &pnode{label: c.label[:l], keys: c.label[l : l+1], children: []*pnode{c}}
			c.label = c.label[l:]
			n.children[i] = mid
			c = mid
		}
		key = key[l:]
		n = c
	}
}

// finish sorts every node's hits by rank and computes minRank.
func (n *pnode) finish() {
	if len(n.hits) > 1 {
		slices.SortStableFunc(n.hits, func(a, b hit) int { return a.rank - b.rank })
	}
	n.minRank = noRank
	if len(n.hits) > 0 {
		n.minRank = n.hits[0].rank
	}
	for _, c := range n.children {
		c.finish()
		n.minRank = min(n.minRank, c.minRank)
	}
}

func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
