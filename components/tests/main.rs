//! Integration tests of the components, one module per component.

mod ws;
