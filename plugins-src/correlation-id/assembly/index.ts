// correlation-id is Weir's reference "correlation-id" plugin: Kong's
// bundled plugin of that name (priority 100001) rebuilt in AssemblyScript
// with the published @solo-io/proxy-runtime SDK (0.1.8, AssemblyScript
// 0.17.14). A request without a non-empty config.header_name header gets
// one with a generated id before it goes upstream; with echo_downstream the
// id (generated or received) is also set on the response.
//
// Generators (config.generator, default "uuid#counter"):
//   uuid          a random RFC 4122 version 4 UUID per request;
//   uuid#counter  a random UUID per plugin instance (Kong: per worker)
//                 followed by "#" and a per-instance counter;
//   tracker       <server address>-<server port>-<instance>-<connection id>-
//                 <request counter>-<seconds.milliseconds> (Kong: server
//                 address and port, worker pid, connection serial number,
//                 connection request count, time).
//
// Build (from sdk/assemblyscript after `npm ci`; go tool task plugins:as):
//
//   npx asc ../../plugins-src/correlation-id/assembly/index.ts -b ../../plugins-src/correlation-id/correlation-id.wasm --use abort=abort_proc_exit --runtime half -O --noAssert

export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, LogLevelValues, log,
} from "@solo-io/proxy-runtime";
import { get_buffer_bytes, get_header_map_value, BufferTypeValues, HeaderMapTypeValues, WasmResultValues } from "@solo-io/proxy-runtime/runtime";
import * as imports from "@solo-io/proxy-runtime/imports";
import { JSONReader, Kind, kindName } from "../../../sdk/assemblyscript/lib/json";

// WASI's random_get: cryptographic randomness from the host.
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u16;

const GEN_UUID: i32 = 0;
const GEN_COUNTER: i32 = 1;
const GEN_TRACKER: i32 = 2;

class Config {
  header: string = "Kong-Request-ID";
  generator: i32 = GEN_COUNTER;
  echo: bool = false;
}

function bytesToString(b: Uint8Array): string {
  return String.UTF8.decode(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** True for an RFC 9110 token (a valid header name). */
function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x21 || c == 0x23 || c == 0x24 || c == 0x25 || c == 0x26 || c == 0x27 || c == 0x2a ||
      c == 0x2b || c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
    if (!ok) return false;
  }
  return true;
}

/**
 * Decodes Kong's correlation-id schema into cfg (which holds the
 * defaults). Member names are exact, as in Kong; an unknown member is an
 * error. Returns "" on success, else the error naming the field.
 */
function decodeConfig(data: Uint8Array, cfg: Config): string {
  if (data.length == 0) return "";
  const r = new JSONReader(data);
  const k = r.kind();
  if (k == Kind.Null) {
    r.readNull();
    return r.end() ? "" : r.err;
  }
  if (k != Kind.Object) {
    if (k == Kind.Invalid) { r.skipValue(0); return "config: " + r.err; }
    return "config: must be a JSON object, got " + kindName(k);
  }
  r.open();
  let first = true;
  while (true) {
    const m = r.more(first, 0x7d);
    first = false;
    if (m < 0) return "config: " + r.err;
    if (m == 0) break;
    const keyBytes = r.member();
    if (keyBytes === null) return "config: " + r.err;
    const key = bytesToString(keyBytes);
    const vk = r.kind();
    if (vk == Kind.Null) {
      if (!r.readNull()) return "config: " + r.err;
      continue; // null keeps the default, as Kong fills defaults
    }
    if (key == "header_name") {
      if (vk != Kind.String) return "config.header_name: expected a string, got " + kindName(vk);
      const v = r.readString();
      if (v === null) return "config: " + r.err;
      const s = bytesToString(v);
      if (!isToken(s)) return "config.header_name: \"" + s + "\" is not a valid header name";
      cfg.header = s;
    } else if (key == "generator") {
      if (vk != Kind.String) return "config.generator: expected a string, got " + kindName(vk);
      const v = r.readString();
      if (v === null) return "config: " + r.err;
      const s = bytesToString(v);
      if (s == "uuid") cfg.generator = GEN_UUID;
      else if (s == "uuid#counter") cfg.generator = GEN_COUNTER;
      else if (s == "tracker") cfg.generator = GEN_TRACKER;
      else return "config.generator: expected one of: uuid, uuid#counter, tracker";
    } else if (key == "echo_downstream") {
      if (vk != Kind.Bool) return "config.echo_downstream: expected a boolean, got " + kindName(vk);
      const b = r.readBool();
      if (b < 0) return "config: " + r.err;
      cfg.echo = b == 1;
    } else {
      return "config." + key + ": unknown field";
    }
  }
  if (!r.end()) return "config: " + r.err;
  return "";
}

const HEX = "0123456789abcdef";

