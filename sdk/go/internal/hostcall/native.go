//go:build !wasip1

package hostcall

import "github.com/weirproxy/weir/abi"

var host Host = Unimplemented{}

// Current returns the Host in use: the one installed with SetHost, or
// Unimplemented.
func Current() Host { return host }

// SetHost installs h as the Host for every SDK call (nil restores
// Unimplemented). Only native (non-wasip1) builds have it: the emulator in
// package proxytest uses it. It is not safe to call concurrently with SDK
// calls.
func SetHost(h Host) {
	if h == nil {
		h = Unimplemented{}
	}
	host = h
}

// Unimplemented is the Host of a native build with no emulator installed:
// every call answers abi.StatusUnimplemented.
type Unimplemented struct{}

const unimpl = abi.StatusUnimplemented

func (Unimplemented) Log(abi.LogLevel, string) abi.Status             { return unimpl }
func (Unimplemented) GetLogLevel() (abi.LogLevel, abi.Status)         { return 0, unimpl }
func (Unimplemented) GetCurrentTimeNanoseconds() (uint64, abi.Status) { return 0, unimpl }
func (Unimplemented) SetTickPeriodMilliseconds(uint32) abi.Status     { return unimpl }
func (Unimplemented) SetEffectiveContext(uint32) abi.Status           { return unimpl }
func (Unimplemented) Done() abi.Status                                { return unimpl }
func (Unimplemented) GetBufferBytes(abi.BufferType, uint32, uint32) ([]byte, abi.Status) {
	return nil, unimpl
}
func (Unimplemented) SetBufferBytes(abi.BufferType, uint32, uint32, []byte) abi.Status {
	return unimpl
}
func (Unimplemented) GetBufferStatus(abi.BufferType) (uint32, uint32, abi.Status) {
	return 0, 0, unimpl
}
func (Unimplemented) GetHeaderMapPairs(abi.MapType) ([]byte, abi.Status)           { return nil, unimpl }
func (Unimplemented) SetHeaderMapPairs(abi.MapType, []byte) abi.Status             { return unimpl }
func (Unimplemented) GetHeaderMapValue(abi.MapType, string) ([]byte, abi.Status)   { return nil, unimpl }
func (Unimplemented) AddHeaderMapValue(abi.MapType, string, string) abi.Status     { return unimpl }
func (Unimplemented) ReplaceHeaderMapValue(abi.MapType, string, string) abi.Status { return unimpl }
func (Unimplemented) RemoveHeaderMapValue(abi.MapType, string) abi.Status          { return unimpl }
func (Unimplemented) GetHeaderMapSize(abi.MapType) (uint32, abi.Status)            { return 0, unimpl }
func (Unimplemented) ContinueStream(abi.StreamType) abi.Status                     { return unimpl }
func (Unimplemented) CloseStream(abi.StreamType) abi.Status                        { return unimpl }
func (Unimplemented) SendLocalResponse(uint32, string, []byte, []byte, int32) abi.Status {
	return unimpl
}
func (Unimplemented) HTTPCall(string, []byte, []byte, []byte, uint32) (uint32, abi.Status) {
	return 0, unimpl
}
func (Unimplemented) GetSharedData(string) ([]byte, uint32, abi.Status)      { return nil, 0, unimpl }
func (Unimplemented) SetSharedData(string, []byte, uint32) abi.Status        { return unimpl }
func (Unimplemented) RegisterSharedQueue(string) (uint32, abi.Status)        { return 0, unimpl }
func (Unimplemented) ResolveSharedQueue(string, string) (uint32, abi.Status) { return 0, unimpl }
func (Unimplemented) EnqueueSharedQueue(uint32, []byte) abi.Status           { return unimpl }
func (Unimplemented) DequeueSharedQueue(uint32) ([]byte, abi.Status)         { return nil, unimpl }
func (Unimplemented) DefineMetric(abi.MetricType, string) (uint32, abi.Status) {
	return 0, unimpl
}
func (Unimplemented) IncrementMetric(uint32, int64) abi.Status                { return unimpl }
func (Unimplemented) RecordMetric(uint32, uint64) abi.Status                  { return unimpl }
func (Unimplemented) GetMetric(uint32) (uint64, abi.Status)                   { return 0, unimpl }
func (Unimplemented) GetProperty([]byte) ([]byte, abi.Status)                 { return nil, unimpl }
func (Unimplemented) SetProperty([]byte, []byte) abi.Status                   { return unimpl }
func (Unimplemented) CallForeignFunction(string, []byte) ([]byte, abi.Status) { return nil, unimpl }
