(module
  (type $t (;0;) (func (result i32)))
  (type (;1;) (func (param i32) (result i32)))
  (type (;2;) (func (result i32 i64)))
  (type (;3;) (func (param i32 i32 i32) (result i32)))
  (type (;4;) (func (param i32 i64 i32 i32)))
  (type (;5;) (func (param i32)))
  (table (;0;) 2 funcref)
  (table (;1;) 3 3 funcref)
  (memory (;0;) 1)
  (memory (;1;) 1 65536)
  (global (;0;) (mut i32) i32.const 0)
  (global (;1;) (mut i32) i32.const 16)
  (export "run" (func 2))
  (export "__weft_memory_0" (memory 0))
  (export "__weft_table_0" (table 0))
  (export "__weft_state_memory" (memory 1))
  (export "__weft_state" (global 0))
  (export "__weft_sp" (global 1))
  (export "__weft_functions" (table 1))
  (elem (;0;) (i32.const 0) func $first $second)
  (elem (;1;) (table 1) (i32.const 0) func $first $second 2)
  (func $first (;0;) (type $t) (result i32)
    (local i64 i32 i32)
    global.get 0
    if ;; label = @1
      i32.const 0
      i32.const 16
      i32.const 1
      call 3
      local.set 1
      global.get 1
      local.set 2
    end
    block (type 2) (result i32 i64) ;; label = @1
      block (type 2) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 1
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 1
              if ;; label = @6
                local.get 1
                i32.const 1
                i32.sub
                br_table 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              i32.const 1
              i32.store
            end
            loop ;; label = @5
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 0
                i32.const 0
                i64.const 0
                br 5 (;@1;)
              end
            end
            i32.const 10
          else
            block ;; label = @5
              i32.const 0
              i32.const 1
              i32.store
            end
            loop ;; label = @5
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 0
                i32.const 0
                i64.const 0
                br 5 (;@1;)
              end
            end
            i32.const 10
          end
        end
        return
      end
    end
    global.get 1
    local.set 2
    i32.const 0
    i32.const 16
    call 4
    i32.const 0
  )
  (func $second (;1;) (type $t) (result i32)
    i32.const 20
  )
  (func (;2;) (type 1) (param i32) (result i32)
    (local i64 i32 i32 i32)
    global.get 0
    if ;; label = @1
      i32.const 2
      i32.const 32
      i32.const 2
      call 3
      local.set 2
      global.get 1
      local.set 3
      local.get 3
      i32.load 1
      local.set 0
      local.get 3
      i32.load 1 offset=4
      local.set 4
    end
    block (type 2) (result i32 i64) ;; label = @1
      block (type 2) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 2
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 2
              if ;; label = @6
                global.get 1
                i32.load 1 offset=4
                local.set 4
                local.get 2
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 0
                local.set 4
                i32.const 1
                global.set 0
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 0
              i32.const 0
              i32.store
              i32.const 0
              i32.load
              local.set 4
            end
            local.get 4
            i32.const 0
            local.set 2
            call_indirect (type $t)
            global.get 0
            if ;; label = @5
              i32.const 0
              local.set 0
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 0
                local.set 4
                i32.const 1
                global.set 0
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 0
              i32.const 0
              i32.store
              i32.const 0
              i32.load
              local.set 4
            end
            local.get 4
            i32.const 0
            local.set 2
            call_indirect (type $t)
            global.get 0
            if ;; label = @5
              i32.const 0
              local.set 0
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
          end
        end
        return
      end
      global.get 1
      local.get 0
      i32.store 1
      global.get 1
      local.get 4
      i32.store 1 offset=4
    end
    global.get 1
    local.set 3
    i32.const 2
    i32.const 32
    call 4
    i32.const 0
  )
  (func (;3;) (type 3) (param i32 i32 i32) (result i32)
    (local i32 i32)
    global.get 1
    local.get 1
    i32.const 16
    i32.add
    i32.lt_u
    if ;; label = @1
      unreachable
    end
    global.get 1
    i32.const 16
    i32.sub
    local.tee 3
    i32.load 1
    local.get 0
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 3
    i32.load 1 offset=12
    local.get 1
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 3
    i32.load 1 offset=4
    local.tee 4
    local.get 2
    i32.ge_u
    if ;; label = @1
      unreachable
    end
    global.get 1
    local.get 1
    i32.sub
    global.set 1
    global.get 1
    i32.const 16
    i32.eq
    if ;; label = @1
      i32.const 0
      global.set 0
    end
    local.get 4
    i32.const 1
    i32.add
  )
  (func (;4;) (type 4) (param i32 i64 i32 i32)
    (local i32)
    global.get 1
    local.get 3
    i32.add
    local.tee 4
    global.set 1
    local.get 4
    i32.const 16
    i32.sub
    local.tee 4
    local.get 2
    i32.store 1
    local.get 4
    local.get 0
    i32.store 1 offset=4
    local.get 4
    local.get 1
    i32.wrap_i64
    i32.store 1 offset=8
    local.get 4
    local.get 3
    i32.store 1 offset=12
    i32.const 16384
    call 5
  )
  (func (;5;) (type 5) (param i32)
    global.get 1
    i64.extend_i32_u
    local.get 0
    i64.extend_i32_u
    i64.add
    i64.const 65535
    i64.add
    i64.const 16
    i64.shr_u
    memory.size 1
    i64.extend_i32_u
    i64.gt_u
    if ;; label = @1
      global.get 1
      i64.extend_i32_u
      local.get 0
      i64.extend_i32_u
      i64.add
      i64.const 65535
      i64.add
      i64.const 16
      i64.shr_u
      memory.size 1
      i64.extend_i32_u
      i64.sub
      i32.wrap_i64
      memory.grow 1
      i32.const -1
      i32.eq
      if ;; label = @2
        unreachable
      end
    end
  )
)
