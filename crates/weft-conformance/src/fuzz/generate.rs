//! Generation of test modules with `wasm-smith`, reproducible from a run
//! seed and a module index.

use super::values::mix_all;
use anyhow::{Context, Result, bail};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use std::borrow::Cow;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};

/// The export under which a generated module exposes the termination fuel
/// global that `wasm-smith` adds (renamed if the module already uses it).
pub const FUEL_EXPORT: &str = "fuzz_fuel";

/// A generated module.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The module, with its termination fuel global exported.
    pub wasm: Vec<u8>,
    /// The export name of the termination fuel global.
    pub fuel_export: String,
    /// The termination budget each exported call starts with.
    pub fuel_budget: u32,
}

/// Draws the shape of one module: every feature the pass supports is on,
/// every other one off; the size limits vary from module to module so that
/// some are tiny and some exercise many items of a kind.
#[allow(clippy::field_reassign_with_default)] // one field per line reads best
fn smith_config(rng: &mut SmallRng) -> wasm_smith::Config {
    let mut c = wasm_smith::Config::default();
    c.multi_value_enabled = true;
    c.bulk_memory_enabled = true;
    c.reference_types_enabled = true;
    c.simd_enabled = true;
    c.saturating_float_to_int_enabled = true;
    c.sign_extension_ops_enabled = true;
    c.extended_const_enabled = true;
    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.exceptions_enabled = false;
    c.tail_call_enabled = false;
    c.gc_enabled = false;
    c.custom_descriptors_enabled = false;
    c.memory64_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.relaxed_simd_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.allow_invalid_funcs = false;
    c.export_everything = true;
    c.allow_start_export = rng.random_bool(0.5);

    // Swarm testing: leaving out whole kinds of instructions makes the
    // remaining ones (calls and loops among them) more frequent.
    if rng.random_bool(0.6) {
        use wasm_smith::InstructionKind as K;
        let optional = [
            K::Numeric,
            K::Vector,
            K::Reference,
            K::Parametric,
            K::Variable,
            K::Table,
            K::Memory,
        ];
        let mut kinds = vec![K::Control, K::NumericInt];
        kinds.extend(optional.into_iter().filter(|_| rng.random_bool(0.6)));
        c.allowed_instructions = wasm_smith::InstructionKinds::new(&kinds);
    }
    c.allow_floats = rng.random_bool(0.8);

    c.max_memories = rng.random_range(1..=3);
    c.max_tables = rng.random_range(1..=3);
    c.max_funcs = rng.random_range(1..=12);
    c.min_funcs = 1;
    c.max_instructions = if rng.random_bool(0.2) {
        rng.random_range(100..=300)
    } else {
        rng.random_range(5..=100)
    };
    c.max_imports = if rng.random_bool(0.2) {
        0
    } else {
        rng.random_range(1..=8)
    };
    c.max_globals = rng.random_range(0..=8);
    c.max_types = rng.random_range(1..=12);
    c.min_types = 1;
    c.max_type_size = 200;
    c.max_data_segments = rng.random_range(0..=4);
    c.max_element_segments = rng.random_range(0..=4);
    c.max_elements = 16;
    c.max_exports = 64;
    c.max_table_elements = 64;
    c.table_max_size_required = true;
    c.memory_max_size_required = true;
    c.max_memory32_bytes = 4 * 65536;
    c.max_nesting_depth = 10;
    c
}

/// Generates module `index` of the run with seed `seed`. When `wasm-smith`
/// gives up on its input, the next attempts draw new input.
pub fn generate(seed: u64, index: u64) -> Result<Generated> {
    let mut error = None;
    for attempt in 0..4 {
        match generate_attempt(seed, index, attempt) {
            Ok(generated) => return Ok(generated),
            Err(e) => error = Some(e),
        }
    }
    Err(error.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
}

fn generate_attempt(seed: u64, index: u64, attempt: u64) -> Result<Generated> {
    let mut rng = SmallRng::seed_from_u64(mix_all(&[seed, index, 0x0067_656e, attempt]));
    let config = smith_config(&mut rng);
    let len = if rng.random_bool(0.2) {
        rng.random_range(1024..=8192)
    } else {
        rng.random_range(64..=1024)
    };
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    let mut module = wasm_smith::Module::new(config, &mut arbitrary::Unstructured::new(&bytes))
        .context("wasm-smith could not generate a module")?;
    let fuel_budget = if rng.random_bool(0.1) {
        rng.random_range(1..=20)
    } else {
        rng.random_range(50..=1500)
    };
    let fuel_global = module.ensure_termination(fuel_budget)?;
    let (wasm, fuel_export) = export_global(&module.to_bytes(), fuel_global)?;
    Ok(Generated {
        wasm,
        fuel_export,
        fuel_budget,
    })
}

/// Adds an export of global `global` to a module (which must already have
/// an export section, as every module with exports does).
fn export_global(wasm: &[u8], global: u32) -> Result<(Vec<u8>, String)> {
    let mut names = std::collections::HashSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ExportSection(r) = payload? {
            for e in r {
                names.insert(e?.name.to_string());
            }
        }
    }
    let mut name = FUEL_EXPORT.to_string();
    while names.contains(&name) {
        name.push('_');
    }
    let mut adder = AddExport {
        name: Cow::Borrowed(&name),
        global,
    };
    let mut module = wasm_encoder::Module::new();
    adder
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|e| anyhow::anyhow!("cannot re-encode the generated module: {e}"))?;
    let out = module.finish();
    if names.is_empty() {
        bail!("the generated module has no exports");
    }
    Ok((out, name))
}

struct AddExport<'a> {
    name: Cow<'a, str>,
    global: u32,
}

impl Reencode for AddExport<'_> {
    type Error = std::convert::Infallible;

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        RoundtripReencoder.parse_export_section(exports, section)?;
        exports.export(&self.name, wasm_encoder::ExportKind::Global, self.global);
        Ok(())
    }
}
