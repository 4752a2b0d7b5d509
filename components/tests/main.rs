//! Integration tests of the components: one binary, one module per component.

mod lru;
