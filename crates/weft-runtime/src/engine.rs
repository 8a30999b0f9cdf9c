//! The shared engine and the module cache.
//!
//! One [`Runtime`] owns one Wasmtime [`Engine`] and caches every module it
//! loads twice over: in memory, by the SHA-256 of the original module and
//! the instrumentation configuration ([`ModuleId`]), and on disk, where the
//! compiled machine code of an instrumented module is kept so that another
//! process loading the same module does not compile it again.
//!
//! # The disk cache
//!
//! A cache file is named after the SHA-256 of the module id and of the
//! engine's compatibility hash (Wasmtime version, target, compiler
//! settings), so an engine configured differently never sees another's
//! code. It holds the SHA-256 of the serialized code followed by the code.
//! Loading native code is `unsafe` in Wasmtime: it runs whatever it is
//! given. Only files of this cache reach it, and only after their digest
//! matches; a file that does not match is compiled again and replaced.

use crate::error::{Error, Result};
use crate::module::ScriptModule;
use crate::wasi;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmtime::{Engine, Linker, Module};
use weft_snapshot::ModuleId;

/// How much stack WebAssembly may use on a thread that runs scripts.
///
/// A script that is paused holds no native stack at all (its frames live in
/// its state memory), so this costs only once per thread that runs scripts,
/// not once per script. It is large enough for C programs that recurse tens
/// of thousands of levels deep.
pub const DEFAULT_MAX_WASM_STACK: usize = 64 << 20;

/// The native stack a thread running scripts needs with
/// [`RuntimeConfig::max_wasm_stack`] set to `wasm_stack`: Wasmtime runs
/// WebAssembly on the calling thread's stack, next to the host's own frames.
pub fn thread_stack_size(wasm_stack: usize) -> usize {
    wasm_stack + (16 << 20)
}

/// How a [`Runtime`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// How scripts are instrumented.
    pub instrumentation: weft_instrument::Config,
    /// Canonicalise NaNs produced by floating-point operations, so that
    /// scripts compute bit-identical results on every machine (part of
    /// deterministic mode).
    pub canonical_nans: bool,
    /// How much stack WebAssembly may use before it traps with "call stack
    /// exhausted". Threads that run scripts need a native stack of
    /// [`thread_stack_size`].
    pub max_wasm_stack: usize,
    /// Where compiled code is cached across processes (`None`: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// Take instances from a pool with room for this many live scripts
    /// (Wasmtime's pooling allocator) instead of mapping memory for each.
    /// Instantiating and dropping a script then costs a few microseconds
    /// instead of tens, but the address space of every slot is reserved up
    /// front (about 8 GiB per script: two memory slots of 4 GiB), and a
    /// script beyond the pool fails to instantiate. Each slot holds at most
    /// [`POOLED_MEMORIES`] memories and [`POOLED_TABLES`] tables of at most
    /// [`POOLED_TABLE_ELEMENTS`] elements.
    pub pooled_instances: Option<u32>,
}

/// The memories an instance of a pooled runtime may have (its own and the
/// state memory).
pub const POOLED_MEMORIES: u32 = 4;
/// The tables an instance of a pooled runtime may have (its own and the
/// instrumentation's).
pub const POOLED_TABLES: u32 = 8;
/// The elements a table of a pooled runtime may grow to.
pub const POOLED_TABLE_ELEMENTS: usize = 100_000;
/// How much of each memory and table of a pooled slot is reset in place
/// (and stays resident) when its instance goes; beyond it, pages are
/// given back to the kernel. Scanning for dirty pages costs in proportion
/// to this size: 256 KiB made launching a function fastest (16 MiB was a
/// third slower, nothing at all two thirds).
const POOLED_KEEP_RESIDENT: usize = 256 << 10;

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            instrumentation: weft_instrument::Config::fuel(),
            canonical_nans: false,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            cache_dir: default_cache_dir(),
            pooled_instances: None,
        }
    }
}

