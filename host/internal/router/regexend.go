package router

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
	"unicode/utf8"
)

// pathRegex is a compiled Kong regex path ("~" prefix stripped).
//
// re answers "does it match" (regexp.MatchString does not allocate once its
// internal pools are warm). prog is the same expression compiled by
// regexp/syntax, used by matchEnd to find where the match ends without the
// allocation regexp.FindStringIndex makes for its result slice.
type pathRegex struct {
	src      string // the path as written, including the leading "~"
	re       *regexp.Regexp
	prog     *syntax.Prog
	prefixes []string // every match starts with one of these (may be {""})
}

// compilePathRegex compiles the Kong regex path p (which starts with "~").
// The pattern is anchored at the start of the path: "~/a|/b" only matches
// paths beginning with "/a" or "/b". Errors describe the pattern as written.
func compilePathRegex(p string) (*pathRegex, error) {
	// Compile the pattern as written first so that errors describe it.
	if _, err := regexp.Compile(p[1:]); err != nil {
		return nil, err
	}
	expr := `^(?:` + p[1:] + `)`
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	// Same steps as regexp.Compile (Perl flags, simplify, compile), so prog
	// accepts exactly the same language with the same match preferences.
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, err
	}
	// An anchored match at position 0 is also a match of the unanchored
	// pattern starting at 0, so it begins with one of its literal prefixes.
	rawParsed, err := syntax.Parse(p[1:], syntax.Perl)
	if err != nil {
		return nil, err
	}
	prefixes, _ := literalPrefixes(rawParsed)
	return &pathRegex{src: p, re: re, prog: prog, prefixes: prefixes}, nil
}

const (
	maxPrefixes   = 16 // most literal prefixes kept per regex
	maxPrefixLen  = 64 // longest literal prefix kept
	maxClassRunes = 4  // largest character class expanded into prefixes
)

// literalPrefixes returns a set of strings such that every match of re
// starting at position 0 begins with one of them (the set is {""} when
// nothing is known). complete reports that re matches exactly the strings of
// the set and nothing else. "/(orders|carts)/\d+" gives {"/orders/",
// "/carts/"}, so the regex is only evaluated for paths under those prefixes.
func literalPrefixes(re *syntax.Regexp) (set []string, complete bool) {
	unknown := []string{""}
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return unknown, false
		}
		// U+FFFD also matches invalid UTF-8 bytes: the literal part ends
		// before it.
		runes, complete := re.Rune, true
		if i := slices.Index(runes, utf8.RuneError); i >= 0 {
			runes, complete = runes[:i], false
		}
		s := string(runes)
		if len(s) > maxPrefixLen {
			return []string{s[:maxPrefixLen]}, false
		}
		return []string{s}, complete
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > maxClassRunes {
				return unknown, false
			}
		}
		if n == 0 || slices.ContainsFunc(chunkPairs(re.Rune), func(p [2]rune) bool { return p[0] <= utf8.RuneError && utf8.RuneError <= p[1] }) {
			return unknown, false
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				set = append(set, string(r))
			}
		}
		return set, true
	case syntax.OpCapture:
		return literalPrefixes(re.Sub[0])
	case syntax.OpPlus:
		s, _ := literalPrefixes(re.Sub[0])
		return s, false
	case syntax.OpRepeat:
		if re.Min < 1 {
			return unknown, false
		}
		s, _ := literalPrefixes(re.Sub[0])
		return s, false
	case syntax.OpAlternate:
		complete = true
		for _, sub := range re.Sub {
			s, c := literalPrefixes(sub)
			complete = complete && c
			for _, x := range s {
				if !slices.Contains(set, x) {
					set = append(set, x)
				}
			}
			if len(set) > maxPrefixes {
				return unknown, false
			}
		}
		return set, complete
	case syntax.OpConcat:
		set = []string{""}
		for i, sub := range re.Sub {
			if i == 0 && (sub.Op == syntax.OpBeginText || sub.Op == syntax.OpBeginLine) {
				continue // always true at position 0
			}
			s, c := literalPrefixes(sub)
			if len(set)*len(s) > maxPrefixes {
				return set, false
			}
			next := make([]string, 0, len(set)*len(s))
			truncated := false
			for _, a := range set {
				for _, b := range s {
					x := a + b
					if len(x) > maxPrefixLen {
						x, truncated = x[:maxPrefixLen], true
					}
					if !slices.Contains(next, x) {
						next = append(next, x)
					}
				}
			}
			set = next
			if !c || truncated {
				return set, false
			}
		}
		return set, true
	}
	return unknown, false
}

// end reports the length of the leftmost-first match of r at the start of s,
// or -1 when r does not match. It does not allocate in steady state except
// for inputs beyond the backtracker's budget (see maxVisitBits).
func (r *pathRegex) end(s string) int {
	if e := matchEnd(r.prog, s); e != errTooBig {
		return e
	}
	// Huge path times a big program: let regexp do it (allocation-free when
	// it does not match, one small allocation when it does).
	if !r.re.MatchString(s) {
		return -1
	}
	loc := r.re.FindStringIndex(s)
	if loc == nil {
		return -1
	}
	return loc[1]
}

