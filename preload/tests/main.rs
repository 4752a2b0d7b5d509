//! The preload library under real programs: C programs built here with `cc`,
//! run with `LD_PRELOAD`, their published heap read as soak reads it.

mod support;

mod stress;