/** A random version 4 UUID from WASI random_get. */
function uuid4(): string {
  const b = new Uint8Array(16);
  random_get(changetype<usize>(b.buffer) + b.byteOffset, 16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += "-";
    s += HEX.charAt(b[i] >> 4) + HEX.charAt(b[i] & 15);
  }
  return s;
}

function leU64(b: ArrayBuffer): u64 {
  if (b.byteLength != 8) return 0;
  return load<u64>(changetype<usize>(b));
}

/** Reads a property through the raw import ("" when absent). */
function property(path: string): ArrayBuffer {
  // proxy-runtime joins nothing: segments are NUL-separated.
  const p = String.UTF8.encode(path.replaceAll(".", "\0"));
  const ptrRef = new Uint32Array(2);
  const st = imports.proxy_get_property(changetype<usize>(p), p.byteLength,
    changetype<usize>(ptrRef.buffer), changetype<usize>(ptrRef.buffer) + 4);
  if (st != WasmResultValues.Ok || ptrRef[1] == 0) return new ArrayBuffer(0);
  const out = new ArrayBuffer(ptrRef[1]);
  memory.copy(changetype<usize>(out), <usize>ptrRef[0], <usize>ptrRef[1]);
  return out;
}

class CorrelationRoot extends RootContext {
  cfg: Config = new Config();
  // uuid#counter: one UUID per instance (Kong: per worker) and a counter.
  instanceID: string = "";
  counter: u64 = 0;

  constructor(context_id: u32) {
    super(context_id);
  }

  onConfigure(configuration_size: u32): bool {
    const data = Uint8Array.wrap(get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configuration_size));
    const cfg = new Config();
    const err = decodeConfig(data, cfg);
    if (err.length > 0) {
      log(LogLevelValues.error, "correlation-id: invalid configuration: " + err);
      return false; // the running configuration stays
    }
    this.cfg = cfg;
    if (this.instanceID.length == 0) this.instanceID = uuid4();
    return true;
  }

  generate(): string {
    const g = this.cfg.generator;
    if (g == GEN_UUID) return uuid4();
    this.counter++;
    if (g == GEN_COUNTER) return this.instanceID + "#" + this.counter.toString();
    // tracker
    const addr = String.UTF8.decode(property("destination.address"));
    let host = addr;
    const colon = addr.lastIndexOf(":");
    if (colon > 0) host = addr.substring(0, colon);
    const port = leU64(property("destination.port"));
    const conn = leU64(property("connection.id"));
    let nanos: u64 = 0;
    const ref = new Uint64Array(1);
    imports.proxy_get_current_time_nanoseconds(changetype<usize>(ref.buffer));
    nanos = ref[0];
    const ms = nanos / 1000000;
    let frac = (ms % 1000).toString();
    while (frac.length < 3) frac = "0" + frac;
    return host + "-" + port.toString() + "-" + this.instanceID.substring(0, 8) + "-" + conn.toString() + "-" +
      this.counter.toString() + "-" + (ms / 1000).toString() + "." + frac;
  }

  createContext(context_id: u32): Context {
    return new CorrelationStream(context_id, this);
  }
}

/** Sets a header through the raw import: the SDK helper aborts on failure. */
function replaceHeader(map: HeaderMapTypeValues, name: string, value: string): void {
  const key = String.UTF8.encode(name);
  const v = String.UTF8.encode(value);
  const st = imports.proxy_replace_header_map_value(map, changetype<usize>(key), key.byteLength,
    changetype<usize>(v), v.byteLength);
  if (st != WasmResultValues.Ok) {
    log(LogLevelValues.error, "correlation-id: set " + name + ": status " + st.toString());
  }
}

class CorrelationStream extends Context {
  root: CorrelationRoot;
  cfg: Config;
  id: string = "";

  constructor(context_id: u32, root_context: CorrelationRoot) {
    super(context_id, root_context);
    this.root = root_context;
    this.cfg = root_context.cfg;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const name = String.UTF8.encode(this.cfg.header);
    const got = get_header_map_value(HeaderMapTypeValues.RequestHeaders, name);
    if (got.byteLength > 0) {
      this.id = String.UTF8.decode(got);
    } else {
      this.id = this.root.generate();
      replaceHeader(HeaderMapTypeValues.RequestHeaders, this.cfg.header, this.id);
    }
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    if (this.cfg.echo && this.id.length > 0) {
      replaceHeader(HeaderMapTypeValues.ResponseHeaders, this.cfg.header, this.id);
    }
    return FilterHeadersStatusValues.Continue;
  }

  // The SDK's defaults only build and log debug lines; skip them.
  onDone(): bool {
    return true;
  }

  onLog(): void {}

  onDelete(): void {}
}

registerRootContext((context_id: u32): RootContext => new CorrelationRoot(context_id), "");
registerRootContext((context_id: u32): RootContext => new CorrelationRoot(context_id), "correlation-id");
