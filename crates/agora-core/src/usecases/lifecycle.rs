//! A store's lifecycle (plan, status, onboarding) and its admin keys:
//! expiry, revocation, and `last_used_at` written in batches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::reads::Reads;
use crate::secrets::{hash_token, mask, random_token};
use crate::validate::{Validator, valid_flag_name};
use crate::views::*;

use super::stores::store_view;
use super::{Actor, Agora, ListQuery, failed_guard, next_cursor, require_admin, require_super, too_contended};

/// Plans a store can be on.
pub const PLANS: &[&str] = &["basic", "pro", "enterprise"];

/// Most names an onboarding checklist or a toggle map holds.
pub const MAX_FLAG_NAMES: usize = 64;

/// Longest lifetime of an admin key made with an expiry (ten years).
const MAX_KEY_LIFETIME_SECONDS: i64 = 315_360_000;

/// Admin keys used since the last flush, with their latest use. Shared by
/// the clones of one [`Agora`]; the api flushes it periodically (and on
/// shutdown), so a busy key costs one write per flush, not one per request.
#[derive(Debug, Default)]
pub(crate) struct KeyUsage(Mutex<HashMap<AdminKeyId, OffsetDateTime>>);

impl KeyUsage {
    fn record(&self, id: AdminKeyId, at: OffsetDateTime) {
        let mut used = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let last = used.entry(id).or_insert(at);
        *last = (*last).max(at);
    }

    fn take(&self) -> HashMap<AdminKeyId, OffsetDateTime> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

fn admin_key_view(k: AdminKey) -> AdminKeyView {
    AdminKeyView {
        id: k.id.0,
        masked: k.masked,
        created_at: k.created_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
        last_used_at: k.last_used_at,
    }
}

/// Checks the names of a map of named switches (onboarding steps, feature
/// toggles): `[a-z0-9_]{1,64}`, at most [`MAX_FLAG_NAMES`] given.
pub(crate) fn check_flag_names(v: &mut Validator, field: &str, patch: &BTreeMap<String, bool>) {
    for name in patch.keys() {
        v.check(valid_flag_name(name), format!("{field}.{name}"), "names are 1 to 64 of a-z, 0-9 and _");
    }
    v.check(patch.len() <= MAX_FLAG_NAMES, field, format!("at most {MAX_FLAG_NAMES} names"));
}

/// A changed switch: its name, old value (`None`: not set before), new value.
pub(crate) type SwitchChange = (String, Option<bool>, bool);

/// `current` with `patch` merged in, and the switches that changed.
///
/// # Errors
/// `validation` when the merged map would hold more than
/// [`MAX_FLAG_NAMES`] names.
pub(crate) fn merge_flags(
    field: &str,
    current: &serde_json::Value,
    patch: &BTreeMap<String, bool>,
) -> Result<(serde_json::Value, Vec<SwitchChange>), AgoraError> {
    let mut map = current.as_object().cloned().unwrap_or_default();
    let mut changed = Vec::new();
    for (name, on) in patch {
        let old = map.get(name).and_then(serde_json::Value::as_bool);
        if old != Some(*on) {
            changed.push((name.clone(), old, *on));
            map.insert(name.clone(), serde_json::Value::Bool(*on));
        }
    }
    if map.len() > MAX_FLAG_NAMES {
        return Err(AgoraError::validation(field, &format!("at most {MAX_FLAG_NAMES} names in all")));
    }
    Ok((serde_json::Value::Object(map), changed))
}

impl Agora {
    /// The store, if it trades: `not_found` when it does not exist,
    /// `store_suspended` when it is suspended.
    pub(crate) async fn trading_store(&self, store_id: StoreId) -> Result<Shop, AgoraError> {
        let store = self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        ensure_trading(&store)?;
        Ok(store)
    }

    /// Whether the public may see the store's things: it exists and trades.
    pub(crate) async fn publicly_visible(&self, store_id: StoreId) -> Result<bool, AgoraError> {
        Ok(self.store.get_store(store_id).await?.is_some_and(|s| s.status == StoreStatus::Active))
    }

    /// A store (super admin, or that store's admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found` for an unknown store or a stranger.
    pub async fn get_store(&self, actor: &Actor, store_id: StoreId) -> Result<StoreView, AgoraError> {
        require_admin(actor, store_id)?;
        let store = self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        Ok(store_view(&store))
    }

