//! Integration tests of the scenarios: one module per scenario.

mod connection_churn;
