//! The weft scheduler: fair preemptive scheduling of many scripts over a few
//! worker threads, with CPU accounting, parking and a heartbeat.
#![deny(missing_docs)]
