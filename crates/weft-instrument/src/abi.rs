//! The contract between an instrumented module and whoever drives it.
//!
//! Everything a host needs to pause, resume, snapshot and restore an
//! instrumented module is reachable through exports with reserved names
//! (all starting with [`RESERVED_PREFIX`]) and through a fixed layout of the
//! *state memory*, a linear memory the pass adds to every module.
//!
//! # Control globals
//!
//! | export | type | meaning |
//! |---|---|---|
//! | [`STATE_GLOBAL`] | mutable `i32` | [`STATE_NORMAL`], [`STATE_UNWINDING`] or [`STATE_REWINDING`] |
//! | [`FUEL_GLOBAL`] | mutable `i64` | remaining fuel (only when fuel is counted); starts at `i64::MAX` |
//! | [`SP_GLOBAL`] | mutable `i32` | top of the frame stack in the state memory ([`STACK_BASE`] when empty) |
//! | [`FUNCREF_SP_GLOBAL`], [`EXTERNREF_SP_GLOBAL`] | mutable `i32` | tops of the reference stacks |
//!
//! # Driving a module
//!
//! 1. Call an export as usual. With fuel, set [`FUEL_GLOBAL`] to the slice
//!    first; with the interrupt flag, another thread may set the word at
//!    [`FLAG_OFFSET`] of the state memory to a non-zero value at any time.
//! 2. When the call returns, read [`STATE_GLOBAL`]. [`STATE_NORMAL`]: the
//!    call finished and its results are valid. [`STATE_UNWINDING`]: the
//!    whole call stack was saved into the state memory ("unwound"); the
//!    results are meaningless zeros.
//! 3. To continue an unwound call: clear the flag, give fuel, set
//!    [`STATE_GLOBAL`] to [`STATE_REWINDING`] and call the *same* export again
//!    (its arguments are ignored: every frame restores its own locals). The
//!    frames are rebuilt, the innermost one switches the state back to
//!    [`STATE_NORMAL`], and execution continues where it stopped.
//! 4. A host function (an import) asks to suspend by setting
//!    [`STATE_GLOBAL`] to [`STATE_UNWINDING`] and returning. On rewind the
//!    same import is called again, in the normal state; the host answers it
//!    from its own record of the pending call.
//!
//! Between an unwind and the matching rewind, the complete execution state
//! of the instance is: its memories, mutable globals and tables (exported as
//! [`memory_export`], [`global_export`], [`table_export`]), the record of
//! dropped segments ([`dropped_export`]), the state memory up to
//! [`SP_GLOBAL`], the two reference stacks, and the control globals.
//! Copying these into a fresh instance of the same instrumented module and
//! rewinding there continues the computation exactly.
//!
//! # The state memory
//!
//! ```text
//! 0                 4            16 = STACK_BASE
//! | interrupt flag  | (reserved) | frames ... sp ->
//! ```
//!
//! # Dropped segments
//!
//! One bit per data segment and then per element segment, in `i64` globals
//! exported as [`dropped_export`], records whether the program dropped it
//! (`data.drop` / `elem.drop`); after restoring those globals into a fresh
//! instance, call [`RESTORE_SEGMENTS_EXPORT`] (if exported) to drop the
//! segments there too.
//!
//! # A frame
//!
//! Each unwound function pushes one frame. Saved locals come first (16-,
//! then 8-, then 4-byte values, each naturally aligned), reference-typed
//! locals go to the reference stacks, and the frame ends with a 16-byte
//! header:
//!
//! ```text
//! frame_start                              sp - 16       sp
//! | locals (frame_size - 16 bytes) ...     | function index u32 | resume point u32 | fuel boost u32 | frame size u32 |
//! ```
//!
//! The state memory always has [`FRAME_ROOM`] free bytes above `sp`.
//!
//! Frames are pushed innermost first, so the outermost frame is on top and
//! is the first one popped by the rewind. The *fuel boost* is the cost of the
//! fuel check at which the innermost frame yielded: it was charged before the
//! yield, so the rewind credits it back before the check runs again.

