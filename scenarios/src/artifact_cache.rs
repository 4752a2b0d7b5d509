//! `artifact-cache`: seed 003's artifact store and auth cache and seed 004's
//! session index, each an [`LruCache`] — or, leaky, the unbounded map it replaced.
//!
//! The day:
//!
//! - **Artifact API** (seed 003: max 1,000 items, 24 h TTL): 2–12 requests/s, peak
//!   at 14:00, read-heavy (2% uploads, 0.2% re-uploads, 0.1% deletes; reads pick
//!   recent artifacts with a Zipf skew). Sizes 1 KiB–256 KiB, Pareto α = 1.1 (mean
//!   ≈ 5.4 KiB, a few 256 KiB giants). We add an 8 MiB weight budget so a run of
//!   giants cannot pin 256 MiB. Expiry is lazy (purged on every call).
//! - **Auth middleware** (seed 003: max 1,000, 5 min TTL): 3–24 requests/s, each
//!   carrying a 300-byte bearer token; 4% of requests bring a new token, tokens stay
//!   in use for the 4,000 newest (about two hours), and 30% of tokens log out when
//!   they fall out of use. A miss validates the token and caches the principal. At
//!   peak more than 1,000 tokens are live per 5 minutes, so both capacity and
//!   expiry evict.
//! - **Interaction manager** (seed 004: 1,000 sessions, 15 min TTL): 1–8
//!   interactions/s, peak at 20:00; 5% open a new session, sessions stay active among
//!   the 300 newest, and 60% end gracefully (index entry removed) — the rest are
//!   orphaned (dropped connections). Every interaction is indexed under its session;
//!   3% are never answered and stay pending until their session leaves the index,
//!   whose eviction callback times them out. Activity refreshes a session's age
//!   (`updateAgeOnGet`) so a busy session is not cut off mid-conversation, and a
//!   sweep task every minute makes expiry timely when traffic is quiet. A daily
//!   reconnect storm at 19:00 (1,500 new sessions in 2 minutes) overflows the
//!   1,000 bound: capacity evictions time out real sessions' interactions.
//!
//! Leaky twin: the same caches built with `leaky(true)` — the plain `Map`s the
//! seeds replaced. Uploads, new tokens and orphaned sessions (and their unanswered
//! interactions) accumulate for the whole day.
//!
//! Traffic kinds (`--mute`, `soak shrink`): `artifact_requests`,
//! `auth_requests`, `interactions`, `reconnect_storm`.
//!
//! Gauges per cache: entries, weight (bytes as the weigher counts them), and
//! evictions *per sample* by reason — per-sample counts follow load instead of
//! climbing all day like cumulative counters would. Only the harness's heap budget
//! judges the run.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use soak_components::hash::HashMap;
use soak_components::lru::{spawn_sweeper, LruCache, Reason, Shared};
use soak_harness::traffic::{hours, mins, secs, Diurnal, Phase, Rng, Shape};
use soak_harness::{BoxError, Ctx, Gauge, RunFuture, Scenario};

use crate::common::per_sample;

/// Artifact store: most items (seed 003).
pub const ARTIFACT_MAX: usize = 1_000;
/// Artifact store: time-to-live (seed 003).
pub const ARTIFACT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Artifact store: weight budget, bytes (ours, see the module docs).
pub const ARTIFACT_MAX_BYTES: u64 = 8 << 20;
/// Smallest artifact, bytes.
pub const ARTIFACT_MIN_SIZE: f64 = 1024.0;
/// Largest artifact, bytes.
pub const ARTIFACT_MAX_SIZE: f64 = 256.0 * 1024.0;
/// Pareto shape of artifact sizes (heavy tail).
pub const ARTIFACT_SIZE_ALPHA: f64 = 1.1;
/// Artifact requests that upload a new artifact.
pub const UPLOAD_SHARE: f64 = 0.02;
/// Artifact requests that re-upload a recent artifact.
pub const REUPLOAD_SHARE: f64 = 0.002;
/// Artifact requests that delete a recent artifact.
pub const DELETE_SHARE: f64 = 0.001;
/// Reads pick among this many newest artifacts (Zipf, s = 0.9).
pub const ARTIFACT_SPAN: u64 = 3_000;

