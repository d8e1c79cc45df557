// A tiny JSON reader for plugin configuration, for AssemblyScript 0.17.
//
// No JSON library for AssemblyScript supports 0.17 (the newest compiler
// @solo-io/proxy-runtime 0.1.8 builds with), so the examples decode their
// configuration with this reader. It follows Go's encoding/json (v1), which
// the Go SDK examples use, so the same configuration is accepted or
// rejected by every build of an example:
//
//   - the whole input must be one valid JSON value (RFC 8259) surrounded by
//     optional whitespace; nesting deeper than 10000 is an error;
//   - strings are returned as UTF-8 bytes: escapes are decoded, an unpaired
//     \uD800-\uDFFF surrogate and every byte of invalid UTF-8 become U+FFFD;
//   - object keys match field names case-insensitively (Unicode simple
//     folding: see keyEquals).
//
// AssemblyScript 0.17 has no exceptions that can be caught: every method
// reports failure by its result, and the first error message is kept in
// JSONReader.err.

/** Maximum nesting of arrays and objects, as Go's encoding/json. */
export const MAX_DEPTH: i32 = 10000;

/** A growable byte buffer. */
class Bytes {
  buf: Uint8Array = new Uint8Array(16);
  len: i32 = 0;

  push(b: u8): void {
    if (this.len == this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      for (let i = 0; i < this.len; i++) next[i] = this.buf[i];
      this.buf = next;
    }
    this.buf[this.len++] = b;
  }

