;; Wakes up every 50 ms, forever: memory word 0 counts the wake-ups. The
;; sleep is a WASI clock subscription, which parks the script.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; One subscription at 64: userdata 0, tag 0 (clock), clock 1
    ;; (monotonic), a relative timeout of 50 ms. Events go to 128.
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 50000000))
    (loop $forever
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 8)))
      (br $forever))))
