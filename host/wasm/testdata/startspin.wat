;; A module whose start function never returns. Build:
;;   wat2wasm --debug-names startspin.wat -o startspin.wasm
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) (i32.const 0))
  (func $spin (loop $l (br $l)))
  (start $spin))
