//go:build !wasip1

package hostcall

import (
	"testing"

	"github.com/weirproxy/weir/abi"
)

func TestUnimplementedHost(t *testing.T) {
	SetHost(nil)
	if _, st := Current().GetHeaderMapValue(abi.MapHTTPRequestHeaders, "a"); st != abi.StatusUnimplemented {
		t.Errorf("status = %v, want UNIMPLEMENTED", st)
	}
}
