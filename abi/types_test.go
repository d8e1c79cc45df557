package abi

import (
	"fmt"
	"testing"
)

func TestEnumStrings(t *testing.T) {
	tests := []struct {
		name string
		got  fmt.Stringer
		want string
	}{
		{name: "i32", got: ValTypeI32, want: "i32"},
		{name: "i64", got: ValTypeI64, want: "i64"},
		{name: "bad valtype", got: ValType(0x7d), want: "ValType(0x7d)"},
		{name: "status ok", got: StatusOK, want: "OK"},
		{name: "status not found", got: StatusNotFound, want: "NOT_FOUND"},
		{name: "status bad expression", got: StatusBadExpression, want: "BAD_EXPRESSION"},
		{name: "status invalid memory", got: StatusInvalidMemoryAccess, want: "INVALID_MEMORY_ACCESS"},
		{name: "status cas", got: StatusCASMismatch, want: "CAS_MISMATCH"},
		{name: "status broken connection", got: StatusBrokenConnection, want: "BROKEN_CONNECTION"},
		{name: "status unimplemented", got: StatusUnimplemented, want: "UNIMPLEMENTED"},
		{name: "status unknown", got: Status(13), want: "Status(13)"},
		{name: "action continue", got: ActionContinue, want: "Continue"},
		{name: "action pause", got: ActionPause, want: "Pause"},
		{name: "action other", got: Action(3), want: "Action(3)"},
		{name: "headers stop", got: HeadersStopIteration, want: "StopIteration"},
		{name: "headers watermark", got: HeadersStopAllIterationAndWatermark, want: "StopAllIterationAndWatermark"},
		{name: "headers other", got: HeadersAction(5), want: "HeadersAction(5)"},
		{name: "data buffer", got: DataStopIterationAndBuffer, want: "StopIterationAndBuffer"},
		{name: "data no buffer", got: DataStopIterationNoBuffer, want: "StopIterationNoBuffer"},
		{name: "data other", got: DataAction(4), want: "DataAction(4)"},
		{name: "buffer first", got: BufferHTTPRequestBody, want: "HTTP_REQUEST_BODY"},
		{name: "buffer last", got: BufferForeignFunctionArguments, want: "FOREIGN_FUNCTION_ARGUMENTS"},
		{name: "buffer higress", got: BufferType(9), want: "BufferType(9)"},
		{name: "map first", got: MapHTTPRequestHeaders, want: "HTTP_REQUEST_HEADERS"},
		{name: "map last", got: MapHTTPCallResponseTrailers, want: "HTTP_CALL_RESPONSE_TRAILERS"},
		{name: "map other", got: MapType(8), want: "MapType(8)"},
		{name: "stream", got: StreamUpstream, want: "UPSTREAM"},
		{name: "stream other", got: StreamType(4), want: "StreamType(4)"},
		{name: "peer", got: PeerRemote, want: "REMOTE"},
		{name: "peer other", got: PeerType(3), want: "PeerType(3)"},
		{name: "metric", got: MetricHistogram, want: "HISTOGRAM"},
		{name: "metric other", got: MetricType(3), want: "MetricType(3)"},
		{name: "log", got: LogCritical, want: "CRITICAL"},
		{name: "log other", got: LogLevel(6), want: "LogLevel(6)"},
		{name: "errno fault", got: ErrnoFault, want: "FAULT"},
		{name: "errno notcapable", got: ErrnoNotcapable, want: "NOTCAPABLE"},
		{name: "errno other", got: Errno(1), want: "Errno(1)"},
		{name: "value kind", got: ValueTimestamp, want: "timestamp"},
		{name: "value kind zero", got: ValueKind(0), want: "invalid"},
		{name: "origin", got: OriginEnvoy, want: "envoy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := tt.got.String(); s != tt.want {
				t.Errorf("String() = %q, want %q", s, tt.want)
			}
		})
	}
}

