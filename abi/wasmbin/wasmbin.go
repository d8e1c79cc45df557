// Package wasmbin reads what Weir's tools need from a WebAssembly binary
// (the standard library has no wasm parser): the imports, the exports with
// their function signatures, whether the module has a start section, and
// the "producers" custom section. The SDK tests use it to check committed
// plugin modules against the abi tables; the conformance suite's module
// checks build on it. Input is treated as hostile: every length is
// bounded by the data, and malformed input is an error, never a panic.
package wasmbin

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/weirproxy/weir/abi"
)

// External kinds of imports and exports.
const (
	KindFunc   byte = 0
	KindTable  byte = 1
	KindMemory byte = 2
	KindGlobal byte = 3
)

// Import is one import; Params and Results are set for functions only.
type Import struct {
	Module, Name    string
	Kind            byte
	Params, Results []abi.ValType
}

// Export is one export; Params and Results are set for functions only.
type Export struct {
	Name            string
	Kind            byte
	Params, Results []abi.ValType
}

// Module is what Parse reads from a binary.
type Module struct {
	Imports  []Import
	Exports  []Export
	HasStart bool
	// Producers is the "producers" custom section: field name to (name,
	// version) pairs, e.g. "processed-by" -> [["clang", "14.0.6"]].
	Producers map[string][][2]string
}

// Parse reads a wasm v1 binary module.
func Parse(b []byte) (*Module, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || binary.LittleEndian.Uint32(b[4:]) != 1 {
		return nil, errors.New("not a wasm v1 module")
	}
	type sig struct{ params, results []abi.ValType }
	var (
		m         = Module{Producers: map[string][][2]string{}}
		types     []sig
		funcTypes []uint32 // type index of each function index (imports first)
		importTys []uint32 // type index of each function import, in m.Imports order
		expIdx    []uint32 // function index of each function export
	)
	r := &reader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &reader{b: r.bytes(r.u32())}
		switch id {
		case 0: // custom
			if sec.name() != "producers" {
				break
			}
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				field := sec.name()
				for n := sec.u32(); n > 0 && sec.err == nil; n-- {
					m.Producers[field] = append(m.Producers[field], [2]string{sec.name(), sec.name()})
				}
			}
		case 1: // type
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					sec.fail("type is not a function type")
				}
				types = append(types, sig{sec.valTypes(), sec.valTypes()})
			}
		case 2: // import
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				im := Import{Module: sec.name(), Name: sec.name(), Kind: sec.byte()}
				switch im.Kind {
				case KindFunc:
					ti := sec.u32()
					funcTypes = append(funcTypes, ti)
					importTys = append(importTys, ti)
				case KindTable: // reftype, limits
					sec.byte()
					sec.limits()
				case KindMemory:
					sec.limits()
				case KindGlobal: // valtype, mutability
					sec.byte()
					sec.byte()
				default:
					sec.fail("unknown import kind %d", im.Kind)
				}
				m.Imports = append(m.Imports, im)
			}
		case 3: // function
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				funcTypes = append(funcTypes, sec.u32())
			}
		case 7: // export
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				ex := Export{Name: sec.name(), Kind: sec.byte()}
				idx := sec.u32()
				if ex.Kind == KindFunc {
					expIdx = append(expIdx, idx)
				}
				m.Exports = append(m.Exports, ex)
			}
		case 8: // start
			sec.u32()
			m.HasStart = true
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	sigOf := func(ti uint32) (sig, error) {
		if uint64(ti) >= uint64(len(types)) {
			return sig{}, fmt.Errorf("type index %d out of range", ti)
		}
		return types[ti], nil
	}
	fi := 0
	for i := range m.Imports {
		if m.Imports[i].Kind != KindFunc {
			continue
		}
		s, err := sigOf(importTys[fi])
		if err != nil {
			return nil, fmt.Errorf("import %s.%s: %w", m.Imports[i].Module, m.Imports[i].Name, err)
		}
		m.Imports[i].Params, m.Imports[i].Results = s.params, s.results
		fi++
	}
	ei := 0
	for i := range m.Exports {
		if m.Exports[i].Kind != KindFunc {
			continue
		}
		idx := expIdx[ei]
		ei++
		if uint64(idx) >= uint64(len(funcTypes)) {
			return nil, fmt.Errorf("export %s: function index %d out of range", m.Exports[i].Name, idx)
		}
		s, err := sigOf(funcTypes[idx])
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", m.Exports[i].Name, err)
		}
		m.Exports[i].Params, m.Exports[i].Results = s.params, s.results
	}
	return &m, nil
}

// reader decodes the binary format's primitives; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("unexpected end of data")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 too long")
	return 0
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.fail("length %d beyond data", n)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

func (r *reader) valTypes() []abi.ValType {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)) { // each value type takes a byte
		r.fail("%d value types beyond data", n)
		return nil
	}
	out := make([]abi.ValType, 0, n)
	for range n {
		out = append(out, abi.ValType(r.byte()))
	}
	return out
}

func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}