/// Auth cache: most principals (seed 003).
pub const AUTH_MAX: usize = 1_000;
/// Auth cache: time-to-live (seed 003).
pub const AUTH_TTL: Duration = Duration::from_secs(5 * 60);
/// Requests that bring a token never seen before.
pub const NEW_TOKEN_SHARE: f64 = 0.04;
/// Tokens in use: the newest this many.
pub const TOKEN_SPAN: u64 = 4_000;
/// Tokens that log out (removed from the cache) when they fall out of use.
pub const LOGOUT_SHARE: f64 = 0.3;
/// Bearer token length, bytes.
pub const TOKEN_LEN: usize = 300;

/// Session index: most sessions (seed 004).
pub const SESSION_MAX: usize = 1_000;
/// Session index: time-to-live since last activity (seed 004).
pub const SESSION_TTL: Duration = Duration::from_secs(15 * 60);
/// Interactions that open a new session.
pub const NEW_SESSION_SHARE: f64 = 0.05;
/// Active sessions: the newest this many.
pub const SESSION_SPAN: u64 = 300;
/// Sessions that end gracefully (index entry removed) when they go quiet.
pub const GRACEFUL_END_SHARE: f64 = 0.6;
/// Interactions never answered: pending until their session leaves the index.
pub const ABANDONED_SHARE: f64 = 0.03;
/// Payload held per pending interaction, bytes (seed 004: "~500 bytes").
pub const PENDING_BYTES: usize = 512;
/// How often the session index is swept.
pub const SESSION_SWEEP: Duration = Duration::from_secs(60);

/// The artifact-cache scenario.
#[derive(Debug, Default)]
pub struct ArtifactCache;

/// A validated caller, what the auth middleware caches per token.
#[derive(Debug)]
struct Principal {
    user_id: u64,
    roles: Vec<&'static str>,
}

/// An interaction waiting for an answer (seed 004's `pendingInteractions`).
struct Pending {
    #[allow(dead_code)] // held for its bytes, like the seed's interaction objects
    session: u64,
    #[allow(dead_code)]
    payload: Box<[u8]>,
}

type PendingMap = Arc<Mutex<HashMap<u64, Pending>>>;

impl Scenario for ArtifactCache {
    fn name(&self) -> &'static str {
        "artifact-cache"
    }

    fn about(&self) -> &'static str {
        "seed 003 artifact store + auth cache, seed 004 session index as LRU+TTL; \
         leaky: the unbounded maps they replaced"
    }

    /// Artifacts live up to [`ARTIFACT_TTL`] (24 h), though capacity usually evicts
    /// them sooner; tokens 5 minutes, sessions 15.
    fn retention(&self) -> Option<Duration> {
        Some(ARTIFACT_TTL)
    }

    fn wall_guess(&self) -> Option<Duration> {
        // The slower variant's 24 h in docs/performance.md (2026-11-28).
        Some(Duration::from_millis(1200))
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            // The day's traffic, one kind each. No kind declares a retention:
            // sessions stay in the index as long as they stay busy, so only the
            // scenario's (the artifacts' 24 h) is safe.
            let artifact_api = ctx.kind(
                "artifact_requests",
                Shape::new(Diurnal::new(2.0, 12.0, 14.0)),
            )?;
            let auth_requests =
                ctx.kind("auth_requests", Shape::new(Diurnal::new(3.0, 24.0, 14.0)))?;
            let interactions =
                ctx.kind("interactions", Shape::new(Diurnal::new(1.0, 8.0, 20.0)))?;
            let reconnect_storm = ctx.kind(
                "reconnect_storm",
                Shape::new(Diurnal::flat(0.0)).with(Phase::recurring(
                    hours(19.0),
                    hours(24.0),
                    1_500,
                    mins(2),
                )),
            )?;

            let artifacts: Shared<u64, Box<[u8]>> = Arc::new(Mutex::new(
                LruCache::<u64, Box<[u8]>>::builder(ARTIFACT_MAX)
                    .ttl(ARTIFACT_TTL)
                    .max_weight(ARTIFACT_MAX_BYTES, |_, v| v.len() as u64)
                    .leaky(ctx.leaky())
                    .build()?,
            ));
            let auth: Shared<String, Principal> = Arc::new(Mutex::new(
                LruCache::builder(AUTH_MAX)
                    .ttl(AUTH_TTL)
                    .weigher(|k: &String, p: &Principal| {
                        (k.len() + size_of::<Principal>() + 16 * p.roles.len()) as u64
                    })
                    .leaky(ctx.leaky())
                    .build()?,
            ));
            let pending: PendingMap = Arc::default();
            let timed_out = Arc::new(AtomicU64::new(0));
            let sessions: Shared<u64, Vec<u64>> = Arc::new(Mutex::new(
                LruCache::builder(SESSION_MAX)
                    .ttl(SESSION_TTL)
                    .refresh_on_get(true)
                    .weigher(|_, ids: &Vec<u64>| 32 + 8 * ids.len() as u64)
                    .on_evict(time_out_interactions(pending.clone(), timed_out.clone()))
                    .leaky(ctx.leaky())
                    .build()?,
            ));
            let sweeper = spawn_sweeper(&sessions, SESSION_SWEEP)?;

            use Reason::*;
            gauges(ctx, "artifacts", &artifacts, &[Capacity, Replaced, Removed])?;
            gauges(ctx, "auth", &auth, &[Expired, Capacity, Removed])?;
            gauges(ctx, "sessions", &sessions, &[Expired, Capacity, Removed])?;
            let p = pending.clone();
            ctx.gauge(Gauge::new("pending_interactions", move || {
                lock(&p).len() as f64
            }))?;
            let t = timed_out.clone();
            ctx.gauge(Gauge::new(
                "interactions_timed_out",
                per_sample(move || t.load(Ordering::Relaxed)),
            ))?;

            let mut day = Day::new(ctx);
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                let a = artifact_api.count(&mut day.rng, t, secs(1));
                let r = auth_requests.count(&mut day.rng, t, secs(1));
                let i = interactions.count(&mut day.rng, t, secs(1));
                let s = reconnect_storm.count(&mut day.rng, t, secs(1));
                day.artifact_requests(&mut lock(&artifacts), a);
                day.auth_requests(&mut lock(&auth), r);
                day.interactions(&sessions, &pending, i, false);
                day.interactions(&sessions, &pending, s, true);
            }

            ctx.set_summary("artifact_hit_ratio", day.artifact_hits.ratio());
            ctx.set_summary("auth_hit_ratio", day.auth_hits.ratio());
            ctx.set_summary("interactions_timed_out", timed_out.load(Ordering::Relaxed));
            drop(sweeper);
            Ok(())
        })
    }
}

