//! The event feed. Events are written unsequenced in the changeset of the
//! change they describe (an outbox) and numbered afterwards by a single
//! sequencer per store, so a store's seqs run 1, 2, 3, ... without gaps,
//! no write serialises on a counter row, and an event never appears below a
//! seq a reader has passed.

use std::time::Duration;

use crate::changeset::{Changeset, Write};
use crate::error::AgoraError;
use crate::ids::*;
use crate::reads::Reads;
use crate::views::*;

use super::{Actor, Agora, failed_guard, require_admin};

/// Events numbered per sequencer run at most.
const SEQUENCE_BATCH: u32 = 1000;

impl Agora {
    /// Numbers a store's committed, unsequenced events after its last seq.
    /// Safe to run anywhere at any time: a lock keeps two sequencers from
    /// doing the same work, and the sequencing write's `EventSeqIs` condition keeps a lost race
    /// from writing anything. Returns how many events were numbered.
    ///
    /// # Errors
    /// Store errors.
    pub async fn sequence_events(&self, store_id: StoreId) -> Result<u64, AgoraError> {
        let lock_name = format!("sequencer:{store_id}");
        let Some(lease) = self.locks.try_acquire(&lock_name, Duration::from_secs(30)).await? else {
            return Ok(0);
        };
        let result = self.sequence_events_locked(store_id).await;
        let _ = self.locks.release(&lease).await;
        result
    }

    async fn sequence_events_locked(&self, store_id: StoreId) -> Result<u64, AgoraError> {
        let mut total = 0;
        loop {
            let last = self.store.last_event_seq(store_id).await?;
            let events = self.store.list_unsequenced_events(store_id, SEQUENCE_BATCH).await?;
            if events.is_empty() {
                return Ok(total);
            }
            let n = events.len() as u64;
            let mut cs = Changeset::new();
            cs.write(Write::SequenceEvents { store_id, after: last, events: events.iter().map(|e| e.id).collect() });
            match self.apply_changeset(cs).await {
                Ok(()) => total += n,
                Err(e) if failed_guard(&e).is_some() => return Ok(total),
                Err(e) => return Err(e.into()),
            }
            if n < u64::from(SEQUENCE_BATCH) {
                return Ok(total);
            }
        }
    }

    /// A store's feed after `after`, in seq order (store admin). Numbers
    /// pending events first, so the feed is current when read.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` for a bad limit or `after`.
    pub async fn list_events(
        &self,
        actor: &Actor,
        store_id: StoreId,
        after: i64,
        limit: Option<u32>,
    ) -> Result<EventPage, AgoraError> {
        require_admin(actor, store_id)?;
        let limit = limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(AgoraError::validation("limit", "must be between 1 and 200"));
        }
        if after < 0 {
            return Err(AgoraError::validation("after", "must not be negative"));
        }
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        self.sequence_events(store_id).await?;
        let events = self.store.list_events(store_id, after, limit).await?;
        let next_after = events.last().and_then(|e| e.seq).unwrap_or(after);
        Ok(EventPage {
            items: events
                .into_iter()
                .map(|e| EventView {
                    seq: e.seq.unwrap_or_default(),
                    id: e.id.0,
                    entity_type: e.entity_type,
                    entity_id: e.entity_id,
                    kind: e.kind,
                    payload: e.payload,
                    at: e.at,
                })
                .collect(),
            next_after,
        })
    }
}
