package wasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Deadline instrumentation.
//
// wazero can stop runaway guest code only with WithCloseOnContextDone,
// which (v1.12) costs a goroutine, a channel and two closures on every
// host→guest call whatever the context (about 280 ns and 3 allocations),
// plus a Go round trip on every loop iteration. Instead, Compile rewrites
// the module so that guest code checks a stop flag itself:
//
//   - two mutable i32 globals are appended: a countdown and the stop flag
//     (exported as stopGlobalExport);
//   - every function body starts with, and every loop header is followed
//     by, a check (checkCode): decrement the countdown; when it reaches
//     zero (every yieldEvery checks), trap if the stop flag is set and
//     run `memory.grow 0`, which in wazero returns to Go. A loop, a deep
//     recursion or an exponential call tree reaches a check within a
//     bounded number of instructions;
//   - the start section, which would run inside InstantiateModule before
//     the host can reach the flag, is removed and its function exported
//     as startFuncExport, which the host calls first, under the deadline;
//   - .debug_* custom sections (DWARF, addressed by code offsets that the
//     rewrite shifts) are dropped.
//
// The return to Go matters as much as the flag: the Go runtime cannot
// preempt a goroutine running compiled guest code, so without it a
// spinning guest would stall every stop-the-world phase (garbage
// collection) and, on a busy machine, the very timer that must stop it.
//
// The per-instance watchdog sets the flag when a call overruns its
// deadline; the guest traps at its next check and the instance is
// discarded (the flag is never cleared). Function and global indices are
// unchanged (the new globals are the last ones), so names, exports and
// element segments stay valid.
//
// The rewrite only has to find function bodies and loop opcodes, so it
// decodes instruction immediates without validating them; wazero
// validates the result. A module the rewrite cannot handle (an unknown
// opcode, no memory, or an output wazero rejects while the original
// compiles) is run uninstrumented under wazero's own termination checks.

// yieldEvery is the number of checks between two returns to Go.
const yieldEvery = 1024

// checkCode returns the check inserted at function entries and loop
// headers, for the countdown and stop globals, and a memory 0 that is
// 64-bit (memory.grow then takes an i64).
func checkCode(countdown, stop uint32, mem64 bool) []byte {
	c := []byte{0x23}
	c = appendU32(c, countdown)
	c = append(c, 0x45, 0x04, 0x40) // i32.eqz; if
	c = append(c, 0x23)
	c = appendU32(c, stop)
	c = append(c, 0x04, 0x40, 0x00, 0x0b) // if; unreachable; end
	if mem64 {
		c = append(c, 0x42, 0x00) // i64.const 0
	} else {
		c = append(c, 0x41, 0x00) // i32.const 0
	}
	c = append(c, 0x40, 0x00, 0x1a) // memory.grow 0; drop
	c = append(c, 0x41)
	c = appendU32(c, yieldEvery) // positive and < 2^13: its s32 LEB is the same
	c = append(c, 0x24)
	c = appendU32(c, countdown)
	c = append(c, 0x0b, 0x23) // end; global.get countdown
	c = appendU32(c, countdown)
	c = append(c, 0x41, 0x01, 0x6b, 0x24) // i32.const 1; i32.sub; global.set countdown
	return appendU32(c, countdown)
}

const (
	// stopGlobalExport names the stop flag global added by instrument.
	stopGlobalExport = "weir.stop"
	// startFuncExport names the former start function.
	startFuncExport = "weir.start"
)

// errInstrument wraps the reasons instrument gives up.
var errInstrument = errors.New("wasm: deadline instrumentation")

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElem      = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is the required order of the non-custom sections; 0 for
// unknown ids.
func sectionRank(id byte) int {
	switch id {
	case secType:
		return 1
	case secImport:
		return 2
	case secFunction:
		return 3
	case secTable:
		return 4
	case secMemory:
		return 5
	case secTag:
		return 6
	case secGlobal:
		return 7
	case secExport:
		return 8
	case secStart:
		return 9
	case secElem:
		return 10
	case secDataCount:
		return 11
	case secCode:
		return 12
	case secData:
		return 13
	}
	return 0
}

// instrumented is the result of instrument.
type instrumented struct {
	wasm []byte
	// hasStart is true when a start section became startFuncExport.
	hasStart bool
}

// reader decodes a byte slice; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: offset %d: %s", errInstrument, r.i, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.i >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *reader) u32() uint32 {
	var v uint32
	for shift := uint(0); shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 too long")
	return 0
}

