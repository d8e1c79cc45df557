package proxywasm

import "github.com/weirproxy/weir/abi"

// StatusError is a non-OK proxy_status_t returned by the host. Compare with
// the Err* values using errors.Is or ==. Statuses unknown to this SDK are
// StatusError values too.
type StatusError uint32

// Errors the host may return (abi.Status values other than OK).
const (
	ErrNotFound             = StatusError(abi.StatusNotFound)
	ErrBadArgument          = StatusError(abi.StatusBadArgument)
	ErrSerializationFailure = StatusError(abi.StatusSerializationFailure)
	ErrParseFailure         = StatusError(abi.StatusParseFailure)
	ErrBadExpression        = StatusError(abi.StatusBadExpression)
	ErrInvalidMemoryAccess  = StatusError(abi.StatusInvalidMemoryAccess)
	ErrEmpty                = StatusError(abi.StatusEmpty)
	ErrCasMismatch          = StatusError(abi.StatusCASMismatch)
	ErrResultMismatch       = StatusError(abi.StatusResultMismatch)
	ErrInternalFailure      = StatusError(abi.StatusInternalFailure)
	ErrBrokenConnection     = StatusError(abi.StatusBrokenConnection)
	ErrUnimplemented        = StatusError(abi.StatusUnimplemented)
)

// Status returns the ABI status.
func (e StatusError) Status() abi.Status { return abi.Status(e) }

// Error returns e.g. "proxywasm: host returned NOT_FOUND".
func (e StatusError) Error() string {
	return "proxywasm: host returned " + abi.Status(e).String()
}

// statusErr maps a host status to nil (OK) or a StatusError.
func statusErr(st abi.Status) error {
	if st == abi.StatusOK {
		return nil
	}
	return StatusError(st)
}
