(module
  (type (;0;) (func (param i32) (result i32)))
  (type (;1;) (func (result i32 i64)))
  (type (;2;) (func (param i32 i32 i32) (result i32)))
  (type (;3;) (func (param i32 i64 i32 i32)))
  (type (;4;) (func (param i32)))
  (table (;0;) 2 2 funcref)
  (memory (;0;) 1 65536)
  (global (;0;) (mut i32) i32.const 0)
  (global (;1;) (mut i32) i32.const 16)
  (export "nested" (func 2))
  (export "leaf" (func 3))
  (export "__weft_state_memory" (memory 0))
  (export "__weft_state" (global 0))
  (export "__weft_sp" (global 1))
  (export "__weft_functions" (table 0))
  (elem (;0;) (table 0) (i32.const 0) func 2 3)
  (func $g (;0;) (type 0) (param i32) (result i32)
    local.get 0
  )
  (func $h (;1;) (type 0) (param i32) (result i32)
    (local i64 i32 i32)
    global.get 0
    if ;; label = @1
      i32.const 1
      i32.const 32
      i32.const 1
      call 4
      local.set 2
      global.get 1
      local.set 3
      local.get 3
      i32.load
      local.set 0
    end
    block (type 1) (result i32 i64) ;; label = @1
      block (type 1) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          i32.const 0
          i32.load
          if ;; label = @4
            i32.const 1
            global.set 0
            i32.const 0
            i64.const 0
            br 2 (;@2;)
          end
          local.get 0
          call $g
        end
        return
      end
      global.get 1
      local.get 0
      i32.store
    end
    global.get 1
    local.set 3
    i32.const 1
    i32.const 32
    call 5
    i32.const 0
  )
  (func (;2;) (type 0) (param $n i32) (result i32)
    (local $i i32) (local $acc i32) (local i64 i32 i32 i32)
    global.get 0
    if ;; label = @1
      i32.const 2
      i32.const 32
      i32.const 4
      call 4
      local.set 4
      global.get 1
      local.set 5
      local.get 5
      i32.load
      local.set $n
      local.get 5
      i32.load offset=4
      local.set $i
      local.get 5
      i32.load offset=8
      local.set $acc
      local.get 5
      i32.load offset=12
      local.set 6
    end
    block (type 1) (result i32 i64) ;; label = @1
      block (type 1) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          block ;; label = @4
            local.get 4
            if ;; label = @5
              local.get 4
              i32.const 1
              i32.sub
              br_table 0 (;@5;) 1 (;@4;) 1 (;@4;) 1 (;@4;) 0 (;@5;)
            end
            i32.const 0
            local.set 4
            i32.const 0
            i32.load
            if ;; label = @5
              i32.const 0
              local.tee $i
              local.set 6
              i32.const 1
              global.set 0
              i32.const 0
              i64.const 0
              br 3 (;@2;)
            end
          end
          block (result i32) ;; label = @4
            block ;; label = @5
              local.get 4
              if ;; label = @6
                global.get 1
                i32.load offset=8
                local.set $acc
                global.get 1
                i32.load offset=12
                local.set 6
                local.get 4
                i32.const 2
                i32.sub
                br_table 0 (;@6;) 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              loop ;; label = @6
                block ;; label = @7
                  local.get 4
                  if ;; label = @8
                    global.get 1
                    i32.load offset=4
                    local.set $i
                    local.get 4
                    i32.const 2
                    i32.sub
                    br_table 0 (;@8;) 1 (;@7;) 0 (;@8;)
                  end
                  i32.const 0
                  local.set 4
                  i32.const 0
                  i32.load
                  if ;; label = @8
                    global.get 1
                    local.get $n
                    i32.store
                    global.get 1
                    local.get $acc
                    i32.store offset=8
                    i32.const 1
                    global.set 0
                    i32.const 1
                    i64.const 0
                    br 7 (;@1;)
                  end
                  i32.const 0
                  local.set $i
                end
                loop ;; label = @7
                  i32.const 0
                  local.set 4
                  i32.const 0
                  i32.load
                  if ;; label = @8
                    global.get 1
                    local.get $n
                    i32.store
                    global.get 1
                    local.get $i
                    i32.store offset=4
                    global.get 1
                    local.get $acc
                    i32.store offset=8
                    i32.const 1
                    global.set 0
                    i32.const 2
                    i64.const 0
                    br 7 (;@1;)
                  end
                  local.get $acc
                  local.get $i
                  i32.add
                  local.set $acc
                  local.get $i
                  i32.const 1
                  i32.add
                  local.tee $i
                  i32.const 3
                  i32.lt_u
                  br_if 0 (;@7;)
                end
                local.get $n
                i32.const 1
                i32.sub
                local.tee $n
                br_if 0 (;@6;)
              end
              i32.const 100
              local.set 6
            end
            local.get 6
            local.get $acc
            i32.const 0
            local.set 4
            call $h
            global.get 0
            if ;; label = @5
              i32.const 0
              local.tee $n
              local.set $i
              i32.const 3
              i64.const 0
              br 3 (;@2;)
            end
            i32.add
          end
        end
        return
      end
      global.get 1
      local.get $n
      i32.store
      global.get 1
      local.get $i
      i32.store offset=4
      global.get 1
      local.get $acc
      i32.store offset=8
      global.get 1
      local.get 6
      i32.store offset=12
    end
    global.get 1
    local.set 5
    i32.const 2
    i32.const 32
    call 5
    i32.const 0
  )
  (func (;3;) (type 0) (param i32) (result i32)
    local.get 0
    local.get 0
    i32.mul
  )
  (func (;4;) (type 2) (param i32 i32 i32) (result i32)
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
    i32.load
    local.get 0
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 3
    i32.load offset=12
    local.get 1
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 3
    i32.load offset=4
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
  (func (;5;) (type 3) (param i32 i64 i32 i32)
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
    i32.store
    local.get 4
    local.get 0
    i32.store offset=4
    local.get 4
    local.get 1
    i32.wrap_i64
    i32.store offset=8
    local.get 4
    local.get 3
    i32.store offset=12
    i32.const 16384
    call 6
  )
  (func (;6;) (type 4) (param i32)
    global.get 1
    i64.extend_i32_u
    local.get 0
    i64.extend_i32_u
    i64.add
    i64.const 65535
    i64.add
    i64.const 16
    i64.shr_u
    memory.size
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
      memory.size
      i64.extend_i32_u
      i64.sub
      i32.wrap_i64
      memory.grow
      i32.const -1
      i32.eq
      if ;; label = @2
        unreachable
      end
    end
  )
)
