//! `weft bench ...`: benchmarks that print their baselines beside them.

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum Bench {}

pub(crate) fn run(which: Bench) -> Result<()> {
    match which {}
}