/// `$WEFT_CACHE_DIR`, else `$XDG_CACHE_HOME/weft`, else `~/.cache/weft`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WEFT_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("weft"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("weft"))
}

/// The name of an instrumentation configuration, as recorded in
/// [`ModuleId::instrumentation`].
pub fn instrumentation_name(config: &weft_instrument::Config) -> String {
    let mut name = String::from(if config.checks_fuel() { "fuel" } else { "flag" });
    if !config.checks_fuel() && config.counts_fuel() {
        name.push_str("+count");
    }
    name
}

/// The configuration named by [`instrumentation_name`].
pub fn parse_instrumentation(name: &str) -> Result<weft_instrument::Config> {
    match name {
        "fuel" => Ok(weft_instrument::Config::fuel()),
        "flag" => Ok(weft_instrument::Config::flag(false)),
        "flag+count" => Ok(weft_instrument::Config::flag(true)),
        other => Err(Error::Module(format!(
            "unknown instrumentation `{other}` (expected fuel, flag or flag+count)"
        ))),
    }
}

/// The SHA-256 of a module's bytes.
pub fn module_hash(wasm: &[u8]) -> [u8; 32] {
    Sha256::digest(wasm).into()
}

/// The compiled code of a module, as one runtime hands it to another
/// ([`Runtime::precompiled`], [`Runtime::load_precompiled`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Precompiled {
    /// The compiling engine's [`Runtime::engine_fingerprint`].
    pub engine: String,
    /// The [`instrumentation_name`] it was instrumented with.
    pub instrumentation: String,
    /// The code, as Wasmtime serializes it.
    pub code: Vec<u8>,
}

impl std::fmt::Debug for Precompiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Precompiled")
            .field("engine", &self.engine)
            .field("instrumentation", &self.instrumentation)
            .field("code", &format_args!("{} bytes", self.code.len()))
            .finish()
    }
}

/// Feeds what is hashed into a SHA-256, for a fingerprint that is the same
/// in every process and build (the standard hasher promises neither).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
    }
}

/// Where weft's scripts run: one engine, its module cache and the host
/// functions every script can import.
///
/// A `Runtime` is `Send + Sync`; share it behind an [`Arc`] between the
/// threads that run scripts.
pub struct Runtime {
    engine: Engine,
    config: RuntimeConfig,
    linker: Linker<crate::host::Host>,
    modules: Mutex<HashMap<ModuleId, Arc<ScriptModule>>>,
    /// Started by the first launched function.
    timer: std::sync::OnceLock<Arc<crate::preempt::Timer>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Creates a runtime.
    pub fn new(config: RuntimeConfig) -> Result<Runtime> {
        let mut wasmtime = wasmtime::Config::new();
        wasmtime
            .max_wasm_stack(config.max_wasm_stack)
            // With asynchronous support compiled in (by other crates of a
            // build), Wasmtime wants the asynchronous stack at least as large.
            .async_stack_size(thread_stack_size(config.max_wasm_stack))
            .cranelift_nan_canonicalization(config.canonical_nans)
            .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
        if let Some(instances) = config.pooled_instances {
            // A typical script has one memory (and the state memory) and a
            // few tables; the totals leave room for that in every slot.
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.total_core_instances(instances)
                .total_memories(instances.saturating_mul(2))
                .total_tables(instances.saturating_mul(4))
                .max_memories_per_module(POOLED_MEMORIES)
                .max_tables_per_module(POOLED_TABLES)
                .table_elements(POOLED_TABLE_ELEMENTS)
                // Reset a slot by zeroing the pages it dirtied (found with
                // the PAGEMAP_SCAN ioctl where the kernel has it) instead of
                // unmapping them: the next instance in the slot does not
                // fault them in again, and no other CPU is interrupted to
                // flush its TLB.
                .pagemap_scan(wasmtime::Enabled::Auto)
                .linear_memory_keep_resident(POOLED_KEEP_RESIDENT)
                .table_keep_resident(POOLED_KEEP_RESIDENT);
            wasmtime.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine =
            Engine::new(&wasmtime).map_err(|e| Error::engine("cannot create the engine", e))?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker)?;
        crate::api::add_to_linker(&mut linker)?;
        Ok(Runtime {
            engine,
            config,
            linker,
            modules: Mutex::new(HashMap::new()),
            timer: std::sync::OnceLock::new(),
        })
    }

