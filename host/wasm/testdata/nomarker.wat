;; A module without a proxy_abi_version_* export. Build:
;;   wat2wasm --debug-names nomarker.wat -o nomarker.wasm
(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 0)))
