//! `artifact-cache`: the artifact-cache scenario on its own (`soak run artifact-cache`).
fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::artifact_cache::ArtifactCache))
}
