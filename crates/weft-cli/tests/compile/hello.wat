;; weft.log, imported by hand.
(module
  (import "weft" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from WebAssembly text")
  (func (export "_start")
    (call $log (i32.const 16) (i32.const 27))))
