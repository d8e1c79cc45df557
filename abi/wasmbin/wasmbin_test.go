package wasmbin

import (
	"testing"

	"github.com/weirproxy/weir/abi"
)

func TestParseRejectsGarbage(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "not wasm", in: []byte("hello world!")},
		{name: "truncated section", in: []byte("\x00asm\x01\x00\x00\x00\x07\x10\x01")},
		{name: "export index out of range", in: []byte("\x00asm\x01\x00\x00\x00\x07\x05\x01\x01f\x00\x05")},
		{name: "huge value type count", in: []byte("\x00asm\x01\x00\x00\x00\x01\x06\x01\x60\xff\xff\xff\x0f")},
		{name: "LEB128 too long", in: []byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\xff\x01")},
		// Counts far beyond the section's bytes: reading stops at the
		// first error instead of looping (and appending) billions of
		// times (found by FuzzInstrument through this parser).
		{name: "huge function count", in: []byte("\x00asm\x01\x00\x00\x00\x03\x05\x9b\x8b\xb4\x7c\x0b\x07\x07\x01\x03run\x00\x0b")},
		{name: "huge type count", in: []byte("\x00asm\x01\x00\x00\x00\x01\x05\xff\xff\xff\xff\x0f")},
		{name: "huge import count", in: []byte("\x00asm\x01\x00\x00\x00\x02\x05\xff\xff\xff\xff\x0f")},
		{name: "huge export count", in: []byte("\x00asm\x01\x00\x00\x00\x07\x05\xff\xff\xff\xff\x0f")},
		{name: "huge producers count", in: []byte("\x00asm\x01\x00\x00\x00\x00\x0f\x09producers\xff\xff\xff\xff\x0f")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in); err == nil {
				t.Error("want error")
			}
		})
	}
}

// TestParse reads a hand-assembled module: type (i32,i32)->i32, an env
// function import and a memory import, one function, exported twice with
// the memory, a start section.
func TestParse(t *testing.T) {
	mod := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x07\x01\x60\x02\x7f\x7f\x01\x7f" + // type section
		"\x02\x14\x02\x03env\x01f\x00\x00\x03env\x03mem\x02\x00\x01" + // imports
		"\x03\x02\x01\x00" + // function section: one function of type 0
		"\x07\x0a\x02\x01g\x00\x01\x02m2\x02\x00" + // exports: g = func 1, m2 = memory 0
		"\x08\x01\x01") // start: func 1
	m, err := Parse(mod)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Imports) != 2 || m.Imports[0].Name != "f" || m.Imports[0].Kind != KindFunc || m.Imports[1].Kind != KindMemory {
		t.Fatalf("imports %+v", m.Imports)
	}
	want := abi.HostFunc{Name: "f", Params: []abi.ValType{abi.ValTypeI32, abi.ValTypeI32}, Results: []abi.ValType{abi.ValTypeI32}}.String()
	if got := (abi.HostFunc{Name: "f", Params: m.Imports[0].Params, Results: m.Imports[0].Results}).String(); got != want {
		t.Fatalf("import signature %s, want %s", got, want)
	}
	if len(m.Exports) != 2 || m.Exports[0].Name != "g" || len(m.Exports[0].Params) != 2 || m.Exports[1].Kind != KindMemory {
		t.Fatalf("exports %+v", m.Exports)
	}
	if !m.HasStart {
		t.Fatal("start section not seen")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x07\x01\x60\x02\x7f\x7f\x01\x7f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(b) // must not panic
	})
}