  /** Appends r (at most 0x10FFFF, not a surrogate) as UTF-8. */
  pushRune(r: u32): void {
    if (r < 0x80) {
      this.push(<u8>r);
    } else if (r < 0x800) {
      this.push(<u8>(0xc0 | (r >> 6)));
      this.push(<u8>(0x80 | (r & 0x3f)));
    } else if (r < 0x10000) {
      this.push(<u8>(0xe0 | (r >> 12)));
      this.push(<u8>(0x80 | ((r >> 6) & 0x3f)));
      this.push(<u8>(0x80 | (r & 0x3f)));
    } else {
      this.push(<u8>(0xf0 | (r >> 18)));
      this.push(<u8>(0x80 | ((r >> 12) & 0x3f)));
      this.push(<u8>(0x80 | ((r >> 6) & 0x3f)));
      this.push(<u8>(0x80 | (r & 0x3f)));
    }
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** U+FFFD, the replacement character. */
const REPLACEMENT: u32 = 0xfffd;

/**
 * Returns the length of the valid UTF-8 sequence at s[i], or 0 if it is
 * invalid (overlong, a surrogate, above U+10FFFF or truncated), exactly as
 * Go's utf8.DecodeRune accepts or rejects it.
 */
function utf8Len(s: Uint8Array, i: i32): i32 {
  const c = s[i];
  if (c < 0x80) return 1;
  let n = 0;
  let lo: u8 = 0x80;
  let hi: u8 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.length) return 0;
  const c1 = s[i + 1];
  if (c1 < lo || c1 > hi) return 0;
  for (let k = 2; k < n; k++) {
    const ck = s[i + k];
    if (ck < 0x80 || ck > 0xbf) return 0;
  }
  return n;
}

function hexVal(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10; // a-f
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10; // A-F
  return -1;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Reports whether the decoded object key equals the lower-case ASCII field
 * name as Go's encoding/json matches them: exactly, else under Unicode
 * simple case folding. The only non-ASCII runes that fold to an ASCII
 * letter are U+212A KELVIN SIGN (k) and U+017F LATIN SMALL LETTER LONG S
 * (s), so those two are the only multi-byte sequences accepted.
 */
export function keyEquals(key: Uint8Array, name: string): bool {
  let i = 0;
  for (let j = 0; j < name.length; j++) {
    const n = <u8>name.charCodeAt(j);
    if (i >= key.length) return false;
    const c = key[i];
    if (c == n || (n >= 0x61 && n <= 0x7a && c == n - 0x20)) {
      i++;
    } else if (n == 0x6b && i + 2 < key.length && c == 0xe2 && key[i + 1] == 0x84 && key[i + 2] == 0xaa) {
      i += 3; // U+212A KELVIN SIGN folds to k
    } else if (n == 0x73 && i + 1 < key.length && c == 0xc5 && key[i + 1] == 0xbf) {
      i += 2; // U+017F LONG S folds to s
    } else {
      return false;
    }
  }
  return i == key.length;
}

/** Kinds of JSON value, from the first byte (JSONReader.kind). */
export enum Kind {
  Invalid = 0,
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

/** Names of the kinds, for error messages. */
export function kindName(k: Kind): string {
  switch (k) {
    case Kind.Null: return "null";
    case Kind.Bool: return "bool";
    case Kind.Number: return "number";
    case Kind.String: return "string";
    case Kind.Array: return "array";
    case Kind.Object: return "object";
  }
  return "invalid value";
}

/**
 * JSONReader walks one JSON document. Callers use kind() to look at the
 * next value, then readString, readNull, skipValue, or the array/object
 * helpers, and finally end() to reject trailing data.
 */
export class JSONReader {
  s: Uint8Array;
  pos: i32 = 0;
  /** First error, or "" when none. */
  err: string = "";

  constructor(data: Uint8Array) {
    this.s = data;
  }

  /** Records msg (with the offset) as the error, keeping the first, and returns false. */
  fail(msg: string): bool {
    if (this.err.length == 0) {
      this.err = msg + " at offset " + this.pos.toString();
    }
    return false;
  }

  private ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  private peek(): i32 {
    return this.pos < this.s.length ? <i32>this.s[this.pos] : -1;
  }

  /** Skips whitespace and returns the kind of the next value. */
  kind(): Kind {
    this.ws();
    const c = this.peek();
    if (c == 0x22) return Kind.String;
    if (c == 0x7b) return Kind.Object;
    if (c == 0x5b) return Kind.Array;
    if (c == 0x6e) return Kind.Null;
    if (c == 0x74 || c == 0x66) return Kind.Bool;
    if (c == 0x2d || isDigit(c)) return Kind.Number;
    return Kind.Invalid;
  }

  /** Checks that only whitespace follows the top-level value. */
  end(): bool {
    this.ws();
    if (this.pos != this.s.length) return this.fail("invalid character after top-level value");
    return true;
  }

  private literal(word: string): bool {
    const s = this.s;
    for (let i = 0; i < word.length; i++) {
      if (this.pos >= s.length) return this.fail("unexpected end of JSON input");
      if (<i32>s[this.pos] != word.charCodeAt(i)) return this.fail("invalid character in literal " + word);
      this.pos++;
    }
    return true;
  }

  /**
   * Reads a true or false literal: 1 for true, 0 for false, -1 (with err
   * set) if the next value is not a boolean.
   */
  readBool(): i32 {
    this.ws();
    const c = this.peek();
    if (c == 0x74) return this.literal("true") ? 1 : -1;
    if (c == 0x66) return this.literal("false") ? 0 : -1;
    this.fail("invalid character looking for a boolean");
    return -1;
  }

  /** Consumes a null literal. */
  readNull(): bool {
    this.ws();
    return this.literal("null");
  }

  private number(): bool {
    if (this.peek() == 0x2d) this.pos++;
    let c = this.peek();
    if (c == 0x30) {
      this.pos++;
    } else if (c >= 0x31 && c <= 0x39) {
      while (isDigit(this.peek())) this.pos++;
    } else {
      return this.fail(c < 0 ? "unexpected end of JSON input" : "invalid character in numeric literal");
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!isDigit(this.peek())) return this.fail("invalid character after decimal point in numeric literal");
      while (isDigit(this.peek())) this.pos++;
    }
    c = this.peek();
    if (c == 0x65 || c == 0x45) {
      this.pos++;
      c = this.peek();
      if (c == 0x2b || c == 0x2d) this.pos++;
      if (!isDigit(this.peek())) return this.fail("invalid character in exponent of numeric literal");
      while (isDigit(this.peek())) this.pos++;
    }
    return true;
  }

  private hex4(at: i32): i32 {
    const s = this.s;
    if (at + 4 > s.length) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const h = hexVal(s[at + i]);
      if (h < 0) return -1;
      v = (v << 4) | h;
    }
    return v;
  }

  /**
   * Reads a string value and returns its UTF-8 bytes, or null (with err
   * set) if it is not a valid JSON string.
   */
  readString(): Uint8Array | null {
    this.ws();
    const s = this.s;
    if (this.peek() != 0x22) {
      this.fail("expected string");
      return null;
    }
    this.pos++;
    const out = new Bytes();
    while (true) {
      if (this.pos >= s.length) {
        this.fail("unexpected end of JSON input");
        return null;
      }
      const c = s[this.pos];
      if (c == 0x22) {
        this.pos++;
        return out.bytes();
      }
      if (c < 0x20) {
        this.fail("invalid character in string literal");
        return null;
      }
      if (c == 0x5c) {
        if (this.pos + 1 >= s.length) {
          this.fail("unexpected end of JSON input");
          return null;
        }
        const e = s[this.pos + 1];
        this.pos += 2;
        if (e == 0x22 || e == 0x5c || e == 0x2f) out.push(e);
        else if (e == 0x62) out.push(0x08);
        else if (e == 0x66) out.push(0x0c);
        else if (e == 0x6e) out.push(0x0a);
        else if (e == 0x72) out.push(0x0d);
        else if (e == 0x74) out.push(0x09);
        else if (e == 0x75) {
          let r = this.hex4(this.pos);
          if (r < 0) {
            this.fail("invalid character in \\u hexadecimal character escape");
            return null;
          }
          this.pos += 4;
          if (r >= 0xd800 && r < 0xe000) {
            // A pair needs a high then a low surrogate; anything else is
            // replaced, and a following escape is decoded on its own.
            let pair = -1;
            if (r < 0xdc00 && this.pos + 1 < s.length && s[this.pos] == 0x5c && s[this.pos + 1] == 0x75) {
              const r2 = this.hex4(this.pos + 2);
              if (r2 >= 0xdc00 && r2 < 0xe000) pair = 0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00);
            }
            if (pair >= 0) {
              this.pos += 6;
              r = pair;
            } else {
              r = REPLACEMENT;
            }
          }
          out.pushRune(<u32>r);
        } else {
          this.fail("invalid character in string escape code");
          return null;
        }
        continue;
      }
      if (c < 0x80) {
        out.push(c);
        this.pos++;
        continue;
      }
      const n = utf8Len(s, this.pos);
      if (n == 0) {
        out.pushRune(REPLACEMENT);
        this.pos++;
      } else {
        for (let k = 0; k < n; k++) out.push(s[this.pos + k]);
        this.pos += n;
      }
    }
    return null; // unreachable
  }

