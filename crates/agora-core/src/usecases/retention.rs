//! Per-store retention (`retention_days` of the settings): feed events,
//! audit rows, connection checks and reply drafts older than their period
//! are deleted in small batches by the `retention` job.

use time::Duration;

use crate::catalogue::Catalogued;
use crate::changeset::{Changeset, Guard};
use crate::error::AgoraError;
use crate::ids::*;
use crate::model::*;
use crate::ports::EventFloor;
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;

use super::sweeps::SweepReport;
use super::{Agora, is_retryable};

impl Agora {
    /// One retention batch for a store: up to `limit` rows of each kind
    /// past its period (0 = kept for ever), oldest first, each kind in one
    /// changeset.
    ///
    /// - Events go from the bottom of the feed up, in seq order, so the
    ///   feed stays gap-free above its floor (the oldest seq kept); never
    ///   above a seq a derived-data job (its [`JobCursor`]) has not read,
    ///   none before the KPI job's first run, nor unsequenced ones.
    /// - Reply drafts that were sent stay: their message refers to them.
    ///   The others are deleted guarded on their version (one sent
    ///   meanwhile stays).
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge_retained(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let Some(s) = self.store.get_settings(store_id).await? else { return Ok(report) };
        let now = self.now();
        let cutoff = |days: i64| (days > 0).then(|| now - Duration::days(days));
        if let Some(floor) = self.floor_of(&s).await? {
            let events = self.store.list_events(store_id, 0, limit).await?;
            let doomed: Vec<EventId> = events
                .iter()
                .take_while(|e| e.at < floor.before && e.seq.is_some_and(|q| q <= floor.up_to_seq))
                .map(|e| e.id)
                .collect();
            self.delete_all::<ActivityEvent, _>(&doomed, &mut report).await?;
        }
        if let Some(before) = cutoff(s.retention_audit_logs_days) {
            let q = Query::of::<AuditLog>().eq("store_id", store_id).asc("id").limit(limit);
            let rows: Vec<AuditLog> = self.store.fetch_all(q).await?;
            let doomed: Vec<AuditId> = rows.iter().take_while(|r| r.at < before).map(|r| r.id).collect();
            self.delete_all::<AuditLog, _>(&doomed, &mut report).await?;
        }
        if let Some(before) = cutoff(s.retention_connection_events_days) {
            let q = Query::of::<ConnectionCheck>().eq("store_id", store_id).asc("id").limit(limit);
            let rows: Vec<ConnectionCheck> = self.store.fetch_all(q).await?;
            let doomed: Vec<ConnectionCheckId> = rows.iter().take_while(|r| r.at < before).map(|r| r.id).collect();
            self.delete_all::<ConnectionCheck, _>(&doomed, &mut report).await?;
        }
        if let Some(before) = cutoff(s.retention_drafts_days) {
            let unsent = [DraftStatus::Proposed.as_str(), DraftStatus::Discarded.as_str()];
            let q = Query::of::<ReplyDraft>().eq("store_id", store_id).any("status", unsent).lt("created_at", before);
            let rows: Vec<ReplyDraft> = self.store.fetch_all(q.asc("created_at").limit(limit)).await?;
            if !rows.is_empty() {
                // Guarded on the state read: a draft sent meanwhile stays.
                let mut cs = Changeset::new();
                for d in &rows {
                    cs.guard(Guard::row_is::<ReplyDraft>(d.id, &[("version", Value::Int(d.version))]));
                    cs.delete::<ReplyDraft>(d.id);
                }
                match self.apply_changeset(cs).await {
                    Ok(()) => report.changed += rows.len() as u64,
                    Err(e) if is_retryable(&e) => report.conflicts += 1,
                    Err(e) => return Err(e.into()),
                }
                report.scanned += rows.len() as u64;
            }
        }
        Ok(report)
    }

    /// How far retention may remove the store's feed now: events before
    /// `now - retention_events_days`, up to the lowest seq every
    /// derived-data job ([`JobCursor`]) has read. `None` keeps every event:
    /// the period is 0 (for ever), the store does not exist, or the KPI job
    /// has not run for it yet (with that job off, nothing would ever be
    /// derived from the events, so they are not purged behind its back).
    ///
    /// # Errors
    /// Store errors.
    pub async fn event_floor(&self, store_id: StoreId) -> Result<Option<EventFloor>, AgoraError> {
        match self.store.get_settings(store_id).await? {
            Some(s) => self.floor_of(&s).await,
            None => Ok(None),
        }
    }

    async fn floor_of(&self, s: &StoreSettings) -> Result<Option<EventFloor>, AgoraError> {
        if s.retention_events_days <= 0 {
            return Ok(None);
        }
        let cursors: Vec<JobCursor> = self.store.fetch_all(Query::of::<JobCursor>().eq("store_id", s.store_id)).await?;
        if !cursors.iter().any(|c| c.job == super::kpis::KPI_JOB) {
            return Ok(None);
        }
        let up_to_seq = cursors.iter().map(|c| c.last_seq).min().unwrap_or(0);
        let before = self.now() - Duration::days(s.retention_events_days);
        Ok(Some(EventFloor { store_id: s.store_id, before, up_to_seq }))
    }

    /// Removes whole units of old events at once where the store can
    /// ([`crate::Store::purge_events_in_bulk`]: PostgreSQL drops monthly
    /// partitions), under each of `stores`' [`EventFloor`]. The row deletes
    /// of [`Agora::purge_retained`] reach the same events one batch at a
    /// time; this is the cheap way for whole months.
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge_events_in_bulk(&self, stores: &[StoreId]) -> Result<SweepReport, AgoraError> {
        let mut floors = Vec::with_capacity(stores.len());
        for &store_id in stores {
            floors.extend(self.event_floor(store_id).await?);
        }
        if floors.is_empty() {
            return Ok(SweepReport::default());
        }
        let removed = self.store.purge_events_in_bulk(&floors).await?;
        Ok(SweepReport { scanned: removed, changed: removed, conflicts: 0 })
    }

    /// Deletes `keys` of `T` in one changeset, counting them in `report`.
    pub(super) async fn delete_all<T: Catalogued, K: Into<crate::schema::Key> + Copy>(
        &self,
        keys: &[K],
        report: &mut SweepReport,
    ) -> Result<(), AgoraError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cs = Changeset::new();
        for k in keys {
            cs.delete::<T>(*k);
        }
        self.apply_changeset(cs).await?;
        report.scanned += keys.len() as u64;
        report.changed += keys.len() as u64;
        Ok(())
    }
}
