//! Integration tests of the pass.

mod errors;
mod golden;
