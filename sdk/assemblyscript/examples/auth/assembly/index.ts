// auth is a Weir proxy-wasm example plugin written in AssemblyScript with
// the published @solo-io/proxy-runtime SDK: API-key authentication. It
// behaves exactly like the Go SDK example sdk/go/examples/auth. The request
// header "x-api-key" must equal one of the configured keys. A missing or
// unknown key is answered locally with 401, the JSON body
// {"message":"Unauthorized"}, "www-authenticate: Key" and
// "content-type: application/json"; a valid key lets the request continue
// with the header removed, so the key never reaches the upstream.
//
// Configuration (JSON): {"keys": ["k1", "k2"]}. Empty keys are ignored;
// with no keys every request is rejected (and a warning is logged at
// start). Invalid JSON or a "keys" that is not an array of strings fails
// the plugin start (proxy_on_configure returns false).
//
// Build (from sdk/assemblyscript, after `npm ci`; see README.md):
//
//   npx asc examples/auth/assembly/index.ts -b examples/auth/auth.wasm --use abort=abort_proc_exit --runtime half -O --noAssert

// The SDK's proxy_on_* exports, the ABI marker and the malloc allocator.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, LogLevelValues, log,
  send_local_response, GrpcStatusValues, HeaderPair, Headers,
} from "@solo-io/proxy-runtime";
import {
  get_buffer_bytes, get_header_map_value, BufferTypeValues, HeaderMapTypeValues, StreamTypeValues, WasmResultValues,
} from "@solo-io/proxy-runtime/runtime";
import * as imports from "@solo-io/proxy-runtime/imports";
import { JSONReader, Kind, kindName, keyEquals } from "../../../lib/json";

const KEY_HEADER = "x-api-key";
// The local response body, as Kong's key-auth plugin answers.
const UNAUTHORIZED_BODY = "{\"message\":\"Unauthorized\"}";

/**
 * Keys decodes "keys" as Go's encoding/json decodes it into a []string:
 * a later "keys" member overwrites the elements of an earlier one in place
 * (a null element keeps what was there), null or [] empties it.
 */
class Keys {
  backing: Array<Uint8Array> = new Array<Uint8Array>();
  len: i32 = 0;

  reset(): void {
    this.backing = new Array<Uint8Array>();
    this.len = 0;
  }
}

/** Decodes the value of "keys"; returns "" on success, else the error. */
function decodeKeys(r: JSONReader, keys: Keys): string {
  const k = r.kind();
  if (k == Kind.Null) {
    if (!r.readNull()) return r.err;
    keys.reset();
    return "";
  }
  if (k == Kind.Invalid) {
    r.skipValue(1);
    return r.err;
  }
  if (k != Kind.Array) {
    return "cannot unmarshal " + kindName(k) + " into field keys of type []string";
  }
  r.open();
  let i = 0;
  while (true) {
    const m = r.more(i == 0, 0x5d);
    if (m < 0) return r.err;
    if (m == 0) break;
    if (i >= keys.backing.length) keys.backing.push(new Uint8Array(0));
    if (i >= keys.len) keys.len = i + 1;
    const ek = r.kind();
    if (ek == Kind.String) {
      const v = r.readString();
      if (v === null) return r.err;
      keys.backing[i] = v;
    } else if (ek == Kind.Null) {
      if (!r.readNull()) return r.err; // null leaves the element unchanged
    } else if (ek == Kind.Invalid) {
      r.skipValue(2);
      return r.err;
    } else {
      return "cannot unmarshal " + kindName(ek) + " into field keys of type string";
    }
    i++;
  }
  if (i < keys.len) keys.len = i;
  if (i == 0) keys.reset();
  return "";
}

/**
 * Decodes the configuration as Go's encoding/json decodes it into
 * struct{ Keys []string `json:"keys"` }. Returns "" on success, else the
 * error.
 */