/// The random state of the day: id counters, hit counts, a reusable token buffer.
struct Day {
    rng: Rng,
    artifact_head: u64,
    token_head: u64,
    session_head: u64,
    interaction_id: u64,
    token: String,
    artifact_hits: Hits,
    auth_hits: Hits,
}

#[derive(Default)]
struct Hits {
    hits: u64,
    lookups: u64,
}

impl Hits {
    fn record(&mut self, hit: bool) {
        self.lookups += 1;
        self.hits += u64::from(hit);
    }

    fn ratio(&self) -> f64 {
        self.hits as f64 / self.lookups.max(1) as f64
    }
}

impl Day {
    fn new(ctx: &Ctx) -> Self {
        Day {
            rng: ctx.rng("artifact-cache"),
            artifact_head: 0,
            token_head: TOKEN_SPAN, // a population already in use at midnight
            session_head: SESSION_SPAN,
            interaction_id: 0,
            token: String::with_capacity(TOKEN_LEN),
            artifact_hits: Hits::default(),
            auth_hits: Hits::default(),
        }
    }

    /// Seed 003's `routes/api/v1/artifacts.js`: uploads, re-uploads, deletes, reads.
    fn artifact_requests(&mut self, store: &mut LruCache<u64, Box<[u8]>>, n: u64) {
        for _ in 0..n {
            let roll = self.rng.unit();
            if roll < UPLOAD_SHARE || self.artifact_head == 0 {
                self.artifact_head += 1;
                let bytes = self.artifact_bytes();
                store.insert(self.artifact_head, bytes);
            } else if roll < UPLOAD_SHARE + REUPLOAD_SHARE {
                let id = self.recent_artifact();
                let bytes = self.artifact_bytes();
                store.insert(id, bytes);
            } else if roll < UPLOAD_SHARE + REUPLOAD_SHARE + DELETE_SHARE {
                let id = self.recent_artifact();
                store.remove(&id);
            } else {
                let id = self.recent_artifact();
                let hit = store.get(&id).is_some();
                self.artifact_hits.record(hit);
            }
        }
    }

    fn recent_artifact(&mut self) -> u64 {
        let back = self.rng.zipf(ARTIFACT_SPAN, 0.9);
        self.artifact_head.saturating_sub(back).max(1)
    }

    fn artifact_bytes(&mut self) -> Box<[u8]> {
        let size = self
            .rng
            .pareto(ARTIFACT_MIN_SIZE, ARTIFACT_SIZE_ALPHA, ARTIFACT_MAX_SIZE)
            as usize;
        vec![(self.artifact_head as u8) | 1; size].into_boxed_slice()
    }