/// Every export name the pass adds starts with this prefix; input modules
/// may not use it.
pub const RESERVED_PREFIX: &str = "__weft_";

/// The control state global (`i32`).
pub const STATE_GLOBAL: &str = "__weft_state";
/// The remaining fuel (`i64`), present when fuel is counted.
pub const FUEL_GLOBAL: &str = "__weft_fuel";
/// The top of the frame stack in the state memory (`i32`).
pub const SP_GLOBAL: &str = "__weft_sp";
/// The top of the funcref stack (`i32`), present with [`FUNCREF_STACK_TABLE`].
pub const FUNCREF_SP_GLOBAL: &str = "__weft_funcref_sp";
/// The top of the externref stack (`i32`), present with [`EXTERNREF_STACK_TABLE`].
pub const EXTERNREF_SP_GLOBAL: &str = "__weft_externref_sp";
/// The state memory.
pub const STATE_MEMORY: &str = "__weft_state_memory";
/// The table holding funcref locals of unwound frames.
pub const FUNCREF_STACK_TABLE: &str = "__weft_funcref_stack";
/// The table holding externref locals of unwound frames.
pub const EXTERNREF_STACK_TABLE: &str = "__weft_externref_stack";
/// A table holding every function that can become a `funcref` value, in the
/// order of [`crate::ModuleInfo::referenceable_functions`]; a host uses it
/// to translate `funcref` values to function indices and back.
pub const FUNCTIONS_TABLE: &str = "__weft_functions";
/// The deferred `start` function, if the input had one.
pub const START_EXPORT: &str = "__weft_start";
/// Re-applies the recorded `data.drop` / `elem.drop` to a fresh instance.
pub const RESTORE_SEGMENTS_EXPORT: &str = "__weft_restore_segments";

/// [`STATE_GLOBAL`]: running normally.
pub const STATE_NORMAL: i32 = 0;
/// [`STATE_GLOBAL`]: frames are being saved, or have been saved.
pub const STATE_UNWINDING: i32 = 1;
/// [`STATE_GLOBAL`]: frames are being restored.
pub const STATE_REWINDING: i32 = 2;

/// Offset of the interrupt flag (`u32`) in the state memory.
pub const FLAG_OFFSET: u32 = 0;
/// Where the frame stack starts in the state memory.
pub const STACK_BASE: u32 = 16;
/// Size of the header at the end of every frame.
pub const FRAME_HEADER_SIZE: u32 = 16;
/// Free bytes the state memory always has above [`SP_GLOBAL`]: a function
/// whose frame fits stores its locals before it calls anything on its way
/// out, so that none of them has to survive a call. Pushing a frame grows
/// the memory to keep this much room; a state memory given to an
/// instrumented module must start with at least `STACK_BASE + FRAME_ROOM`
/// bytes (one page does).
pub const FRAME_ROOM: u32 = 16 * 1024;

/// The export name of memory `index` (imported or defined).
pub fn memory_export(index: u32) -> String {
    format!("__weft_memory_{index}")
}

/// The export name of mutable global `index` (imported or defined).
pub fn global_export(index: u32) -> String {
    format!("__weft_global_{index}")
}

/// The export name of the `i64` global holding the dropped-segment bits
/// `64 * index .. 64 * index + 64` (data segments first, then element segments).
pub fn dropped_export(index: u32) -> String {
    format!("__weft_dropped_{index}")
}

/// The export name of table `index` (imported or defined).
pub fn table_export(index: u32) -> String {
    format!("__weft_table_{index}")
}

/// With [`crate::Config::shared_state`], the module imports its control
/// state from this module instead of defining it, under the same names it
/// exports: [`STATE_GLOBAL`], [`FUEL_GLOBAL`], [`SP_GLOBAL`],
/// [`STATE_MEMORY`], and the reference stacks with their pointers. Instances
/// linked to each other (one calling into another directly or through a
/// shared table) must share one control state so that an unwind crosses
/// instance boundaries.
pub const SHARED_STATE_MODULE: &str = "__weft_shared";