    /// Changes a store's name, plan, status or onboarding steps (super
    /// admin). Name, plan and status changes are audited; a status change
    /// is a `store.suspended` or `store.reactivated` event.
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `not_found`; `validation`.
    pub async fn patch_store(
        &self,
        actor: &Actor,
        store_id: StoreId,
        patch: StorePatch,
        ip: Option<&str>,
    ) -> Result<StoreView, AgoraError> {
        require_super(actor)?;
        let mut v = Validator::new();
        if let Some(n) = &patch.name {
            v.text("name", n, 1, 200);
        }
        if let Some(p) = &patch.plan {
            v.check(PLANS.contains(&p.as_str()), "plan", "must be basic, pro or enterprise");
        }
        let status = patch.status.as_deref().map(StoreStatus::parse);
        v.check(!matches!(status, Some(None)), "status", "must be active or suspended");
        let status = status.flatten();
        if let Some(steps) = &patch.onboarding {
            check_flag_names(&mut v, "onboarding", steps);
        }
        v.finish()?;
        for _ in 0..self.config.max_attempts {
            let current = self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
            let mut next = current.clone();
            let mut audited: Vec<(&str, String, String)> = Vec::new();
            if let Some(n) = patch.name.as_deref().map(str::trim).filter(|n| *n != current.name) {
                audited.push(("name", current.name.clone(), n.to_owned()));
                next.name = n.to_owned();
            }
            if let Some(p) = patch.plan.as_deref().filter(|p| *p != current.plan) {
                audited.push(("plan", current.plan.clone(), p.to_owned()));
                next.plan = p.to_owned();
            }
            if let Some(s) = status.filter(|s| *s != current.status) {
                audited.push(("status", current.status.to_string(), s.to_string()));
                next.status = s;
            }
            let steps = match &patch.onboarding {
                Some(steps) => {
                    let (merged, changed) = merge_flags("onboarding", &current.onboarding, steps)?;
                    next.onboarding = merged;
                    changed
                }
                None => Vec::new(),
            };
            if audited.is_empty() && steps.is_empty() {
                return Ok(store_view(&current));
            }
            let now = self.now();
            next.version += 1;
            next.updated_at = now;
            let mut cs = Changeset::new();
            cs.guard(guards::store_version_is(store_id, current.version)).update(Record::Store(next.clone()));
            for (key, from, to) in &audited {
                cs.insert(self.audit_row(actor, store_id, ip, key, Some(from.clone()), Some(to.clone())));
            }
            let kind = match (current.status, next.status) {
                (StoreStatus::Active, StoreStatus::Suspended) => "store.suspended",
                (StoreStatus::Suspended, StoreStatus::Active) => "store.reactivated",
                _ => "store.updated",
            };
            let mut payload = serde_json::Map::new();
            for (key, _, to) in &audited {
                payload.insert((*key).to_owned(), serde_json::json!(to));
            }
            if !steps.is_empty() {
                let done: serde_json::Map<String, serde_json::Value> =
                    steps.iter().map(|(n, _, on)| (n.clone(), serde_json::json!(on))).collect();
                payload.insert("onboarding".into(), done.into());
            }
            cs.insert(self.event(store_id, "store", store_id.0, kind, payload.into()));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(store_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// An audit row of a change made by `actor`.
    pub(crate) fn audit_row(
        &self,
        actor: &Actor,
        store_id: StoreId,
        ip: Option<&str>,
        key: &str,
        from: Option<String>,
        to: Option<String>,
    ) -> Record {
        Record::Audit(AuditLog {
            id: AuditId(self.new_uuid()),
            store_id,
            at: self.now(),
            actor_masked: actor.masked(),
            ip: ip.map(str::to_owned),
            key: key.to_owned(),
            from,
            to,
        })
    }

    /// Makes an admin key for one store (super admin), optionally expiring.
    /// The key is in the answer and nowhere else; only its hash is stored.
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `not_found` for an unknown store;
    /// `validation` for an expiry out of range.
    pub async fn create_admin_key(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewAdminKey,
    ) -> Result<AdminKeyCreated, AgoraError> {
        self.create_admin_key_from(actor, store_id, req, None).await
    }

    /// [`Agora::create_admin_key`] asked from the client address `ip`,
    /// which the key's audit row (`admin_key.created`) records.
    ///
    /// # Errors
    /// As [`Agora::create_admin_key`].
    pub async fn create_admin_key_from(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewAdminKey,
        ip: Option<&str>,
    ) -> Result<AdminKeyCreated, AgoraError> {
        require_super(actor)?;
        if let Some(secs) = req.expires_in_seconds {
            let mut v = Validator::new();
            v.range("expires_in_seconds", secs, 60, MAX_KEY_LIFETIME_SECONDS);
            v.finish()?;
        }
        let key = random_token(crate::ADMIN_KEY_PREFIX, self.entropy.as_ref());
        let now = self.now();
        let row = AdminKey {
            id: AdminKeyId(self.new_uuid()),
            store_id,
            key_hash: hash_token(&key),
            masked: mask(&key),
            created_at: now,
            expires_at: req.expires_in_seconds.map(|s| now + Duration::seconds(s)),
            revoked_at: None,
            last_used_at: None,
        };
        let expires = row.expires_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
        let payload = serde_json::json!({"masked": row.masked, "expires_at": expires});
        for _ in 0..self.config.max_attempts {
            let settings = self.store.get_settings(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
            let mut cs = Changeset::new();
            self.keys_rotated(&mut cs, settings, now);
            cs.insert(Record::AdminKey(row.clone()))
                .insert(self.audit_row(actor, store_id, ip, "admin_key.created", None, Some(row.masked.clone())))
                .insert(self.event(store_id, "admin_key", row.id.0, "admin_key.created", payload.clone()));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(AdminKeyCreated { id: row.id.0, key, masked: row.masked }),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// Records in `cs` that the store's admin keys changed at `now`.
    fn keys_rotated(&self, cs: &mut Changeset, settings: StoreSettings, now: OffsetDateTime) {
        let mut next = settings.clone();
        next.admin_keys_rotated_at = Some(now);
        next.version += 1;
        next.updated_at = now;
        cs.guard(guards::settings_version_is(settings.store_id, settings.version)).update(Record::StoreSettings(next));
    }

    /// A store's admin keys, newest first (super admin), never the keys.
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `not_found`; `validation` for a bad
    /// limit or cursor.
    pub async fn list_admin_keys(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<AdminKeyView>, AgoraError> {
        require_super(actor)?;
        let page = q.page()?;
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let keys = self.store.list_admin_keys(store_id, page).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&keys, &page, |k| k.id.0),
            items: keys.into_iter().map(admin_key_view).collect(),
        })
    }

    /// Revokes an admin key (super admin, or an admin of its store; a key
    /// may revoke itself). It fails from the next request on. Revoking a
    /// revoked key changes nothing. Audited.
    ///
    /// # Errors
    /// `unauthorized`; `not_found` for an unknown key, a key of another
    /// store, or a stranger.
    pub async fn revoke_admin_key(
        &self,
        actor: &Actor,
        store_id: StoreId,
        key_id: AdminKeyId,
        ip: Option<&str>,
    ) -> Result<(), AgoraError> {
        require_admin(actor, store_id)?;
        for _ in 0..self.config.max_attempts {
            let key = self.store.get::<AdminKey, _>(key_id).await?;
            let key = key.filter(|k| k.store_id == store_id).ok_or(AgoraError::NotFound("admin key"))?;
            if key.revoked_at.is_some() {
                return Ok(());
            }
            let settings = self.store.get_settings(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
            let now = self.now();
            let mut revoked = key.clone();
            revoked.revoked_at = Some(now);
            let mut cs = Changeset::new();
            cs.guard(guards::admin_key_is(&key)).update(Record::AdminKey(revoked));
            self.keys_rotated(&mut cs, settings, now);
            cs.insert(self.audit_row(actor, store_id, ip, "admin_key.revoked", Some(key.masked.clone()), None)).insert(
                self.event(
                    store_id,
                    "admin_key",
                    key_id.0,
                    "admin_key.revoked",
                    serde_json::json!({"masked": key.masked}),
                ),
            );
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(()),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// Notes that an admin key authenticated now (kept in memory until
    /// [`Agora::flush_key_usage`]).
    pub(crate) fn note_key_use(&self, id: AdminKeyId) {
        self.key_usage.record(id, self.now());
    }

    /// Writes the `last_used_at` of every admin key used since the last
    /// flush: one guarded update per key, never moving a time back and never
    /// undoing a revocation (no event: usage is not a state change). The
    /// api calls it every few seconds and on shutdown. Returns how many keys
    /// were written.
    ///
    /// # Errors
    /// Store errors; the usage not written is kept for the next flush.
    pub async fn flush_key_usage(&self) -> Result<usize, AgoraError> {
        let used = self.key_usage.take();
        let mut written = 0;
        let mut pending = used.into_iter().collect::<Vec<_>>().into_iter();
        while let Some((id, at)) = pending.next() {
            match self.write_key_use(id, at).await {
                Ok(true) => written += 1,
                Ok(false) => {}
                Err(e) => {
                    // Keep what was not written for the next flush.
                    self.key_usage.record(id, at);
                    for (id, at) in pending {
                        self.key_usage.record(id, at);
                    }
                    return Err(e);
                }
            }
        }
        Ok(written)
    }

    async fn write_key_use(&self, id: AdminKeyId, at: OffsetDateTime) -> Result<bool, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let Some(key) = self.store.get::<AdminKey, _>(id).await? else { return Ok(false) };
            if key.last_used_at.is_some_and(|t| t >= at) {
                return Ok(false);
            }
            let mut used = key.clone();
            used.last_used_at = Some(at);
            let mut cs = Changeset::new();
            cs.guard(guards::admin_key_is(&key)).update(Record::AdminKey(used));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(true),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }
}

/// `store_suspended` unless the store trades.
pub(crate) fn ensure_trading(store: &Shop) -> Result<(), AgoraError> {
    match store.status {
        StoreStatus::Active => Ok(()),
        StoreStatus::Suspended => Err(AgoraError::StoreSuspended),
    }
}
