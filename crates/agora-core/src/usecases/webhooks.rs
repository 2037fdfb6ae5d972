//! Outgoing webhooks: endpoints per store, and the deliveries of the
//! store's feed events to them, at least once and in seq order per
//! endpoint.
//!
//! * **Fan-out** ([`Agora::fan_out_webhooks`]) turns the feed events past an
//!   endpoint's `fanned_out_seq` into deliveries, moving the cursor in the
//!   same commit (unique per endpoint and seq: a second worker doing the
//!   same stretch writes nothing).
//! * **Order**: only an endpoint's lowest pending delivery (its head) has a
//!   `next_attempt_at`; the next one gets it in the commit that settles the
//!   head. Every change of an endpoint's queue is guarded on the endpoint's
//!   `version`, so fan-out, attempts, retries and edits serialise.
//! * **Attempts** ([`Agora::deliver_next_webhook`]): 2xx delivers; a 4xx
//!   other than 408/429 fails the delivery for good; anything else retries
//!   with [`crate::outgoing::retry_delay`]. An endpoint failing for
//!   [`crate::outgoing::DISABLE_AFTER`] is disabled (audited).
//!
//! A worker killed between the POST and its commit sends that delivery
//! again: receivers deduplicate on `delivery_id` (or the event id).

use crate::catalogue::Record;
use crate::changeset::{Changeset, Guard};
use crate::error::AgoraError;
use crate::ids::*;
use crate::model::*;
use crate::outgoing::{DISABLE_AFTER, OutgoingWebhook, WebhookAnswer, retry_delay, sign_outgoing};
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::validate::Validator;
use crate::views::*;

use super::sweeps::SweepReport;
use super::{Actor, Agora, ListQuery, failed_guard, is_retryable, next_cursor, require_admin, too_contended};

/// Most event kinds on one endpoint.
pub const MAX_ENDPOINT_EVENTS: usize = 50;
/// Longest endpoint URL.
pub const MAX_ENDPOINT_URL: usize = 2048;
/// Prefix of endpoint secrets.
pub const ENDPOINT_SECRET_PREFIX: &str = "whsec_";

/// Feed events turned into deliveries per endpoint and commit, at most.
const FAN_OUT_PAGE: u32 = 1000;

/// Deliveries deleted per commit when an endpoint is deleted.
const DELETE_CHUNK: u32 = 500;

fn endpoint_view(e: &WebhookEndpoint, secret: Option<String>) -> WebhookEndpointView {
    WebhookEndpointView {
        id: e.id.0,
        store_id: e.store_id.0,
        url: e.url.clone(),
        events: e.events.clone(),
        description: e.description.clone(),
        status: e.status.as_str().to_owned(),
        disabled_reason: e.disabled_reason.clone(),
        failing_since: e.failing_since,
        secret,
        created_at: e.created_at,
    }
}

fn delivery_view(d: &WebhookDelivery) -> WebhookDeliveryView {
    WebhookDeliveryView {
        id: d.id.0,
        endpoint_id: d.endpoint_id.0,
        event_id: d.event_id.0,
        seq: d.seq,
        kind: d.kind.clone(),
        status: d.status.as_str().to_owned(),
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        next_attempt_at: d.next_attempt_at,
        delivered_at: d.delivered_at,
        created_at: d.created_at,
    }
}

fn endpoint_version_is(e: &WebhookEndpoint) -> Guard {
    Guard::row_is::<WebhookEndpoint>(e.id, &[("version", Value::Int(e.version))])
}

fn delivery_is(d: &WebhookDelivery) -> Guard {
    Guard::row_is::<WebhookDelivery>(d.id, &[("status", d.status.into()), ("attempts", Value::Int(d.attempts))])
}

/// Whether an endpoint listening to `events` receives `kind`.
fn wants(events: &[String], kind: &str) -> bool {
    events.iter().any(|e| e == "*" || e == kind)
}

fn check_events(v: &mut Validator, events: &[String]) {
    v.check(
        !events.is_empty() && events.len() <= MAX_ENDPOINT_EVENTS,
        "events",
        "must list 1 to 50 event kinds, or \"*\"",
    );
    for (i, e) in events.iter().enumerate() {
        let kind_like = e.len() <= 100
            && e.split('.').count() >= 2
            && e.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        v.check(e == "*" || kind_like, format!("events[{i}]"), "must be an event kind like order.paid, or \"*\"");
    }
}

