//! Integration tests of the runtime's control protocol.

mod roundtrip;
