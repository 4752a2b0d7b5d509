//! Threads, fork, signal handlers and allocation before `main` under the library:
//! no crash, no deadlock, and the published counts equal what the program holds.

use crate::support::{compile, delta, Run};

/// Runs `stress MODE` sampling every `sample_bytes`, and checks that the blocks it
/// says it holds are exactly the published growth of the heap.
fn holds_what_it_says(mode: &str, sample_bytes: u64) -> u64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = compile("stress", dir.path(), &[]);
    let mut run = Run::start(&exe, &[mode], dir.path(), sample_bytes);
    run.expect("ready");
    let heap = run.heap();
    let before = heap.get().heap();
    run.go();
    let held = run.expect("held ");
    let after = heap.get().heap();
    let nums: Vec<i64> = held
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(
        delta(before, after),
        (nums[0], nums[1]),
        "{mode}: published growth (blocks, bytes) vs what the program holds"
    );
    let header = &heap.get().header;
    if sample_bytes > 0 {
        let samples = header.samples.load(std::sync::atomic::Ordering::Relaxed);
        assert!(samples > 0, "{mode}: nothing sampled");
        assert!(heap.get().site_count() > 1, "{mode}: no site published");
    }
    let orphaned = header.orphaned.load(std::sync::atomic::Ordering::Relaxed);
    run.go();
    let status = run.wait();
    assert!(status.success(), "{mode}: {status}");
    orphaned
}

#[test]
fn thirty_two_threads_allocating_at_once() {
    assert_eq!(holds_what_it_says("threads", 4096), 0);
}

#[test]
fn thirty_two_threads_at_the_default_interval() {
    holds_what_it_says("threads", soak_harness::sites::DEFAULT_SAMPLE_BYTES);
}

#[test]
fn forks_leave_the_parents_count_alone() {
    holds_what_it_says("fork", 4096);
}

/// Every allocation of the main thread is sampled (mean 1 byte), so the timer's
/// handler keeps landing inside the sampler: it must neither deadlock on the
/// sampler's lock nor lose a count, including when it frees a sampled block the
/// main thread handed it while the main thread holds the lock (an orphan). (With
/// the main thread never inside the C library's allocator, the handler cannot
/// deadlock there either.)
#[test]
fn malloc_from_a_signal_handler() {
    let orphaned = holds_what_it_says("signal", 1);
    assert!(orphaned > 0, "the handler never freed inside the sampler");
}
