package wasm

// No-op callbacks.
//
// Every guest call costs a lock, the watchdog's arm and disarm and
// wazero's call entry (~100-150 ns under load) whatever the guest does.
// Many modules export callbacks that do nothing: an empty
// proxy_on_context_create or proxy_on_log, a proxy_on_done that returns
// true, a header callback that returns Continue. Calling such a function
// has no effect the host or the guest could observe (it reads and writes
// nothing and cannot trap), so the host treats it as not exported, which
// by the ABI means exactly the same result. noopExports finds them by
// reading the code section of the original module; only bodies that are
// (after any nops) `end` or `i32.const N; end` qualify.

// noop describes an exported function whose body has no effect.
type noop struct {
	// result is the constant it returns; hasResult is false for a
	// function without results.
	result    int32
	hasResult bool
}

// noopExports returns the exported functions of the valid module wasm
// whose bodies have no effect, by export name. It returns nil for a
// module it cannot read (wazero has validated it; this is only an
// optimization, so any doubt means "call it").
func noopExports(wasm []byte) map[string]noop {
	if len(wasm) < 8 {
		return nil
	}
	var importedFuncs uint32
	var exports map[uint32][]string // function index -> export names
	var code []byte
	r := &reader{b: wasm, i: 8}
	for r.i < len(r.b) && r.err == nil {
		id := r.byte()
		n := int(r.u32())
		start := r.i
		r.skip(n)
		if r.err != nil {
			return nil
		}
		sr := &reader{b: wasm[start:r.i]}
		switch id {
		case secImport:
			for n := sr.u32(); n > 0 && sr.err == nil; n-- {
				sr.name()
				sr.name()
				switch kind := sr.byte(); kind {
				case 0x00: // func
					sr.u32()
					importedFuncs++
				case 0x01: // table
					sr.valType()
					sr.limits()
				case 0x02: // memory
					sr.limits()
				case 0x03: // global
					sr.valType()
					sr.byte()
				case 0x04: // tag
					sr.byte()
					sr.skipLEB()
				default:
					return nil
				}
			}
		case secExport:
			for n := sr.u32(); n > 0 && sr.err == nil; n-- {
				name := sr.name()
				kind := sr.byte()
				idx := sr.u32()
				if kind == 0x00 && sr.err == nil {
					if exports == nil {
						exports = make(map[uint32][]string)
					}
					exports[idx] = append(exports[idx], name)
				}
			}
		case secCode:
			code = sr.b
		}
		if sr.err != nil {
			return nil
		}
	}
	if r.err != nil || len(exports) == 0 || code == nil {
		return nil
	}
	var out map[string]noop
	cr := &reader{b: code}
	for i, n := uint32(0), cr.u32(); i < n && cr.err == nil; i++ {
		size := int(cr.u32())
		start := cr.i
		cr.skip(size)
		if cr.err != nil {
			return nil
		}
		names := exports[importedFuncs+i]
		if len(names) == 0 {
			continue
		}
		nf, ok := noopBody(code[start:cr.i])
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]noop)
		}
		for _, name := range names {
			out[name] = nf
		}
	}
	return out
}

// noopBody reports whether the function body f (locals and expression)
// is, after nops, `end` or `i32.const N; end`.
func noopBody(f []byte) (noop, bool) {
	r := &reader{b: f}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.u32()
		r.valType()
	}
	for r.err == nil && r.i < len(f) && f[r.i] == 0x01 { // nop
		r.i++
	}
	var nf noop
	if r.err == nil && r.i < len(f) && f[r.i] == 0x41 { // i32.const
		r.i++
		v, ok := r.s32()
		if !ok {
			return noop{}, false
		}
		nf = noop{result: v, hasResult: true}
	}
	for r.err == nil && r.i < len(f) && f[r.i] == 0x01 {
		r.i++
	}
	if r.err != nil || r.i != len(f)-1 || f[r.i] != 0x0b { // end, last byte
		return noop{}, false
	}
	return nf, true
}

// s32 reads a signed LEB128 of at most 5 bytes.
func (r *reader) s32() (int32, bool) {
	var v int64
	var shift uint
	for range 5 {
		c := r.byte()
		if r.err != nil {
			return 0, false
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -1<<31 || v > 1<<31-1 {
				return 0, false
			}
			return int32(v), true
		}
	}
	return 0, false
}
