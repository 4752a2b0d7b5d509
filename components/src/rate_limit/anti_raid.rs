//! Seed 000's anti-raid recovery caches (`antiRaid.ts`): snapshots of deleted
//! channels and roles kept so a moderator can restore them after a nuke, once
//! unbounded maps, now [`TtlMap`]s with a 1 h TTL swept every 10 min. The leaky twin
//! keeps every snapshot of every raid forever.

use std::time::Duration;

use crate::ttl_map::{Cleanup, TtlMap, TtlMapError};

/// How long a deleted channel or role stays recoverable.
pub const RECOVERY_TTL: Duration = Duration::from_secs(60 * 60);
/// Sweep period of the recovery caches.
pub const RECOVERY_SWEEP: Duration = Duration::from_secs(10 * 60);

/// One permission overwrite of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overwrite {
    /// Role or member id.
    pub id: u64,
    /// Allowed permission bits.
    pub allow: u64,
    /// Denied permission bits.
    pub deny: u64,
}

/// What is needed to recreate a deleted channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSnapshot {
    /// Channel name.
    pub name: String,
    /// Channel topic.
    pub topic: String,
    /// Category the channel sat in.
    pub parent: Option<u64>,
    /// Position in the list.
    pub position: u32,
    /// Permission overwrites.
    pub overwrites: Vec<Overwrite>,
}

/// What is needed to recreate a deleted role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSnapshot {
    /// Role name.
    pub name: String,
    /// Colour.
    pub color: u32,
    /// Permission bits.
    pub permissions: u64,
    /// Position in the hierarchy.
    pub position: u32,
}

/// The two recovery caches, keyed `guild:channel` and `guild:role`.
#[derive(Debug, Clone)]
pub struct RecoveryCache {
    channels: TtlMap<String, ChannelSnapshot>,
    roles: TtlMap<String, RoleSnapshot>,
}

impl RecoveryCache {
    /// Both caches with seed 000's 1 h TTL and 10 min sweep (or none, leaky).
    pub fn new(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Ok(RecoveryCache {
            channels: TtlMap::new(RECOVERY_TTL, RECOVERY_SWEEP, cleanup)?,
            roles: TtlMap::new(RECOVERY_TTL, RECOVERY_SWEEP, cleanup)?,
        })
    }

    /// Remembers a deleted channel.
    pub fn channel_deleted(&self, guild: u64, channel: u64, snapshot: ChannelSnapshot) {
        self.channels.insert(key(guild, channel), snapshot);
    }

    /// Remembers a deleted role.
    pub fn role_deleted(&self, guild: u64, role: u64, snapshot: RoleSnapshot) {
        self.roles.insert(key(guild, role), snapshot);
    }

    /// Takes a deleted channel's snapshot to restore it, if still recoverable.
    pub fn restore_channel(&self, guild: u64, channel: u64) -> Option<ChannelSnapshot> {
        self.channels.remove(&key(guild, channel))
    }

    /// Takes a deleted role's snapshot to restore it, if still recoverable.
    pub fn restore_role(&self, guild: u64, role: u64) -> Option<RoleSnapshot> {
        self.roles.remove(&key(guild, role))
    }

    /// The deleted-channels cache (`deleted_channels` gauge).
    pub fn channels(&self) -> &TtlMap<String, ChannelSnapshot> {
        &self.channels
    }

    /// The deleted-roles cache (`deleted_roles` gauge).
    pub fn roles(&self) -> &TtlMap<String, RoleSnapshot> {
        &self.roles
    }

    /// Stops the sweeps and drops every snapshot.
    pub fn shutdown(&self) {
        self.channels.shutdown();
        self.roles.shutdown();
    }
}

fn key(guild: u64, id: u64) -> String {
    format!("{guild}:{id}")
}