    /// The timer thread of launched functions, started on first use.
    pub(crate) fn timer(&self) -> &Arc<crate::preempt::Timer> {
        self.timer.get_or_init(|| {
            Arc::new(crate::preempt::Timer::start().expect("cannot start weft's timer thread"))
        })
    }

    /// The Wasmtime engine every script of this runtime runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Loads an original (uninstrumented) module with the runtime's
    /// instrumentation: instruments it, compiles it (or takes the compiled
    /// code from the disk cache) and checks that everything it imports is
    /// provided. Loading the same bytes again returns the cached module.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<ScriptModule>> {
        self.load_with(wasm, &self.config.instrumentation)
    }

    /// Like [`Runtime::load`], with another instrumentation configuration
    /// (the one a snapshot was taken with, for instance).
    pub fn load_with(
        &self,
        wasm: &[u8],
        instrumentation: &weft_instrument::Config,
    ) -> Result<Arc<ScriptModule>> {
        let id = ModuleId {
            hash: module_hash(wasm),
            instrumentation: instrumentation_name(instrumentation),
        };
        if let Some(module) = self.lock_modules().get(&id) {
            return Ok(module.clone());
        }
        self.instrument_and_link(id, wasm, instrumentation, |instrumented| {
            self.compile(instrumented)
        })
    }

    /// Instruments `wasm` (for what the instrumentation reports), takes its
    /// machine code from `code` and keeps the linked module in memory.
    fn instrument_and_link(
        &self,
        id: ModuleId,
        wasm: &[u8],
        instrumentation: &weft_instrument::Config,
        code: impl FnOnce(&[u8]) -> Result<Module>,
    ) -> Result<Arc<ScriptModule>> {
        let instrumented = weft_instrument::instrument(wasm, instrumentation)?;
        let compiled = code(&instrumented.wasm)?;
        let module = Arc::new(ScriptModule::new(
            id.clone(),
            wasm,
            instrumented.info,
            compiled,
            &self.linker,
        )?);
        self.lock_modules().insert(id, module.clone());
        Ok(module)
    }

    /// The compiled code of a loaded module, for a runtime on another node
    /// that trusts this one: see [`Runtime::load_precompiled`].
    pub fn precompiled(&self, module: &ScriptModule) -> Result<Precompiled> {
        let code = module
            .module()
            .serialize()
            .map_err(|e| Error::engine("cannot serialize compiled code", e))?;
        Ok(Precompiled {
            engine: self.engine_fingerprint(),
            instrumentation: module.id().instrumentation.clone(),
            code,
        })
    }

    /// A fingerprint of what compiled code depends on: the Wasmtime
    /// version, the target and the compiler settings. Two runtimes with the
    /// same fingerprint can run each other's [`Runtime::precompiled`] code.
    pub fn engine_fingerprint(&self) -> String {
        let mut hasher = Sha256Hasher(Sha256::new());
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        hex::encode(hasher.0.finalize())
    }

    /// Like [`Runtime::load`], but takes the compiled code from `code`
    /// instead of compiling the instrumented module (the module is still
    /// instrumented, for what the instrumentation reports). Fails with
    /// [`Error::Incompatible`] when the code was compiled by an engine with
    /// another fingerprint or for another instrumentation; the caller can
    /// then [`Runtime::load`] the module instead.
    ///
    /// # Safety
    ///
    /// Wasmtime runs whatever machine code it is given. `code` must be what
    /// [`Runtime::precompiled`] returned for this same `wasm`, from a
    /// runtime the caller trusts (a peer authenticated as trusted).
    pub unsafe fn load_precompiled(
        &self,
        wasm: &[u8],
        code: &Precompiled,
    ) -> Result<Arc<ScriptModule>> {
        let instrumentation = &self.config.instrumentation;
        let id = ModuleId {
            hash: module_hash(wasm),
            instrumentation: instrumentation_name(instrumentation),
        };
        if let Some(module) = self.lock_modules().get(&id) {
            return Ok(module.clone());
        }
        if code.engine != self.engine_fingerprint() {
            return Err(Error::Incompatible(
                "the code was compiled by an engine of another version or configuration".into(),
            ));
        }
        if code.instrumentation != id.instrumentation {
            return Err(Error::Incompatible(format!(
                "the code is instrumented for `{}`, this runtime uses `{}`",
                code.instrumentation, id.instrumentation
            )));
        }
        self.instrument_and_link(id, wasm, instrumentation, |instrumented| {
            // SAFETY: the caller vouches for the code (see above); Wasmtime
            // also checks its header against this engine.
            let compiled = unsafe { Module::deserialize(&self.engine, &code.code) }
                .map_err(|e| Error::Incompatible(format!("the code does not load here: {e:#}")))?;
            if let Some(path) = self.cache_path(instrumented)
                && let Err(e) = self.store_cached(&path, &compiled)
            {
                tracing::warn!("cannot cache compiled code in {}: {e}", path.display());
            }
            Ok(compiled)
        })
    }

    /// The cached module with this id, if it was loaded.
    pub fn cached(&self, id: &ModuleId) -> Option<Arc<ScriptModule>> {
        self.lock_modules().get(id).cloned()
    }

    fn lock_modules(&self) -> std::sync::MutexGuard<'_, HashMap<ModuleId, Arc<ScriptModule>>> {
        // The map stays consistent even if a thread panicked while holding it.
        self.modules.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn compile(&self, instrumented: &[u8]) -> Result<Module> {
        let path = self.cache_path(instrumented);
        if let Some(path) = &path
            && let Some(module) = self.load_cached(path)
        {
            return Ok(module);
        }
        let module = Module::new(&self.engine, instrumented)
            .map_err(|e| Error::engine("cannot compile the instrumented module", e))?;
        if let Some(path) = &path
            && let Err(e) = self.store_cached(path, &module)
        {
            tracing::warn!("cannot cache compiled code in {}: {e}", path.display());
        }
        Ok(module)
    }

    /// The cache file of the code compiled from `instrumented`: keyed by the
    /// instrumented bytes, so that a pass that emits other code (another
    /// version, other settings) never finds code compiled from older output.
    fn cache_path(&self, instrumented: &[u8]) -> Option<PathBuf> {
        let dir = self.config.cache_dir.as_ref()?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let mut key = Sha256::new();
        key.update(instrumented);
        key.update(engine_hash.finish().to_le_bytes());
        Some(dir.join(format!("{}.cwasm", hex::encode(key.finalize()))))
    }

    fn load_cached(&self, path: &Path) -> Option<Module> {
        let bytes = std::fs::read(path).ok()?;
        let (digest, code) = bytes.split_at_checked(32)?;
        if Sha256::digest(code).as_slice() != digest {
            tracing::warn!("ignoring corrupt cache file {}", path.display());
            return None;
        }
        // SAFETY: `code` was written by `store_cached` of a runtime whose
        // engine has the same compatibility hash (it is part of the file
        // name), and its digest matches, so these are the bytes Wasmtime
        // serialized; Wasmtime checks their header against the engine.
        unsafe { Module::deserialize(&self.engine, code) }.ok()
    }

    fn store_cached(&self, path: &Path, module: &Module) -> Result<()> {
        let code = module
            .serialize()
            .map_err(|e| Error::engine("cannot serialize compiled code", e))?;
        let mut bytes = Vec::with_capacity(32 + code.len());
        bytes.extend_from_slice(&Sha256::digest(&code));
        bytes.extend_from_slice(&code);
        crate::durable::write_atomically(path, &bytes, false)
    }
}