  /**
   * Starts an array or object (the caller checked kind()): consumes the
   * opening bracket. Use more() to iterate.
   */
  open(): void {
    this.ws();
    this.pos++;
  }

  /**
   * Advances to the next element of the array or member of the object
   * opened with open(): returns 1 if one follows (for an object the key is
   * next: use member()), 0 at the closing bracket (consumed), -1 on a
   * syntax error. first is true for the first call after open().
   */
  more(first: bool, close: u8): i32 {
    this.ws();
    const c = this.peek();
    if (c == <i32>close) {
      this.pos++;
      return 0;
    }
    if (!first) {
      if (c != 0x2c) {
        this.fail(c < 0 ? "unexpected end of JSON input" : "invalid character after element");
        return -1;
      }
      this.pos++;
      this.ws();
      if (this.peek() == <i32>close) {
        this.fail("invalid character '" + String.fromCharCode(close) + "' looking for beginning of value");
        return -1;
      }
    }
    if (this.pos >= this.s.length) {
      this.fail("unexpected end of JSON input");
      return -1;
    }
    return 1;
  }

  /** Reads an object key and the colon after it; null on error. */
  member(): Uint8Array | null {
    if (this.kind() != Kind.String) {
      this.fail("invalid character looking for beginning of object key string");
      return null;
    }
    const key = this.readString();
    if (key === null) return null;
    this.ws();
    if (this.peek() != 0x3a) {
      this.fail(this.pos >= this.s.length ? "unexpected end of JSON input" : "invalid character after object key");
      return null;
    }
    this.pos++;
    return key;
  }

  /**
   * Validates and skips one value of any kind. depth is the nesting of the
   * value's container (0 at top level). Iterative, so deep input cannot
   * exhaust the wasm stack.
   */
  skipValue(depth: i32): bool {
    // stack[i] is the closing byte of each open container.
    const stack = new Array<u8>();
    while (true) {
      // Expect a value.
      const k = this.kind();
      if (k == Kind.Array || k == Kind.Object) {
        if (depth + stack.length + 1 > MAX_DEPTH) return this.fail("exceeded max depth");
        this.open();
        const close: u8 = k == Kind.Array ? 0x5d : 0x7d;
        stack.push(close);
        const m = this.more(true, close);
        if (m < 0) return false;
        if (m == 0) {
          stack.pop(); // empty: continue after the value
        } else {
          if (close == 0x7d && this.member() === null) return false;
          continue;
        }
      } else if (k == Kind.String) {
        if (this.readString() === null) return false;
      } else if (k == Kind.Number) {
        if (!this.number()) return false;
      } else if (k == Kind.Null) {
        if (!this.literal("null")) return false;
      } else if (k == Kind.Bool) {
        if (!this.literal(this.peek() == 0x74 ? "true" : "false")) return false;
      } else {
        return this.fail(this.pos >= this.s.length ? "unexpected end of JSON input" : "invalid character looking for beginning of value");
      }
      // After a value: close containers or move to the next element.
      while (stack.length > 0) {
        const close = stack[stack.length - 1];
        const m = this.more(false, close);
        if (m < 0) return false;
        if (m == 0) {
          stack.pop();
          continue;
        }
        if (close == 0x7d && this.member() === null) return false;
        break;
      }
      if (stack.length == 0) return true;
    }
    return false; // unreachable
  }
}
