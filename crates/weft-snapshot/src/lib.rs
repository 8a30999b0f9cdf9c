//! The weft snapshot format: a versioned, checksummed, compressed encoding
//! of a paused script (see the design document, "Snapshots").
#![deny(missing_docs)]
