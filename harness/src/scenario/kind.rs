//! Named traffic kinds: what a scenario replays, one handle per kind of event
//! (flags, flood waves, messages, reconnect storms, ...).
//!
//! A scenario declares each kind once ([`crate::Ctx::kind`]) and draws its events
//! through the [`Kind`]: the harness counts them (a `load_KIND` column in
//! `samples.csv`, beside `load_events`, and a total in `summary.json`), replays
//! without them when the kind is muted (`--mute KIND`), and scales their rate
//! (`--load-scale F`). That is what lets `soak shrink` find which traffic a leak
//! needs and tell the bytes it leaks per event.
//!
//! A muted kind draws nothing from the random stream, so the other kinds'
//! traffic stays statistically the same but not number for number; an unmuted,
//! unscaled kind draws exactly what the bare [`Shape::count`] or [`Rng::poisson`]
//! would, so declaring kinds changes no existing replay.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::Shared;
use crate::traffic::{Diurnal, Rng, Shape};

/// Longest kind name (the column is `load_` and the name).
pub const MAX_KIND_NAME: usize = 32;

/// What the harness keeps of one declared kind while the run goes on.
#[derive(Debug)]
pub(crate) struct KindState {
    pub(crate) name: String,
    pub(crate) muted: bool,
    scale: f64,
    /// Load events each of this kind's events counts for (`load_events`).
    weight: Cell<u64>,
    /// How long the state this kind's events create is kept, when declared.
    pub(crate) retains: Cell<Option<Duration>>,
    /// Events since the previous sample (the `load_KIND` column).
    pub(crate) since_sample: Cell<u64>,
    /// Events over the run.
    pub(crate) total: Cell<u64>,
    /// Fraction of an event carried over by [`Kind::take`] at a scale below 1.
    carry: Cell<f64>,
}

impl KindState {
    pub(crate) fn new(name: &str, muted: bool, scale: f64) -> Self {
        KindState {
            name: name.to_string(),
            muted,
            scale,
            weight: Cell::new(1),
            retains: Cell::new(None),
            since_sample: Cell::new(0),
            total: Cell::new(0),
            carry: Cell::new(0.0),
        }
    }

    /// The `samples.csv` column of this kind.
    pub(crate) fn column(&self) -> String {
        column(&self.name)
    }
}

/// The `samples.csv` column of kind `name`: `load_NAME`.
pub fn column(name: &str) -> String {
    format!("load_{name}")
}

/// Whether `name` is a valid kind name: lowercase letters, digits and `_`, at most
/// [`MAX_KIND_NAME`] characters.
pub fn valid_kind_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_KIND_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// One named kind of traffic: draws its events (none when muted, scaled by
/// `--load-scale`) and counts them. Cheap to clone; clones count as one kind.
#[derive(Clone)]
pub struct Kind {
    state: Rc<KindState>,
    shared: Rc<Shared>,
    shape: Shape,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kind")
            .field("name", &self.state.name)
            .field("muted", &self.state.muted)
            .field("scale", &self.state.scale)
            .field("events", &self.state.total.get())
            .finish_non_exhaustive()
    }
}

impl Kind {
    pub(crate) fn new(state: Rc<KindState>, shared: Rc<Shared>, shape: Option<Shape>) -> Self {
        Kind {
            state,
            shared,
            shape: shape.unwrap_or_else(|| Shape::new(Diurnal::flat(0.0))),
        }
    }

    /// The kind's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Whether the run replays without this kind (`--mute`).
    pub fn muted(&self) -> bool {
        self.state.muted
    }

    /// The factor on this kind's rate (`--load-scale`; 0 when muted).
    pub fn scale(&self) -> f64 {
        if self.state.muted {
            0.0
        } else {
            self.state.scale
        }
    }

    /// Each event of this kind counts as `n` load events (a spam account that
    /// posts six messages); 0 for a kind whose events are a share of another
    /// kind's, already counted there (the departures that vanish half-open).
    /// The kind's own column still counts its events one by one.
    pub fn weight(self, n: u64) -> Self {
        self.state.weight.set(n);
        self
    }

    /// Declares how long the subjects keep what this kind's events create (the
    /// longest TTL they fill). When every kind a run replays declares it, the
    /// run's retention is the longest among the kinds not muted, instead of the
    /// scenario's ([`crate::Scenario::retention`]): a run without the kinds that
    /// fill a day-long map need not last a day to be judged.
    pub fn retains(self, d: Duration) -> Self {
        self.state.retains.set(Some(d));
        self
    }

    /// Another handle on the same kind drawing from `shape` (a kind replayed as
    /// several phases: a raid's spam wave, its ticket flood, its nuke). Events of
    /// every handle count as this kind's.
    pub fn also(&self, shape: Shape) -> Kind {
        Kind {
            state: self.state.clone(),
            shared: self.shared.clone(),
            shape,
        }
    }

    /// The number of events in `[t, t + dt)` drawn from the kind's shape (Poisson,
    /// as [`Shape::count`]); 0 for a kind declared without a shape.
    pub fn count(&self, rng: &mut Rng, t: Duration, dt: Duration) -> u64 {
        if self.state.muted {
            return 0;
        }
        let n = rng.poisson(self.shape.expected(t, dt) * self.state.scale);
        self.record(n)
    }

    /// A Poisson number of events with `mean` (for rates the scenario computes:
    /// departures in proportion to the clients present, say).
    pub fn poisson(&self, rng: &mut Rng, mean: f64) -> u64 {
        if self.state.muted {
            return 0;
        }
        let n = rng.poisson(mean * self.state.scale);
        self.record(n)
    }

    /// `n` events the scenario schedules itself (a deploy every 20 minutes, a
    /// blip dropping 3,000 clients): all of them at scale 1, none when muted, and
    /// at another scale that share of them, carrying fractions over to the next
    /// call (at 0.5, every other deploy).
    pub fn take(&self, n: u64) -> u64 {
        if self.state.muted {
            return 0;
        }
        let want = n as f64 * self.state.scale + self.state.carry.get();
        let got = want.floor().max(0.0);
        self.state.carry.set(want - got);
        self.record(got as u64)
    }

    /// Whether one event with probability `p` happens (its chance scaled, never
    /// when muted; nothing is drawn when muted).
    pub fn chance(&self, rng: &mut Rng, p: f64) -> bool {
        if self.state.muted {
            return false;
        }
        let hit = rng.chance(p * self.state.scale);
        self.record(u64::from(hit));
        hit
    }

    /// Counts `n` events the scenario decided itself, as they happen (a
    /// reconnect decided when its call began, counted when it comes), without
    /// muting or scaling them: decide with [`Kind::muted`] and [`Kind::scale`].
    pub fn record(&self, n: u64) -> u64 {
        let s = &self.state;
        s.since_sample.set(s.since_sample.get() + n);
        s.total.set(s.total.get() + n);
        self.shared.load(n * s.weight.get());
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names() {
        assert!(valid_kind_name("flag_waves"));
        assert!(valid_kind_name("a1"));
        assert!(!valid_kind_name(""));
        assert!(!valid_kind_name("Flags"));
        assert!(!valid_kind_name("a-b"));
        assert!(!valid_kind_name(&"x".repeat(MAX_KIND_NAME + 1)));
        assert_eq!(column("flags"), "load_flags");
    }
}