// TestEnumValues pins the wire values, which must match the spec and the
// cpp-sdk exactly.
func TestEnumValues(t *testing.T) {
	tests := []struct {
		name string
		got  uint32
		want uint32
	}{
		{name: "OK", got: uint32(StatusOK), want: 0},
		{name: "NOT_FOUND", got: uint32(StatusNotFound), want: 1},
		{name: "BAD_ARGUMENT", got: uint32(StatusBadArgument), want: 2},
		{name: "SERIALIZATION_FAILURE", got: uint32(StatusSerializationFailure), want: 3},
		{name: "PARSE_FAILURE", got: uint32(StatusParseFailure), want: 4},
		{name: "BAD_EXPRESSION", got: uint32(StatusBadExpression), want: 5},
		{name: "INVALID_MEMORY_ACCESS", got: uint32(StatusInvalidMemoryAccess), want: 6},
		{name: "EMPTY", got: uint32(StatusEmpty), want: 7},
		{name: "CAS_MISMATCH", got: uint32(StatusCASMismatch), want: 8},
		{name: "RESULT_MISMATCH", got: uint32(StatusResultMismatch), want: 9},
		{name: "INTERNAL_FAILURE", got: uint32(StatusInternalFailure), want: 10},
		{name: "BROKEN_CONNECTION", got: uint32(StatusBrokenConnection), want: 11},
		{name: "UNIMPLEMENTED", got: uint32(StatusUnimplemented), want: 12},
		{name: "headers ContinueAndEndStream", got: uint32(HeadersContinueAndEndStream), want: 2},
		{name: "headers StopAllIterationAndBuffer", got: uint32(HeadersStopAllIterationAndBuffer), want: 3},
		{name: "headers StopAllIterationAndWatermark", got: uint32(HeadersStopAllIterationAndWatermark), want: 4},
		{name: "data StopIterationAndWatermark", got: uint32(DataStopIterationAndWatermark), want: 2},
		{name: "data StopIterationNoBuffer", got: uint32(DataStopIterationNoBuffer), want: 3},
		{name: "GRPC_CALL_MESSAGE", got: uint32(BufferGRPCCallMessage), want: 5},
		{name: "PLUGIN_CONFIGURATION", got: uint32(BufferPluginConfiguration), want: 7},
		{name: "HTTP_CALL_RESPONSE_HEADERS", got: uint32(MapHTTPCallResponseHeaders), want: 6},
		{name: "HTTP_RESPONSE stream", got: uint32(StreamHTTPResponse), want: 1},
		{name: "WARN", got: uint32(LogWarn), want: 3},
		{name: "GAUGE", got: uint32(MetricGauge), want: 1},
		{name: "LOCAL", got: uint32(PeerLocal), want: 1},
		{name: "BADF", got: uint32(ErrnoBadf), want: 8},
		{name: "INVAL", got: uint32(ErrnoInval), want: 28},
		{name: "NOSYS", got: uint32(ErrnoNosys), want: 52},
		{name: "NOTSUP", got: uint32(ErrnoNotsup), want: 58},
		{name: "i32 binary encoding", got: uint32(ValTypeI32), want: 0x7f},
		{name: "i64 binary encoding", got: uint32(ValTypeI64), want: 0x7e},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("value %d, want %d", tt.got, tt.want)
			}
		})
	}
}

func TestEnumValid(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
		want  bool
	}{
		{name: "buffer 8", valid: BufferType(8).Valid(), want: true},
		{name: "buffer 9", valid: BufferType(9).Valid(), want: false},
		{name: "map 7", valid: MapType(7).Valid(), want: true},
		{name: "map 8", valid: MapType(8).Valid(), want: false},
		{name: "stream 3", valid: StreamType(3).Valid(), want: true},
		{name: "stream 4", valid: StreamType(4).Valid(), want: false},
		{name: "peer 2", valid: PeerType(2).Valid(), want: true},
		{name: "peer 3", valid: PeerType(3).Valid(), want: false},
		{name: "metric 2", valid: MetricType(2).Valid(), want: true},
		{name: "metric 3", valid: MetricType(3).Valid(), want: false},
		{name: "log 5", valid: LogLevel(5).Valid(), want: true},
		{name: "log 6", valid: LogLevel(6).Valid(), want: false},
		{name: "log max uint32", valid: LogLevel(^uint32(0)).Valid(), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.valid != tt.want {
				t.Errorf("Valid() = %v, want %v", tt.valid, tt.want)
			}
		})
	}
}