impl Agora {
    /// Adds an endpoint to a store (store admin); the answer carries its
    /// signing secret, which is stored sealed by the keyring and never
    /// shown again. Events from now on are delivered to it.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` (a URL that is malformed
    /// or whose target is refused, bad event kinds).
    pub async fn create_webhook_endpoint(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewWebhookEndpoint,
    ) -> Result<WebhookEndpointView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.text("url", &req.url, 1, MAX_ENDPOINT_URL);
        check_events(&mut v, &req.events);
        if let Some(d) = &req.description {
            v.text("description", d, 0, 500);
        }
        v.finish()?;
        let url = req.url.trim().to_owned();
        self.webhooks.check_target(&url).await.map_err(|why| AgoraError::validation("url", &why))?;
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let secret = crate::secrets::random_token(ENDPOINT_SECRET_PREFIX, self.entropy.as_ref());
        let now = self.now();
        let mut events = req.events.clone();
        events.dedup();
        let endpoint = WebhookEndpoint {
            id: WebhookEndpointId(self.new_uuid()),
            store_id,
            url,
            events,
            description: req.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()),
            status: WebhookEndpointStatus::Enabled,
            secret: self.keyring.seal(&secret, self.entropy.as_ref()),
            // Events committed from here on; the feed's past is not replayed.
            fanned_out_seq: self.store.last_event_seq(store_id).await?,
            failing_since: None,
            disabled_reason: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::WebhookEndpoint(endpoint.clone()));
        cs.insert(self.audit_row(
            actor,
            store_id,
            None,
            &format!("webhook_endpoint:{}", endpoint.id),
            None,
            Some(endpoint.url.clone()),
        ));
        self.apply_changeset(cs).await?;
        Ok(endpoint_view(&endpoint, Some(secret)))
    }

    /// A store's endpoints, newest first (store admin; no secrets).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_webhook_endpoints(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<WebhookEndpointView>, AgoraError> {
        require_admin(actor, store_id)?;
        let page = q.page()?;
        let rows: Vec<WebhookEndpoint> =
            self.store.fetch_all(Query::of::<WebhookEndpoint>().eq("store_id", store_id).page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |e| e.id.0),
            items: rows.iter().map(|e| endpoint_view(e, None)).collect(),
        })
    }

    async fn admin_endpoint(&self, actor: &Actor, id: WebhookEndpointId) -> Result<WebhookEndpoint, AgoraError> {
        self.admin_row::<WebhookEndpoint, _>(actor, id, "webhook endpoint", |e| e.store_id).await
    }

    /// Changes an endpoint's URL, events, description or status (store
    /// admin). Enabling it again clears its failure run and sends what
    /// waited; disabling it holds its deliveries.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn patch_webhook_endpoint(
        &self,
        actor: &Actor,
        id: WebhookEndpointId,
        patch: WebhookEndpointPatch,
    ) -> Result<WebhookEndpointView, AgoraError> {
        let mut v = Validator::new();
        if let Some(u) = &patch.url {
            v.text("url", u, 1, MAX_ENDPOINT_URL);
        }
        if let Some(e) = &patch.events {
            check_events(&mut v, e);
        }
        if let Some(d) = &patch.description {
            v.text("description", d, 0, 500);
        }
        let status = match patch.status.as_deref() {
            None => None,
            Some(s) => {
                let parsed = WebhookEndpointStatus::parse(s);
                v.check(parsed.is_some(), "status", "must be enabled or disabled");
                parsed
            }
        };
        v.finish()?;
        if let Some(u) = &patch.url {
            self.webhooks.check_target(u.trim()).await.map_err(|why| AgoraError::validation("url", &why))?;
        }
        for _ in 0..self.config.max_attempts {
            let e = self.admin_endpoint(actor, id).await?;
            let now = self.now();
            let mut next = WebhookEndpoint { version: e.version + 1, updated_at: now, ..e.clone() };
            if let Some(u) = &patch.url {
                next.url = u.trim().to_owned();
            }
            if let Some(events) = &patch.events {
                next.events = events.clone();
                next.events.dedup();
            }
            if let Some(d) = &patch.description {
                next.description = Some(d.trim().to_owned()).filter(|d| !d.is_empty());
            }
            let mut cs = Changeset::new();
            cs.guard(endpoint_version_is(&e));
            if let Some(to) = status
                && to != e.status
            {
                next.status = to;
                if to == WebhookEndpointStatus::Enabled {
                    next.failing_since = None;
                    next.disabled_reason = None;
                }
                self.set_head_time(&mut cs, &e, (to == WebhookEndpointStatus::Enabled).then_some(now)).await?;
                cs.insert(self.audit_row(
                    actor,
                    e.store_id,
                    None,
                    &format!("webhook_endpoint:{}", e.id),
                    Some(e.status.as_str().to_owned()),
                    Some(to.as_str().to_owned()),
                ));
            }
            cs.update(Record::WebhookEndpoint(next.clone()));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(endpoint_view(&next, None)),
                Err(err) if is_retryable(&err) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(too_contended())
    }

    /// Gives the endpoint's head delivery this `next_attempt_at` (none: it
    /// waits, e.g. while the endpoint is disabled).
    async fn set_head_time(
        &self,
        cs: &mut Changeset,
        e: &WebhookEndpoint,
        at: Option<time::OffsetDateTime>,
    ) -> Result<(), AgoraError> {
        if let Some(head) = self.pending_head(e.id).await? {
            cs.guard(delivery_is(&head));
            cs.update(Record::WebhookDelivery(WebhookDelivery { next_attempt_at: at, updated_at: self.now(), ..head }));
        }
        Ok(())
    }

    /// The endpoint's lowest pending delivery.
    async fn pending_head(&self, id: WebhookEndpointId) -> Result<Option<WebhookDelivery>, AgoraError> {
        let q = Query::of::<WebhookDelivery>()
            .eq("endpoint_id", id)
            .is("status", WebhookDeliveryStatus::Pending.as_str())
            .asc("seq")
            .limit(1);
        Ok(self.store.fetch_one(q).await?)
    }

    /// Deletes an endpoint and its delivery log (store admin). It is
    /// disabled first, so nothing new is queued while its log goes.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn delete_webhook_endpoint(&self, actor: &Actor, id: WebhookEndpointId) -> Result<(), AgoraError> {
        let e = self.admin_endpoint(actor, id).await?;
        if e.status == WebhookEndpointStatus::Enabled {
            let patch = WebhookEndpointPatch { status: Some("disabled".into()), ..Default::default() };
            self.patch_webhook_endpoint(actor, id, patch).await?;
        }
        loop {
            let q = Query::of::<WebhookDelivery>().eq("endpoint_id", id).page(crate::ports::Page::first(DELETE_CHUNK));
            let chunk: Vec<WebhookDelivery> = self.store.fetch_all(q).await?;
            if chunk.is_empty() {
                break;
            }
            let mut cs = Changeset::new();
            for d in &chunk {
                cs.delete::<WebhookDelivery>(d.id);
            }
            match self.apply_changeset(cs).await {
                Ok(()) | Err(crate::error::StoreError::Missing(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        for _ in 0..self.config.max_attempts {
            let Some(e) = self.store.get::<WebhookEndpoint, _>(id).await? else { return Ok(()) };
            let mut cs = Changeset::new();
            cs.guard(endpoint_version_is(&e)).delete::<WebhookEndpoint>(id);
            cs.insert(self.audit_row(actor, e.store_id, None, &format!("webhook_endpoint:{id}"), Some(e.url), None));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(()),
                Err(err) if is_retryable(&err) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(too_contended())
    }

    /// An endpoint's deliveries, newest first, optionally of one status
    /// (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_webhook_deliveries(
        &self,
        actor: &Actor,
        id: WebhookEndpointId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<WebhookDeliveryView>, AgoraError> {
        let status = match status.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                WebhookDeliveryStatus::parse(s)
                    .ok_or_else(|| AgoraError::validation("status", "must be pending, delivered or failed"))?,
            ),
        };
        let page = q.page()?;
        let e = self.admin_endpoint(actor, id).await?;
        let q = Query::of::<WebhookDelivery>().eq("endpoint_id", e.id).is_opt("status", status.map(|s| s.as_str()));
        let rows: Vec<WebhookDelivery> = self.store.fetch_all(q.page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |d| d.id.0),
            items: rows.iter().map(delivery_view).collect(),
        })
    }

    /// Sends a failed delivery again, or a pending one now (store admin):
    /// it is pending again and, when it is the endpoint's oldest pending
    /// delivery, due now; otherwise it waits for the ones before it.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` for a delivered one.
    pub async fn retry_webhook_delivery(
        &self,
        actor: &Actor,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDeliveryView, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let d = self.admin_row::<WebhookDelivery, _>(actor, id, "delivery", |d| d.store_id).await?;
            if d.status == WebhookDeliveryStatus::Delivered {
                return Err(AgoraError::InvalidTransition {
                    entity: "delivery",
                    from: d.status.to_string(),
                    to: "pending".into(),
                });
            }
            let e =
                self.store.get::<WebhookEndpoint, _>(d.endpoint_id).await?.ok_or(AgoraError::NotFound("delivery"))?;
            let now = self.now();
            let head = self.pending_head(e.id).await?;
            let enabled = e.status == WebhookEndpointStatus::Enabled;
            let mut cs = Changeset::new();
            cs.guard(endpoint_version_is(&e)).guard(delivery_is(&d));
            cs.update(Record::WebhookEndpoint(WebhookEndpoint {
                version: e.version + 1,
                updated_at: now,
                ..e.clone()
            }));
            let becomes_head = match &head {
                None => true,
                Some(h) if h.id == d.id => true,
                Some(h) if d.seq < h.seq => {
                    cs.guard(delivery_is(h));
                    cs.update(Record::WebhookDelivery(WebhookDelivery {
                        next_attempt_at: None,
                        updated_at: now,
                        ..h.clone()
                    }));
                    true
                }
                Some(_) => false,
            };
            let next = WebhookDelivery {
                status: WebhookDeliveryStatus::Pending,
                next_attempt_at: (becomes_head && enabled).then_some(now),
                updated_at: now,
                ..d.clone()
            };
            cs.update(Record::WebhookDelivery(next.clone()));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(delivery_view(&next)),
                Err(err) if is_retryable(&err) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(too_contended())
    }

    /// Deletes up to `limit` delivered and failed deliveries (each) last
    /// changed before the retention period
    /// (`domain.webhook_delivery_retention_days`); pending ones stay.
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge_old_webhook_deliveries(&self, limit: u32) -> Result<SweepReport, AgoraError> {
        let keep = self.config.webhook_delivery_retention;
        let mut report = SweepReport::default();
        if keep <= time::Duration::ZERO {
            return Ok(report);
        }
        let before = self.now() - keep;
        for status in [WebhookDeliveryStatus::Delivered, WebhookDeliveryStatus::Failed] {
            let q = Query::of::<WebhookDelivery>()
                .is("status", status.as_str())
                .lt("updated_at", before)
                .asc("updated_at")
                .limit(limit);
            let doomed: Vec<WebhookDeliveryId> =
                self.store.fetch_all::<WebhookDelivery>(q).await?.into_iter().map(|d| d.id).collect();
            self.delete_all::<WebhookDelivery, _>(&doomed, &mut report).await?;
        }
        Ok(report)
    }

    /// Whether a store has endpoints to fan its feed out to (the worker's
    /// cheap look before [`Agora::fan_out_webhooks`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn has_webhook_endpoints(&self, store_id: StoreId) -> Result<bool, AgoraError> {
        let q = Query::of::<WebhookEndpoint>().eq("store_id", store_id).page(crate::ports::Page::first(1));
        Ok(!self.store.fetch_all::<WebhookEndpoint>(q).await?.is_empty())
    }

    /// Turns up to `limit` feed events per enabled endpoint of the store
    /// into deliveries, each endpoint in one commit with its moved cursor.
    /// A disabled endpoint's cursor waits (its events are queued when it is
    /// enabled again: nothing is lost).
    ///
    /// # Errors
    /// Store errors; a lost race is a conflict in the report.
    pub async fn fan_out_webhooks(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let endpoints: Vec<WebhookEndpoint> =
            self.store.fetch_all(Query::of::<WebhookEndpoint>().eq("store_id", store_id)).await?;
        for e in endpoints.iter().filter(|e| e.status == WebhookEndpointStatus::Enabled) {
            let events = self.store.list_events(store_id, e.fanned_out_seq, limit.clamp(1, FAN_OUT_PAGE)).await?;
            let Some(last) = events.last().and_then(|ev| ev.seq) else { continue };
            report.scanned += events.len() as u64;
            let now = self.now();
            let mut needs_head = self.pending_head(e.id).await?.is_none();
            let mut cs = Changeset::new();
            cs.guard(endpoint_version_is(e));
            let mut queued = 0;
            for ev in events.iter().filter(|ev| wants(&e.events, &ev.kind)) {
                cs.insert(Record::WebhookDelivery(WebhookDelivery {
                    id: WebhookDeliveryId(self.new_uuid()),
                    endpoint_id: e.id,
                    store_id,
                    event_id: ev.id,
                    seq: ev.seq.unwrap_or_default(),
                    kind: ev.kind.clone(),
                    status: WebhookDeliveryStatus::Pending,
                    attempts: 0,
                    last_status: None,
                    last_error: None,
                    next_attempt_at: needs_head.then_some(now),
                    delivered_at: None,
                    created_at: now,
                    updated_at: now,
                }));
                needs_head = false;
                queued += 1;
            }
            cs.update(Record::WebhookEndpoint(WebhookEndpoint {
                fanned_out_seq: last,
                version: e.version + 1,
                updated_at: now,
                ..e.clone()
            }));
            match self.apply_changeset(cs).await {
                Ok(()) => report.changed += queued,
                Err(err) if is_retryable(&err) => report.conflicts += 1,
                Err(err) => return Err(err.into()),
            }
        }
        Ok(report)
    }

    /// Endpoints (market-wide) whose head delivery is due now, most
    /// overdue first, at most `limit`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn due_webhook_endpoints(&self, limit: u32) -> Result<Vec<WebhookEndpointId>, AgoraError> {
        let q = Query::of::<WebhookDelivery>()
            .is("status", WebhookDeliveryStatus::Pending.as_str())
            .le("next_attempt_at", self.now())
            .asc("next_attempt_at")
            .limit(limit);
        let due: Vec<WebhookDelivery> = self.store.fetch_all(q).await?;
        let mut ids: Vec<WebhookEndpointId> = Vec::with_capacity(due.len());
        for d in due {
            if !ids.contains(&d.endpoint_id) {
                ids.push(d.endpoint_id);
            }
        }
        Ok(ids)
    }

    /// One attempt of the endpoint's head delivery, when it is due: the
    /// signed POST, then its outcome, the next head and the endpoint's
    /// failure run in one commit. `None` when nothing was due.
    ///
    /// # Errors
    /// Store errors; `internal` when the endpoint's secret cannot be
    /// opened. A lost race (another worker settled it) is a `conflict`.
    pub async fn deliver_next_webhook(&self, id: WebhookEndpointId) -> Result<Option<WebhookDeliveryView>, AgoraError> {
        let Some(e) = self.store.get::<WebhookEndpoint, _>(id).await? else { return Ok(None) };
        if e.status != WebhookEndpointStatus::Enabled {
            return Ok(None);
        }
        let Some(head) = self.pending_head(id).await? else { return Ok(None) };
        if head.next_attempt_at.is_none_or(|at| at > self.now()) {
            return Ok(None);
        }
        let (answer, gone) = match self.store.get::<ActivityEvent, _>(head.event_id).await? {
            // Retention removed it before it could be delivered: it never
            // can be, so it fails now instead of retrying for days.
            None => (WebhookAnswer::Error("the event is no longer in the feed".into()), true),
            Some(event) => {
                let request = self.signed_request(&e, &head, &event)?;
                (self.webhooks.send(&request).await, false)
            }
        };
        self.record_attempt(&e, &head, &answer, gone).await.map(Some)
    }

    fn signed_request(
        &self,
        e: &WebhookEndpoint,
        d: &WebhookDelivery,
        event: &ActivityEvent,
    ) -> Result<OutgoingWebhook, AgoraError> {
        let view = EventView {
            seq: event.seq.unwrap_or(d.seq),
            id: event.id.0,
            entity_type: event.entity_type.clone(),
            entity_id: event.entity_id,
            kind: event.kind.clone(),
            payload: event.payload.clone(),
            at: event.at,
        };
        let body = serde_json::to_vec(&serde_json::json!({"delivery_id": d.id, "event": view}))
            .map_err(|err| AgoraError::Internal(err.to_string()))?;
        let secret = self.keyring.open(&e.secret)?;
        let signature = sign_outgoing(secret.as_bytes(), self.now().unix_timestamp(), &body);
        Ok(OutgoingWebhook {
            url: e.url.clone(),
            headers: vec![
                ("Content-Type", "application/json".into()),
                ("User-Agent", "agora-webhooks/1".into()),
                ("Agora-Event-Id", event.id.0.to_string()),
                ("Agora-Delivery-Id", d.id.0.to_string()),
                ("Agora-Signature", signature),
            ],
            body,
        })
    }

    /// Writes what an attempt got back; see the module documentation.
    /// Fan-out and edits move the endpoint's version while a request is
    /// out: as long as the delivery itself is as it was, the answer is
    /// recorded against the endpoint as it is now, so an answer is lost
    /// (and the delivery sent again) only when the process dies.
    async fn record_attempt(
        &self,
        e: &WebhookEndpoint,
        d: &WebhookDelivery,
        answer: &WebhookAnswer,
        gone: bool,
    ) -> Result<WebhookDeliveryView, AgoraError> {
        let settled_elsewhere =
            || AgoraError::Conflict { message: "the delivery was settled by someone else".into(), retry_after: None };
        let mut endpoint = e.clone();
        for _ in 0..self.config.max_attempts {
            match self.try_record_attempt(&endpoint, d, answer, gone).await {
                Err(err) if failed_guard(&err).is_some() => {
                    let now_d = self.store.get::<WebhookDelivery, _>(d.id).await?;
                    if !now_d.is_some_and(|n| n.status == d.status && n.attempts == d.attempts) {
                        return Err(settled_elsewhere());
                    }
                    endpoint = self.store.get::<WebhookEndpoint, _>(e.id).await?.ok_or_else(settled_elsewhere)?;
                }
                Err(err) => return Err(err.into()),
                Ok(view) => return Ok(view),
            }
        }
        Err(super::too_contended())
    }

    async fn try_record_attempt(
        &self,
        e: &WebhookEndpoint,
        d: &WebhookDelivery,
        answer: &WebhookAnswer,
        gone: bool,
    ) -> Result<WebhookDeliveryView, crate::error::StoreError> {
        let now = self.now();
        let attempts = d.attempts + 1;
        let (last_status, last_error) = match answer {
            WebhookAnswer::Status(s) => (Some(i64::from(*s)), None),
            WebhookAnswer::Error(err) => (None, Some(err.chars().take(500).collect::<String>())),
        };
        let mut next = WebhookDelivery { attempts, last_status, last_error, updated_at: now, ..d.clone() };
        let mut endpoint = WebhookEndpoint { version: e.version + 1, updated_at: now, ..e.clone() };
        let settled = if answer.delivered() {
            next.status = WebhookDeliveryStatus::Delivered;
            next.delivered_at = Some(now);
            next.next_attempt_at = None;
            endpoint.failing_since = None;
            true
        } else {
            let since = *endpoint.failing_since.get_or_insert(now);
            if gone {
                endpoint.failing_since = e.failing_since;
            }
            let refused = answer.refused() || gone;
            if refused {
                next.status = WebhookDeliveryStatus::Failed;
                next.next_attempt_at = None;
            } else {
                let mut jitter = [0u8; 2];
                self.entropy.fill(&mut jitter);
                let jitter = 0.5 + f64::from(u16::from_le_bytes(jitter)) / f64::from(u16::MAX) / 2.0;
                let wait = retry_delay(attempts, jitter);
                next.next_attempt_at = Some(now + time::Duration::try_from(wait).unwrap_or(time::Duration::HOUR));
            }
            if !gone && now - since >= DISABLE_AFTER {
                endpoint.status = WebhookEndpointStatus::Disabled;
                endpoint.disabled_reason = Some(format!("deliveries failed since {since} (3 days)"));
                next.next_attempt_at = None;
            }
            refused
        };
        let mut cs = Changeset::new();
        cs.guard(endpoint_version_is(e)).guard(delivery_is(d));
        cs.update(Record::WebhookDelivery(next.clone()));
        if settled && endpoint.status == WebhookEndpointStatus::Enabled {
            let q = Query::of::<WebhookDelivery>()
                .eq("endpoint_id", e.id)
                .is("status", WebhookDeliveryStatus::Pending.as_str())
                .asc("seq")
                .limit(2);
            let pending: Vec<WebhookDelivery> = self.store.fetch_all(q).await?;
            if let Some(following) = pending.into_iter().find(|p| p.id != d.id) {
                cs.guard(delivery_is(&following));
                cs.update(Record::WebhookDelivery(WebhookDelivery {
                    next_attempt_at: Some(now),
                    updated_at: now,
                    ..following
                }));
            }
        }
        if endpoint.status != e.status {
            cs.insert(Record::Audit(crate::model::AuditLog {
                id: AuditId(self.new_uuid()),
                store_id: e.store_id,
                at: now,
                actor_masked: "agora".into(),
                ip: None,
                key: format!("webhook_endpoint:{}", e.id),
                from: Some(e.status.as_str().to_owned()),
                to: Some(endpoint.status.as_str().to_owned()),
            }));
        }
        cs.update(Record::WebhookEndpoint(endpoint));
        self.apply_changeset(cs).await?;
        Ok(delivery_view(&next))
    }
}