const (
	// maxVisitBits bounds the visited bitmap of the backtracker
	// (len(prog.Inst) * (len(s)+1) bits), i.e. 128 KiB per pooled state.
	maxVisitBits = 1 << 20
	errTooBig    = -2
	endOfText    = -1
)

// btJob is an entry of the backtracker's explicit stack. alt marks the
// reminder to explore the second branch of an InstAlt once the first one
// has failed.
type btJob struct {
	pc  uint32
	alt bool
	pos int
}

type btState struct {
	jobs    []btJob
	visited []uint32
}

var btPool = sync.Pool{New: func() any { return new(btState) }}

// matchEnd runs a backtracking search of prog anchored at position 0 of s
// and returns the end of the leftmost-first match (Perl / RE2 default
// semantics, the same as regexp.FindStringIndex for an expression starting
// with "^"), -1 when there is no match, or errTooBig when the visited bitmap
// would exceed maxVisitBits.
//
// Every (instruction, position) pair is explored at most once, so the run
// time is O(len(prog.Inst) * len(s)). Exploring in priority order and
// stopping at the first InstMatch gives leftmost-first semantics; skipping
// a pair already visited is sound because only the end position is
// tracked, so a pair that failed once fails again.
func matchEnd(prog *syntax.Prog, s string) int {
	width := len(s) + 1
	nbits := len(prog.Inst) * width
	if nbits > maxVisitBits || len(prog.Inst) == 0 {
		return errTooBig
	}
	st := btPool.Get().(*btState)
	defer btPool.Put(st)

	words := (nbits + 31) / 32
	if cap(st.visited) < words {
		st.visited = make([]uint32, words)
	} else {
		st.visited = st.visited[:words]
		clear(st.visited)
	}
	st.jobs = st.jobs[:0]

	// visit marks (pc, pos) and reports whether it was new.
	visit := func(pc uint32, pos int) bool {
		n := int(pc)*width + pos
		w, b := n/32, uint32(1)<<(n%32)
		if st.visited[w]&b != 0 {
			return false
		}
		st.visited[w] |= b
		return true
	}

	st.jobs = append(st.jobs, btJob{pc: uint32(prog.Start), pos: 0})
	for len(st.jobs) > 0 {
		j := st.jobs[len(st.jobs)-1]
		st.jobs = st.jobs[:len(st.jobs)-1]
		pc, pos := j.pc, j.pos
		if j.alt {
			// First branch of the InstAlt failed: try its second branch.
			pc = prog.Inst[pc].Arg
		}
		for {
			if !visit(pc, pos) {
				break
			}
			inst := &prog.Inst[pc]
			switch inst.Op {
			case syntax.InstAlt, syntax.InstAltMatch:
				st.jobs = append(st.jobs, btJob{pc: pc, alt: true, pos: pos})
				pc = inst.Out
				continue
			case syntax.InstNop, syntax.InstCapture:
				pc = inst.Out
				continue
			case syntax.InstEmptyWidth:
				if syntax.EmptyOp(inst.Arg)&^emptyContext(s, pos) != 0 {
					break
				}
				pc = inst.Out
				continue
			case syntax.InstMatch:
				return pos
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				r, w := step(s, pos)
				if r == endOfText {
					break
				}
				var ok bool
				switch inst.Op {
				case syntax.InstRune:
					ok = inst.MatchRune(r)
				case syntax.InstRune1:
					ok = r == inst.Rune[0]
				case syntax.InstRuneAny:
					ok = true
				default: // InstRuneAnyNotNL
					ok = r != '\n'
				}
				if !ok {
					break
				}
				pos += w
				pc = inst.Out
				continue
			default: // InstFail
			}
			break
		}
	}
	return -1
}

// step decodes the rune at pos the way package regexp does (invalid UTF-8
// yields utf8.RuneError of width 1).
func step(s string, pos int) (rune, int) {
	if pos >= len(s) {
		return endOfText, 0
	}
	if c := s[pos]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[pos:])
}

// emptyContext is the zero-width assertion context at pos.
func emptyContext(s string, pos int) syntax.EmptyOp {
	r1, r2 := rune(endOfText), rune(endOfText)
	if pos > 0 && pos <= len(s) {
		r1, _ = utf8.DecodeLastRuneInString(s[:pos])
	}
	if pos < len(s) {
		r2, _ = utf8.DecodeRuneInString(s[pos:])
	}
	return syntax.EmptyOpContext(r1, r2)
}

func chunkPairs(r []rune) [][2]rune {
	out := make([][2]rune, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		out = append(out, [2]rune{r[i], r[i+1]})
	}
	return out
}
