;; An indirect call whose table index is loaded from memory that the callee
;; changes before it yields: rewinding must call the same function again.
(module
  (type $t (func (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $first $second)
  (memory 1)
  (func $first (type $t)
    (i32.store (i32.const 0) (i32.const 1))
    (loop)
    (i32.const 10))
  (func $second (type $t) (i32.const 20))
  (func (export "run") (param i32) (result i32)
    (i32.store (i32.const 0) (i32.const 0))
    (call_indirect (type $t) (i32.load (i32.const 0))))
)
