// Package csdk holds the tests of Weir's C SDK for proxy-wasm plugins; the
// SDK itself is C: include/proxy_wasm.h and src/proxy_wasm.c, with example
// plugins in examples/ (see README.md).
//
// The tests check the committed example modules without a compiler (ABI
// 0.2.1 marker, every export and env import against abi.Callbacks and
// abi.HostFunctions, no WASI imports), keep the header's declarations and
// constants in step with package abi, and, when the tools are installed,
// rebuild every module with clang to prove the committed bytes are
// reproducible and run the SDK's native unit tests (including a
// differential test of its JSON reader against encoding/json).
package csdk