    /// Seed 003's `middleware/auth-middleware.js`: look the bearer token up, validate
    /// and cache on a miss; tokens falling out of use sometimes log out.
    fn auth_requests(&mut self, cache: &mut LruCache<String, Principal>, n: u64) {
        for _ in 0..n {
            let id = if self.rng.chance(NEW_TOKEN_SHARE) {
                self.token_head += 1;
                let gone = self.token_head - TOKEN_SPAN;
                if self.rng.chance(LOGOUT_SHARE) {
                    write_token(&mut self.token, gone);
                    cache.remove(self.token.as_str());
                }
                self.token_head
            } else {
                self.token_head - self.rng.below(TOKEN_SPAN)
            };
            write_token(&mut self.token, id);
            // A cached principal must be the token's own.
            let hit = cache
                .get(self.token.as_str())
                .is_some_and(|p| p.user_id == id / 3);
            self.auth_hits.record(hit);
            if !hit {
                let principal = Principal {
                    user_id: id / 3,
                    roles: vec!["read", "write", "artifacts"],
                };
                cache.insert(self.token.clone(), principal);
            }
        }
    }

    /// Seed 004's `interactionManager.js`: each interaction is indexed under its
    /// session; unanswered ones stay pending. `storm` interactions all open new
    /// sessions (a reconnect storm).
    fn interactions(
        &mut self,
        index: &Shared<u64, Vec<u64>>,
        pending: &PendingMap,
        n: u64,
        storm: bool,
    ) {
        for _ in 0..n {
            let session = if storm || self.rng.chance(NEW_SESSION_SHARE) {
                self.session_head += 1;
                let quiet = self.session_head - SESSION_SPAN;
                if self.rng.chance(GRACEFUL_END_SHARE) {
                    // The session ended: prune its index (times out what is pending).
                    lock(index).remove(&quiet);
                }
                self.session_head
            } else {
                self.session_head - self.rng.below(SESSION_SPAN)
            };
            self.interaction_id += 1;
            let id = self.interaction_id;
            if self.rng.chance(ABANDONED_SHARE) {
                let payload = vec![0x5a; PENDING_BYTES].into_boxed_slice();
                lock(pending).insert(id, Pending { session, payload });
            }
            // Never hold `pending` here: the index's callback locks it.
            let mut index = lock(index);
            if index.update(&session, |ids| ids.push(id)).is_none() {
                index.insert(session, vec![id]);
            }
        }
    }
}

/// Seed 004's dispose: "interactions.forEach(id => this.timeoutInteraction(id,
/// 'SESSION_EXPIRED'))" — whatever the reason the session left the index.
fn time_out_interactions(
    pending: PendingMap,
    timed_out: Arc<AtomicU64>,
) -> impl FnMut(u64, Vec<u64>, Reason) + Send + 'static {
    move |_session, ids, _reason| {
        let mut p = lock(&pending);
        for id in ids {
            if p.remove(&id).is_some() {
                timed_out.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Writes token number `id` as a `TOKEN_LEN`-byte bearer token into `buf`.
fn write_token(buf: &mut String, id: u64) {
    buf.clear();
    // Writing into a String cannot fail.
    let _ = write!(buf, "eyJ{id:016x}.");
    while buf.len() < TOKEN_LEN {
        buf.push_str("c2Vzc2lvbi10b2tlbi1wYWRkaW5n");
    }
    buf.truncate(TOKEN_LEN);
}

/// Registers `<name>_entries`, `<name>_bytes` and `<name>_evicted_<reason>` (per
/// sample) for `cache`.
fn gauges<K, V>(
    ctx: &Ctx,
    name: &str,
    cache: &Shared<K, V>,
    reasons: &[Reason],
) -> Result<(), BoxError>
where
    K: std::hash::Hash + Eq + Clone + 'static,
    V: 'static,
{
    let c = cache.clone();
    ctx.gauge(Gauge::new(format!("{name}_entries"), move || {
        lock(&c).len() as f64
    }))?;
    let c = cache.clone();
    ctx.gauge(Gauge::new(format!("{name}_bytes"), move || {
        lock(&c).weight() as f64
    }))?;
    for &reason in reasons {
        let c = cache.clone();
        ctx.gauge(Gauge::new(
            format!("{name}_evicted_{reason}"),
            per_sample(move || lock(&c).evictions().get(reason)),
        ))?;
    }
    Ok(())
}

/// Locks `m`; a poisoned lock only means a panic elsewhere, the data is intact.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
