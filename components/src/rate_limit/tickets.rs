//! Seed 000's ticket state (`tickets/index.ts`): the category a user picked in the
//! ticket select menu (`pendingTicketSelects`, 15 min) and the question labels of
//! the form shown next (`questionLabelMap`, 30 min). Users who open the menu and
//! walk away leave both behind; the fixed maps expire them, the leaky twin keeps them.

use std::time::Duration;

use crate::ttl_map::{Cleanup, TtlMap, TtlMapError};

/// How long a pending select waits for the user.
pub const SELECT_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the form's question labels are kept.
pub const QUESTION_TTL: Duration = Duration::from_secs(30 * 60);
/// Sweep period of both maps (the seed gives none; 5 min).
pub const TICKET_SWEEP: Duration = Duration::from_secs(5 * 60);

/// The two ticket maps, keyed `guild:user`.
#[derive(Debug, Clone)]
pub struct Tickets {
    selects: TtlMap<String, u32>,
    questions: TtlMap<String, Vec<String>>,
}

impl Tickets {
    /// Both maps with seed 000's TTLs (or no cleanup, leaky).
    pub fn new(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Ok(Tickets {
            selects: TtlMap::new(SELECT_TTL, TICKET_SWEEP, cleanup)?,
            questions: TtlMap::new(QUESTION_TTL, TICKET_SWEEP, cleanup)?,
        })
    }

    /// The user opened the select menu and picked `category`: remember the pick
    /// and the labels of the form it shows.
    pub fn select(&self, guild: u64, user: u64, category: u32, labels: Vec<String>) {
        let k = key(guild, user);
        self.questions.insert(k.clone(), labels);
        self.selects.insert(k, category);
    }

    /// The user submitted the form: the picked category and the question labels,
    /// if they are still known. Both entries are consumed.
    pub fn submit(&self, guild: u64, user: u64) -> Option<(u32, Vec<String>)> {
        let k = key(guild, user);
        let category = self.selects.remove(&k);
        let labels = self.questions.remove(&k);
        category.zip(labels)
    }

    /// The pending-selects map (`ticket_selects` gauge).
    pub fn selects(&self) -> &TtlMap<String, u32> {
        &self.selects
    }

    /// The question-labels map (`ticket_questions` gauge).
    pub fn questions(&self) -> &TtlMap<String, Vec<String>> {
        &self.questions
    }

    /// Stops the sweeps and drops every entry.
    pub fn shutdown(&self) {
        self.selects.shutdown();
        self.questions.shutdown();
    }
}

fn key(guild: u64, user: u64) -> String {
    format!("{guild}:{user}")
}
