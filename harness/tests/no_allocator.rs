//! A crate that forgot `#[global_allocator]`: a run must refuse to start and say the
//! one line to add, never measure a flat heap. This test binary deliberately
//! declares no allocator.

use soak_harness::traffic::secs;
use soak_harness::{cli, Ctx, Error, RunConfig, RunFuture, Scenario};

struct Idle;

impl Scenario for Idle {
    fn name(&self) -> &'static str {
        "idle"
    }
    fn about(&self) -> &'static str {
        "does nothing for an hour"
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let mut t = ctx.ticker(secs(60));
            while t.next().await.is_some() {}
            Ok(())
        })
    }
}

#[test]
fn the_library_returns_an_error_naming_the_fix() {
    assert!(!soak_harness::alloc::installed());
    let err = soak_harness::run(&Idle, &RunConfig::new().hours(1.0)).expect_err("refused");
    assert!(matches!(err, Error::AllocatorMissing), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("#[global_allocator]"), "{text}");
    assert!(text.contains("soak_harness::Counting::system()"), "{text}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn the_cli_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("reports");
    let scenarios: Vec<Box<dyn Scenario>> = vec![Box::new(Idle)];
    let args = ["soak", "run", "idle", "--hours", "1", "-q", "--out"];
    let code = cli::run_from(
        args.iter()
            .map(|a| a.to_string())
            .chain([out.display().to_string()]),
        &scenarios,
    );
    assert_eq!(code, cli::EXIT_ERROR);
    assert!(
        !out.exists(),
        "nothing written for a run that could not measure"
    );
}
