// headers is a Weir proxy-wasm example plugin written in AssemblyScript with
// the published @solo-io/proxy-runtime SDK. It behaves exactly like the Go
// SDK example sdk/go/examples/headers: it sets the request header
// "x-weir-example: <value>" (replacing any value the client sent) before
// the request goes upstream, and the response header
// "x-powered-by: weir-go-sdk" before the response goes back to the client.
//
// Configuration (JSON): {"value": "..."}; value defaults to "hello". An
// empty configuration keeps the default; invalid JSON or a non-string value
// fails the plugin start (proxy_on_configure returns false).
//
// Build (from sdk/assemblyscript, after `npm ci`; see README.md):
//
//   npx asc examples/headers/assembly/index.ts -b examples/headers/headers.wasm --use abort=abort_proc_exit --runtime half -O --noAssert

// The SDK's proxy_on_* exports, the ABI marker and the malloc allocator.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, LogLevelValues, log,
} from "@solo-io/proxy-runtime";
import { get_buffer_bytes, BufferTypeValues, HeaderMapTypeValues, WasmResultValues } from "@solo-io/proxy-runtime/runtime";
import * as imports from "@solo-io/proxy-runtime/imports";
import { JSONReader, Kind, kindName, keyEquals } from "../../../lib/json";

const REQUEST_HEADER = "x-weir-example";
const RESPONSE_HEADER = "x-powered-by";
const POWERED_BY = "weir-go-sdk";
const DEFAULT_VALUE = "hello";

/**
 * Decodes the configuration into value (which holds the default) as Go's
 * encoding/json decodes it into struct{ Value string `json:"value"` }.
 * Returns "" on success, else the error.
 */
function decodeConfig(data: Uint8Array, value: Array<Uint8Array>): string {
  if (data.length == 0) return "";
  const r = new JSONReader(data);
  const k = r.kind();
  if (k == Kind.Null) {
    r.readNull();
  } else if (k == Kind.Object) {
    r.open();
    let first = true;
    while (true) {
      const m = r.more(first, 0x7d);
      first = false;
      if (m < 0) return r.err;
      if (m == 0) break;
      const key = r.member();
      if (key === null) return r.err;
      if (!keyEquals(key, "value")) {
        if (!r.skipValue(1)) return r.err;
        continue;
      }
      const vk = r.kind();
      if (vk == Kind.String) {
        const v = r.readString();
        if (v === null) return r.err;
        value[0] = v;
      } else if (vk == Kind.Null) {
        if (!r.readNull()) return r.err; // null leaves the field unchanged
      } else if (vk == Kind.Invalid) {
        r.skipValue(1);
        return r.err;
      } else {
        return "cannot unmarshal " + kindName(vk) + " into field value of type string";
      }
    }
  } else if (k == Kind.Invalid) {
    r.skipValue(0);
    return r.err;
  } else {
    return "cannot unmarshal " + kindName(k) + " into the configuration object";
  }
  if (!r.end()) return r.err;
  return "";
}

/** Sets a header through the raw import: the SDK helper aborts on failure. */
function replaceHeader(map: HeaderMapTypeValues, name: string, value: ArrayBuffer): void {
  const key = String.UTF8.encode(name);
  const st = imports.proxy_replace_header_map_value(map, changetype<usize>(key), key.byteLength,
    changetype<usize>(value), value.byteLength);
  if (st != WasmResultValues.Ok) {
    log(LogLevelValues.error, "headers: set " + name + ": status " + st.toString());
  }
}

class HeadersRoot extends RootContext {
  value: ArrayBuffer = String.UTF8.encode(DEFAULT_VALUE);

  constructor(context_id: u32) {
    super(context_id);
  }

  // proxy_on_configure (the Go SDK's OnPluginStart). The SDK's own
  // onConfigure is not called: in 0.1.8 it passes the configuration size
  // as the size out-pointer of proxy_get_buffer_bytes.
  onConfigure(configuration_size: u32): bool {
    const data = Uint8Array.wrap(get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configuration_size));
    const value = new Array<Uint8Array>(1);
    value[0] = Uint8Array.wrap(String.UTF8.encode(DEFAULT_VALUE));
    const err = decodeConfig(data, value);
    if (err.length > 0) {
      log(LogLevelValues.error, "headers: decode plugin configuration: " + err);
      return false;
    }
    this.value = value[0].buffer.slice(value[0].byteOffset, value[0].byteOffset + value[0].byteLength);
    return true;
  }

  createContext(context_id: u32): Context {
    return new HeadersStream(context_id, this, this.value);
  }
}

class HeadersStream extends Context {
  value: ArrayBuffer;

  constructor(context_id: u32, root_context: HeadersRoot, value: ArrayBuffer) {
    super(context_id, root_context);
    this.value = value;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    replaceHeader(HeaderMapTypeValues.RequestHeaders, REQUEST_HEADER, this.value);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    replaceHeader(HeaderMapTypeValues.ResponseHeaders, RESPONSE_HEADER, String.UTF8.encode(POWERED_BY));
    return FilterHeadersStatusValues.Continue;
  }

  // The SDK's defaults only build and send a debug log line; with about ten
  // such lines per stream (most in code we cannot override) they dominate
  // the cost of a stream, so these three are overridden without logging.
  onDone(): bool {
    return true;
  }

  onLog(): void {}

  onDelete(): void {}
}

// proxy-runtime picks the root context by the plugin_root_id property and
// aborts on an unknown one: register the empty root ID (Weir's default) and
// the example's name.
registerRootContext((context_id: u32): RootContext => new HeadersRoot(context_id), "");
registerRootContext((context_id: u32): RootContext => new HeadersRoot(context_id), "headers");