function decodeConfig(data: Uint8Array, keys: Keys): string {
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
      if (!keyEquals(key, "keys")) {
        if (!r.skipValue(1)) return r.err;
        continue;
      }
      const err = decodeKeys(r, keys);
      if (err.length > 0) return err;
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

/**
 * Returns 1 if a and b are equal, else 0, in time that depends only on
 * their lengths (as Go's subtle.ConstantTimeCompare).
 */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): u32 {
  if (a.length != b.length) return 0;
  let v: u32 = 0;
  for (let i = 0; i < a.length; i++) v |= <u32>(a[i] ^ b[i]);
  return (v - 1) >> 31;
}

class AuthRoot extends RootContext {
  keys: Array<Uint8Array> = new Array<Uint8Array>();

  constructor(context_id: u32) {
    super(context_id);
  }

  // proxy_on_configure (the Go SDK's OnPluginStart). The SDK's own
  // onConfigure is not called: in 0.1.8 it passes the configuration size
  // as the size out-pointer of proxy_get_buffer_bytes.
  onConfigure(configuration_size: u32): bool {
    const data = Uint8Array.wrap(get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configuration_size));
    const decoded = new Keys();
    const err = decodeConfig(data, decoded);
    if (err.length > 0) {
      log(LogLevelValues.error, "auth: decode plugin configuration: " + err);
      return false;
    }
    const keys = new Array<Uint8Array>();
    for (let i = 0; i < decoded.len; i++) {
      if (decoded.backing[i].length > 0) keys.push(decoded.backing[i]);
    }
    this.keys = keys;
    if (keys.length == 0) {
      log(LogLevelValues.warn, "auth: no keys configured: every request will be rejected");
    }
    return true;
  }

  /**
   * Reports whether key is configured. Every configured key is compared in
   * constant time, so timing does not reveal how close a guess is.
   */
  valid(key: Uint8Array): bool {
    let ok: u32 = 0;
    for (let i = 0; i < this.keys.length; i++) ok |= constantTimeEqual(this.keys[i], key);
    return ok == 1;
  }

  createContext(context_id: u32): Context {
    return new AuthStream(context_id, this);
  }
}

/** Answers 401 and stops the request. */
function reject(): FilterHeadersStatusValues {
  const headers: Headers = [];
  headers.push(new HeaderPair(String.UTF8.encode("www-authenticate"), String.UTF8.encode("Key")));
  headers.push(new HeaderPair(String.UTF8.encode("content-type"), String.UTF8.encode("application/json")));
  const st = send_local_response(401, "", String.UTF8.encode(UNAUTHORIZED_BODY), headers, GrpcStatusValues.InvalidCode);
  if (st != WasmResultValues.Ok) {
    log(LogLevelValues.error, "auth: send 401: status " + st.toString());
    imports.proxy_close_stream(StreamTypeValues.Request);
  }
  return FilterHeadersStatusValues.StopIteration;
}

class AuthStream extends Context {
  auth: AuthRoot;

  constructor(context_id: u32, root_context: AuthRoot) {
    super(context_id, root_context);
    this.auth = root_context;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const name = String.UTF8.encode(KEY_HEADER);
    // Empty when the header is missing (or the host failed): never a key.
    const key = Uint8Array.wrap(get_header_map_value(HeaderMapTypeValues.RequestHeaders, name));
    if (!this.auth.valid(key)) return reject();
    // Through the raw import: the SDK helper aborts on failure.
    const st = imports.proxy_remove_header_map_value(HeaderMapTypeValues.RequestHeaders, changetype<usize>(name), name.byteLength);
    if (st != WasmResultValues.Ok) {
      // Forwarding the credential upstream would leak it: fail closed.
      log(LogLevelValues.error, "auth: remove " + KEY_HEADER + ": status " + st.toString());
      return reject();
    }
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
registerRootContext((context_id: u32): RootContext => new AuthRoot(context_id), "");
registerRootContext((context_id: u32): RootContext => new AuthRoot(context_id), "auth");
