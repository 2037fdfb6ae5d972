//! Stores, admin keys, settings and the audit log.

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::reads::Reads;
use crate::secrets::{hash_token, mask, random_token};
use crate::validate::{Validator, normalize_domain};
use crate::views::*;

use super::{Actor, Agora, ListQuery, failed_guard, next_cursor, require_admin, require_super, too_contended};

pub(crate) fn store_view(s: &Shop) -> StoreView {
    StoreView {
        id: s.id.0,
        name: s.name.clone(),
        domain: s.domain.clone(),
        status: s.status.as_str().to_owned(),
        plan: s.plan.clone(),
        created_at: s.created_at,
    }
}

pub(crate) fn settings_view(s: &StoreSettings) -> SettingsView {
    SettingsView {
        order_ttl_seconds: s.order_ttl_seconds,
        auto_receive_seconds: s.auto_receive_seconds,
        required_helpers: s.required_helpers,
        help_task_ttl_seconds: s.help_task_ttl_seconds,
        payout_cooling_seconds: s.payout_cooling_seconds,
        help_payout_percent: s.help_payout_percent,
    }
}

impl Agora {
    /// Creates a store with default settings (super admin only). The access
    /// token, if given, is sealed with the keyring and never returned.
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `validation`; `conflict` when the domain is taken.
    pub async fn create_store(&self, actor: &Actor, req: NewStore) -> Result<StoreView, AgoraError> {
        require_super(actor)?;
        let mut v = Validator::new();
        v.text("name", &req.name, 1, 200);
        let domain = normalize_domain(&req.domain);
        v.check(domain.is_some(), "domain", "must be a host name such as shop.example.com");
        if let Some(t) = &req.access_token {
            v.text("access_token", t, 1, 4096);
        }
        v.finish()?;
        let domain = domain.unwrap_or_default();
        let now = self.now();
        let store = Shop {
            id: StoreId(self.new_uuid()),
            name: req.name.trim().to_owned(),
            domain: domain.clone(),
            plan: "basic".into(),
            status: StoreStatus::Active,
            access_token: req.access_token.as_deref().map(|t| self.keyring.seal(t, self.entropy.as_ref())),
            created_at: now,
            updated_at: now,
        };
        let created = serde_json::json!({"name": store.name});
        let mut cs = Changeset::new();
        cs.guard(guards::domain_free(&domain))
            .insert(Record::Store(store.clone()))
            .insert(Record::StoreSettings(StoreSettings::defaults(store.id, now)))
            .insert(self.event(store.id, "store", store.id.0, "store.created", created));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(store_view(&store)),
            Err(e) if failed_guard(&e).is_some() => Err(AgoraError::conflict("domain is already taken")),
            Err(e) => Err(e.into()),
        }
    }

    /// The decrypted platform access token of a store, for integrations.
    ///
    /// # Errors
    /// `not_found`; `internal` if the keyring cannot open it.
    pub async fn store_access_token(&self, actor: &Actor, store_id: StoreId) -> Result<Option<String>, AgoraError> {
        require_admin(actor, store_id)?;
        let store = self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        store.access_token.as_ref().map(|s| self.keyring.open(s)).transpose()
    }

    /// Re-seals every store's access token under the keyring's newest key.
    /// Returns how many were re-sealed.
    ///
    /// # Errors
    /// `internal` when a secret cannot be opened; store errors.
    pub async fn rotate_store_secrets(&self) -> Result<usize, AgoraError> {
        let mut rotated = 0;
        let mut page = crate::ports::Page::first(200);
        loop {
            let stores = self.store.list_stores(page).await?;
            for s in &stores {
                let Some(sealed) = &s.access_token else { continue };
                if let Some(resealed) = self.keyring.reseal(sealed, self.entropy.as_ref())? {
                    let mut updated = s.clone();
                    updated.access_token = Some(resealed);
                    updated.updated_at = self.now();
                    let mut cs = Changeset::new();
                    cs.update(Record::Store(updated));
                    self.apply_changeset(cs).await?;
                    rotated += 1;
                }
            }
            match stores.last() {
                Some(last) if stores.len() == page.limit as usize => page.before = Some(last.id.0),
                _ => break,
            }
        }
        Ok(rotated)
    }

    /// Makes an admin key for one store (super admin only). The key is in
    /// the answer and nowhere else; only its hash is stored.
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `not_found` for an unknown store.
    pub async fn create_admin_key(&self, actor: &Actor, store_id: StoreId) -> Result<AdminKeyCreated, AgoraError> {
        require_super(actor)?;
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let key = random_token(crate::ADMIN_KEY_PREFIX, self.entropy.as_ref());
        let row = AdminKey {
            id: AdminKeyId(self.new_uuid()),
            store_id,
            key_hash: hash_token(&key),
            masked: mask(&key),
            created_at: self.now(),
        };
        let mut cs = Changeset::new();
        cs.insert(Record::AdminKey(row.clone())).insert(self.event(
            store_id,
            "admin_key",
            row.id.0,
            "admin_key.created",
            serde_json::json!({"masked": row.masked}),
        ));
        self.apply_changeset(cs).await?;
        Ok(AdminKeyCreated { id: row.id.0, key, masked: row.masked })
    }

    /// A store's settings.
    ///
    /// # Errors
    /// `unauthorized`; `not_found` for an unknown store or a stranger.
    pub async fn get_settings(&self, actor: &Actor, store_id: StoreId) -> Result<SettingsView, AgoraError> {
        require_admin(actor, store_id)?;
        let s = self.store.get_settings(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        Ok(settings_view(&s))
    }

    /// Changes any subset of a store's settings; each changed key writes one
    /// audit row (key, from, to, masked actor, ip).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` for out-of-range values.
    pub async fn patch_settings(
        &self,
        actor: &Actor,
        store_id: StoreId,
        patch: SettingsPatch,
        ip: Option<&str>,
    ) -> Result<SettingsView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        let checks: [(&str, Option<i64>, i64, i64); 6] = [
            ("order_ttl_seconds", patch.order_ttl_seconds, 60, 2_592_000),
            ("auto_receive_seconds", patch.auto_receive_seconds, 60, 31_536_000),
            ("required_helpers", patch.required_helpers, 1, 100),
            ("help_task_ttl_seconds", patch.help_task_ttl_seconds, 60, 31_536_000),
            ("payout_cooling_seconds", patch.payout_cooling_seconds, 0, 31_536_000),
            ("help_payout_percent", patch.help_payout_percent, 0, 100),
        ];
        for (field, value, min, max) in checks {
            if let Some(x) = value {
                v.range(field, x, min, max);
            }
        }
        v.finish()?;
        for _ in 0..self.config.max_attempts {
            let current = self.store.get_settings(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
            let mut next = current.clone();
            let mut changes = Vec::new();
            {
                let mut set = |key: &'static str, field: &mut i64, value: Option<i64>| {
                    if let Some(x) = value
                        && *field != x
                    {
                        changes.push((key, *field, x));
                        *field = x;
                    }
                };
                set("order_ttl_seconds", &mut next.order_ttl_seconds, patch.order_ttl_seconds);
                set("auto_receive_seconds", &mut next.auto_receive_seconds, patch.auto_receive_seconds);
                set("required_helpers", &mut next.required_helpers, patch.required_helpers);
                set("help_task_ttl_seconds", &mut next.help_task_ttl_seconds, patch.help_task_ttl_seconds);
                set("payout_cooling_seconds", &mut next.payout_cooling_seconds, patch.payout_cooling_seconds);
                set("help_payout_percent", &mut next.help_payout_percent, patch.help_payout_percent);
            }
            if changes.is_empty() {
                return Ok(settings_view(&current));
            }
            let now = self.now();
            next.version += 1;
            next.updated_at = now;
            let mut cs = Changeset::new();
            cs.guard(guards::settings_version_is(store_id, current.version))
                .update(Record::StoreSettings(next.clone()));
            for (key, from, to) in &changes {
                cs.insert(Record::Audit(AuditLog {
                    id: AuditId(self.new_uuid()),
                    store_id,
                    at: now,
                    actor_masked: actor.masked(),
                    ip: ip.map(str::to_owned),
                    key: (*key).to_owned(),
                    from: Some(from.to_string()),
                    to: Some(to.to_string()),
                }));
            }
            let changed: serde_json::Map<String, serde_json::Value> =
                changes.iter().map(|(k, _, to)| ((*k).to_owned(), serde_json::json!(to))).collect();
            cs.insert(self.event(store_id, "store_settings", store_id.0, "settings.changed", changed.into()));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(settings_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// A store's audit rows, newest first.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` for a bad limit or cursor.
    pub async fn list_audit_logs(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<AuditView>, AgoraError> {
        require_admin(actor, store_id)?;
        let page = q.page()?;
        let rows = self.store.list_audit_logs(store_id, page).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |r| r.id.0),
            items: rows
                .into_iter()
                .map(|r| AuditView {
                    id: r.id.0,
                    at: r.at,
                    actor_masked: r.actor_masked,
                    ip: r.ip,
                    key: r.key,
                    from: r.from,
                    to: r.to,
                })
                .collect(),
        })
    }
}
