// Package assemblyscript holds Weir's AssemblyScript proxy-wasm examples,
// built with the published npm package @solo-io/proxy-runtime 0.1.8 and
// AssemblyScript 0.17.14 (pinned in package.json and package-lock.json),
// and the Go tests that check them.
//
// The package has no Go API. The examples (examples/headers and
// examples/auth) are written in AssemblyScript and behave exactly like the
// Go SDK examples in sdk/go/examples; their built modules are committed
// next to their sources. The tests read those modules without node: they
// check the ABI marker, that every "env" import is a Weir host function
// with its exact signature (and that env.abort is not imported), the
// exported callbacks' signatures and the start section. When npx and the
// npm packages are installed (npm ci in this directory), a second test
// rebuilds the modules and compares them byte for byte. See README.md.
package assemblyscript
