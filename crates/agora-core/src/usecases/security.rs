//! Market-wide security events (issue 19): what happened to no one store in
//! particular, today logins refused by a rate limit. The super admin reads
//! them at `GET /v1/admin/security-events`; store-scoped security changes
//! (admin keys, status and plan, inventory, payouts) are in each store's
//! audit log.

use std::collections::HashSet;

use parking_lot::Mutex;

use super::sweeps::SweepReport;
use super::{Agora, ListQuery, next_cursor, require_super};
use crate::changeset::Changeset;
use crate::error::{AgoraError, StoreError};
use crate::views::{ListPage, SecurityEventView};
use crate::{Actor, Query, Reads, Record, SecurityEvent, SecurityEventId};

/// At most this many once-keys are remembered per minute; past it, the
/// store's unique key alone keeps one row per subject and minute.
const MAX_REMEMBERED: usize = 10_000;

/// The once-keys this process wrote in the current minute, so a flood of
/// refused attempts costs one insert per subject and minute, not one per
/// attempt (the store's unique key does the same across processes).
#[derive(Debug, Default)]
pub(crate) struct RecentSecurityEvents {
    seen: Mutex<(i64, HashSet<String>)>,
}

impl Agora {
    /// Records `kind` happening to `subject` (from `ip`) once per minute.
    /// Best effort: the decision that caused it stands whether or not the
    /// row could be written.
    pub(crate) async fn record_security_event(&self, kind: &str, subject: &str, ip: Option<&str>) {
        let now = self.now();
        let minute = now.unix_timestamp().div_euclid(60);
        let once_key = format!("{kind}|{subject}|{minute}");
        {
            let mut seen = self.recent_security_events.seen.lock();
            if seen.0 != minute {
                *seen = (minute, HashSet::new());
            }
            if seen.1.contains(&once_key) {
                return;
            }
            if seen.1.len() < MAX_REMEMBERED {
                seen.1.insert(once_key.clone());
            }
        }
        let row = SecurityEvent {
            id: SecurityEventId(self.new_uuid()),
            at: now,
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            ip: ip.map(str::to_owned),
            once_key,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::SecurityEvent(row));
        match self.apply_changeset(cs).await {
            // Another process wrote this minute's row first.
            Ok(()) | Err(StoreError::Duplicate(_)) => {}
            // A store that cannot write says so on every other request; the
            // refusal this records has already been decided.
            Err(_) => {}
        }
    }

    /// Deletes up to `limit` security events older than
    /// `security_event_retention` (none when it is zero), oldest first; the
    /// worker's `retention` job calls it every pass.
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge_old_security_events(&self, limit: u32) -> Result<SweepReport, AgoraError> {
        let keep = self.config.security_event_retention;
        if keep <= time::Duration::ZERO {
            return Ok(SweepReport::default());
        }
        let before = self.now() - keep;
        // Ids are time-ordered (UUID v7): the oldest come first.
        let rows: Vec<SecurityEvent> =
            self.store.fetch_all(Query::of::<SecurityEvent>().asc("id").limit(limit)).await?;
        let doomed: Vec<SecurityEventId> = rows.iter().take_while(|e| e.at < before).map(|e| e.id).collect();
        let mut report = SweepReport::default();
        self.delete_all::<SecurityEvent, _>(&doomed, &mut report).await?;
        Ok(report)
    }

    /// The market's security events, newest first (super admin).
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `validation` for a bad limit or cursor.
    pub async fn list_security_events(
        &self,
        actor: &Actor,
        q: &ListQuery,
    ) -> Result<ListPage<SecurityEventView>, AgoraError> {
        require_super(actor)?;
        let page = q.page()?;
        let rows: Vec<SecurityEvent> = self.store.fetch_all(Query::of::<SecurityEvent>().page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |e| e.id.0),
            items: rows
                .into_iter()
                .map(|e| SecurityEventView { id: e.id.0, at: e.at, kind: e.kind, subject: e.subject, ip: e.ip })
                .collect(),
        })
    }
}