// skipLEB skips a (signed or unsigned) LEB128 of at most 10 bytes.
func (r *reader) skipLEB() {
	for range 10 {
		c := r.byte()
		if r.err != nil || c&0x80 == 0 {
			return
		}
	}
	r.fail("LEB128 too long")
}

func (r *reader) skip(n int) {
	if r.err != nil {
		return
	}
	if n < 0 || len(r.b)-r.i < n {
		r.fail("unexpected end")
		return
	}
	r.i += n
}

func (r *reader) name() string {
	n := int(r.u32())
	start := r.i
	r.skip(n)
	if r.err != nil {
		return ""
	}
	return string(r.b[start:r.i])
}

// valType skips a value type (a one-byte type, or ref/ref null with a
// heap type).
func (r *reader) valType() {
	switch r.byte() {
	case 0x63, 0x64: // (ref null ht), (ref ht)
		r.skipLEB()
	}
}

// limits skips table or memory limits and returns their flags.
func (r *reader) limits() byte {
	flags := r.byte()
	r.skipLEB()
	if flags&1 != 0 {
		r.skipLEB()
	}
	return flags
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: explicit memory index
		r.skipLEB()
	}
	r.skipLEB()
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(body)))
	return append(out, body...)
}

// instrument rewrites a module as described above. It fails (wrapping
// errInstrument) on bytes it cannot decode.
func instrument(wasm []byte) (instrumented, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return instrumented{}, fmt.Errorf("%w: not a version 1 binary module", errInstrument)
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := &reader{b: wasm, i: 8}
	lastRank := 0
	for r.i < len(r.b) && r.err == nil {
		id := r.byte()
		n := int(r.u32())
		start := r.i
		r.skip(n)
		if r.err != nil {
			break
		}
		// Each known section at most once, in order: the rewrite below
		// counts on it (a second function section would hide functions
		// from the start-index check).
		if rank := sectionRank(id); rank > 0 {
			if rank <= lastRank {
				r.fail("section %d repeated or out of order", id)
				break
			}
			lastRank = rank
		}
		secs = append(secs, section{id, wasm[start:r.i]})
	}
	if r.err != nil {
		return instrumented{}, r.err
	}

	// Count the globals, find memory 0 and the start function, and check
	// the export names are free.
	var importedGlobals, definedGlobals, importedFuncs, definedFuncs uint32
	var startFunc uint32
	var importTypes []uint32    // type index of each imported function
	var typeSec, funcSec []byte // bodies, for the start function's type
	var hasStart, hasGlobalSec, hasExportSec bool
	var hasMemory, mem64 bool // memory 0 exists, is 64-bit
	for _, s := range secs {
		sr := &reader{b: s.body}
		switch s.id {
		case secImport:
			for n := sr.u32(); n > 0 && sr.err == nil; n-- {
				sr.name()
				sr.name()
				switch kind := sr.byte(); kind {
				case 0x00: // func
					importTypes = append(importTypes, sr.u32())
					importedFuncs++
				case 0x01: // table
					sr.valType()
					sr.limits()
				case 0x02: // memory
					flags := sr.limits()
					if !hasMemory {
						hasMemory, mem64 = true, flags&0x04 != 0
					}
				case 0x03: // global
					sr.valType()
					sr.byte()
					importedGlobals++
				case 0x04: // tag
					sr.byte()
					sr.skipLEB()
				default:
					sr.fail("import kind %#x", kind)
				}
			}
		case secMemory:
			if n := sr.u32(); n > 0 && !hasMemory {
				hasMemory, mem64 = true, sr.limits()&0x04 != 0
			}
		case secType:
			typeSec = s.body
		case secFunction:
			funcSec = s.body
			definedFuncs = sr.u32()
		case secGlobal:
			hasGlobalSec = true
			definedGlobals = sr.u32()
		case secExport:
			hasExportSec = true
			for n := sr.u32(); n > 0 && sr.err == nil; n-- {
				if name := sr.name(); name == stopGlobalExport || name == startFuncExport {
					sr.fail("module already exports %q", name)
				}
				sr.byte()
				sr.skipLEB()
			}
			if sr.err == nil && sr.i != len(s.body) {
				sr.fail("%d bytes after the last export", len(s.body)-sr.i)
			}
		case secStart:
			hasStart = true
			startFunc = sr.u32()
		}
		if sr.err != nil {
			return instrumented{}, fmt.Errorf("section %d: %w", s.id, sr.err)
		}
	}
	if hasStart && startFunc >= importedFuncs+definedFuncs {
		return instrumented{}, fmt.Errorf("%w: start function %d out of range (%d functions)", errInstrument, startFunc, importedFuncs+definedFuncs)
	}
	if hasStart {
		// The start function becomes an export, so its type must be
		// checked here: a module that names a missing or non-nullary
		// type would otherwise come out naming it in an export.
		if err := checkStartType(startFunc, importTypes, typeSec, funcSec); err != nil {
			return instrumented{}, err
		}
	}
	if !hasMemory {
		return instrumented{}, fmt.Errorf("%w: the module has no memory to yield through", errInstrument)
	}
	countdownIdx := importedGlobals + definedGlobals
	stopIdx := countdownIdx + 1
	check := checkCode(countdownIdx, stopIdx, mem64)

	newGlobals := []byte{0x7f, 0x01, 0x41} // countdown: mut i32 = yieldEvery
	newGlobals = appendU32(newGlobals, yieldEvery)
	newGlobals = append(newGlobals, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // stop: mut i32 = 0
	newExports := appendName(nil, stopGlobalExport)
	newExports = append(newExports, 0x03)
	newExports = appendU32(newExports, stopIdx)
	nNewExports := uint32(1)
	if hasStart {
		newExports = appendName(newExports, startFuncExport)
		newExports = append(newExports, 0x00)
		newExports = appendU32(newExports, startFunc)
		nNewExports++
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)
	emittedGlobal, emittedExport := hasGlobalSec, hasExportSec
	emitMissing := func(rank int) {
		if !emittedGlobal && rank > sectionRank(secGlobal) {
			body := appendU32(nil, 2)
			out = appendSection(out, secGlobal, append(body, newGlobals...))
			emittedGlobal = true
		}
		if !emittedExport && rank > sectionRank(secExport) {
			body := appendU32(nil, nNewExports)
			out = appendSection(out, secExport, append(body, newExports...))
			emittedExport = true
		}
	}
	for _, s := range secs {
		if rank := sectionRank(s.id); rank > 0 {
			emitMissing(rank)
		}
		sr := &reader{b: s.body}
		switch s.id {
		case secCustom:
			name := sr.name()
			if sr.err != nil {
				return instrumented{}, fmt.Errorf("custom section: %w", sr.err)
			}
			if strings.HasPrefix(name, ".debug_") {
				continue
			}
			out = appendSection(out, s.id, s.body)
		case secGlobal:
			sr.u32()
			body := appendU32(nil, definedGlobals+2)
			body = append(body, s.body[sr.i:]...)
			out = appendSection(out, s.id, append(body, newGlobals...))
		case secExport:
			n := sr.u32()
			body := appendU32(nil, n+nNewExports)
			body = append(body, s.body[sr.i:]...)
			out = appendSection(out, s.id, append(body, newExports...))
		case secStart:
			// Dropped: the host calls startFuncExport.
		case secCode:
			body, err := instrumentCode(s.body, check)
			if err != nil {
				return instrumented{}, err
			}
			out = appendSection(out, s.id, body)
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	emitMissing(sectionRank(secData) + 1)
	return instrumented{wasm: out, hasStart: hasStart}, nil
}

// checkStartType checks that function fn has a type that exists and takes
// and returns nothing, as the spec requires of a start function.
func checkStartType(fn uint32, importTypes []uint32, typeSec, funcSec []byte) error {
	var ti uint32
	if fn < uint32(len(importTypes)) {
		ti = importTypes[fn]
	} else {
		fr := &reader{b: funcSec}
		n := fr.u32()
		idx := fn - uint32(len(importTypes))
		if idx >= n {
			return fmt.Errorf("%w: start function %d has no entry in the function section", errInstrument, fn)
		}
		for range idx {
			fr.skipLEB()
		}
		ti = fr.u32()
		if fr.err != nil {
			return fmt.Errorf("function section: %w", fr.err)
		}
	}
	tr := &reader{b: typeSec}
	if n := tr.u32(); tr.err != nil || ti >= n {
		return fmt.Errorf("%w: start function %d: type index %d out of range", errInstrument, fn, ti)
	}
	for i := uint32(0); ; i++ {
		if form := tr.byte(); form != 0x60 {
			tr.fail("type %d: form %#x is not a function type", i, form)
		}
		params := tr.u32()
		for j := uint32(0); j < params && tr.err == nil; j++ {
			tr.valType()
		}
		results := tr.u32()
		for j := uint32(0); j < results && tr.err == nil; j++ {
			tr.valType()
		}
		if tr.err != nil {
			return fmt.Errorf("type section: %w", tr.err)
		}
		if i == ti {
			if params != 0 || results != 0 {
				return fmt.Errorf("%w: start function %d takes %d parameters and returns %d results; it must take and return none", errInstrument, fn, params, results)
			}
			return nil
		}
	}
}

// instrumentCode rewrites the code section body.
func instrumentCode(body, check []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/4+16), n)
	var fn []byte
	for ; n > 0 && r.err == nil; n-- {
		size := int(r.u32())
		start := r.i
		r.skip(size)
		if r.err != nil {
			break
		}
		var err error
		if fn, err = instrumentFunc(fn[:0], body[start:r.i], check); err != nil {
			return nil, err
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// instrumentFunc appends the instrumented function body f to out.
func instrumentFunc(out, f, check []byte) ([]byte, error) {
	r := &reader{b: f}
	for n := r.u32(); n > 0 && r.err == nil; n-- { // locals
		r.skipLEB()
		r.valType()
	}
	if r.err != nil {
		return nil, r.err
	}
	out = append(out, f[:r.i]...)
	out = append(out, check...)
	last := r.i
	for r.i < len(f) && r.err == nil {
		op := r.byte()
		switch {
		case op == 0x03: // loop bt: check at the loop header
			r.blockType()
			out = append(out, f[last:r.i]...)
			out = append(out, check...)
			last = r.i
		default:
			r.immediates(op)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return append(out, f[last:]...), nil
}

func (r *reader) blockType() {
	switch c := r.byte(); {
	case c == 0x63 || c == 0x64:
		r.skipLEB()
	case c&0x80 != 0: // s33 type index of more than one byte
		r.i--
		r.skipLEB()
	}
}

// immediates skips the immediates of opcode op (core 2.0, tail calls,
// typed function references, exceptions, threads, SIMD).
func (r *reader) immediates(op byte) {
	switch {
	case op == 0x02, op == 0x04, op == 0x06: // block, if, try
		r.blockType()
	case op == 0x07, op == 0x08, op == 0x09, op == 0x0c, op == 0x0d, // catch throw rethrow br br_if
		op == 0x10, op == 0x12, op == 0x14, op == 0x15, op == 0x18, // call return_call call_ref return_call_ref delegate
		op >= 0x20 && op <= 0x26, // local.*, global.*, table.get/set
		op == 0x3f, op == 0x40,   // memory.size/grow
		op == 0x41, op == 0x42, // i32/i64.const
		op == 0xd0, op == 0xd2, op == 0xd5, op == 0xd6: // ref.null ref.func br_on_null br_on_non_null
		r.skipLEB()
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
		r.skipLEB()
		r.skipLEB()
	case op == 0x0e: // br_table
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.skipLEB()
		}
		r.skipLEB()
	case op == 0x1c: // select t*
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.valType()
		}
	case op == 0x1f: // try_table bt catch*
		r.blockType()
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			switch kind := r.byte(); kind {
			case 0x00, 0x01:
				r.skipLEB()
				r.skipLEB()
			case 0x02, 0x03:
				r.skipLEB()
			default:
				r.fail("try_table catch kind %#x", kind)
			}
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x43:
		r.skip(4)
	case op == 0x44:
		r.skip(8)
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0a, op == 0x0b, op == 0x0f,
		op == 0x19, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, // numeric
		op == 0xd1, op == 0xd3, op == 0xd4:
	case op == 0xfc:
		r.miscImmediates(r.u32())
	case op == 0xfd:
		r.simdImmediates(r.u32())
	case op == 0xfe:
		switch sub := r.u32(); {
		case sub == 0x03: // atomic.fence
			r.byte()
		case sub <= 0x02, sub >= 0x10 && sub <= 0x4e:
			r.memarg()
		default:
			r.fail("atomic opcode 0xfe %#x", sub)
		}
	default:
		r.fail("opcode %#x", op)
	}
}

func (r *reader) miscImmediates(sub uint32) {
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.skipLEB()
		r.skipLEB()
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17:
		r.skipLEB()
	default:
		r.fail("opcode 0xfc %d", sub)
	}
}

func (r *reader) simdImmediates(sub uint32) {
	switch {
	case sub <= 11, sub == 92, sub == 93: // v128 loads and stores
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	case sub <= 0x113: // no immediates (including relaxed SIMD)
	default:
		r.fail("opcode 0xfd %d", sub)
	}
}
