//! Integration tests of the harness library that need no scenario run: one binary
//! that `mod`s the rest (ripgrep's layout).

mod props;
