;; proxy_on_vm_start traps (unreachable). Build:
;;   wat2wasm --debug-names startloop.wat -o startloop.wasm
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "malloc") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) unreachable))
