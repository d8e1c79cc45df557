// Package proxytest is an in-process proxy-wasm host emulator for unit
// testing plugins written with package proxywasm, natively, with go test:
//
//	func TestPlugin(t *testing.T) {
//		host, err := proxytest.NewHostEmulator(proxytest.Options{
//			PluginConfig: []byte(`{"value":"x"}`),
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(host.Close)
//		id := host.InitializeHttpContext()
//		action := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, false)
//		...
//	}
//
// The emulator installs itself as the SDK's host (a native build's SDK has
// no wasm imports), creates the plugin's root context with the VMContext the
// plugin registered in init (or Options.VMContext), and plays the host's
// side of every callback: headers, bodies and trailers per stream, local
// responses, HTTP callouts, timers, shared data and queues, metrics,
// properties, foreign functions and logs. It follows Envoy where hosts
// differ: header names compare case-insensitively, a header lookup returns
// the first value, an empty result is (nil, OK).
//
// The emulator exists only in native builds (not GOOS=wasip1): plugin
// tests using it carry the build constraint !wasip1.
//
// The SDK keeps global state, so one emulator may be live at a time: tests
// using it must not run in parallel. Close uninstalls it.
package proxytest
