//! Stores, admin keys, settings and the audit log.

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::money::MAX_MINOR;
use crate::reads::Reads;
use crate::validate::{Validator, normalize_domain};
use crate::views::*;

use super::lifecycle::{check_flag_names, merge_flags};
use super::{Actor, Agora, ListQuery, failed_guard, next_cursor, require_admin, require_super, too_contended};

pub(crate) fn store_view(s: &Shop) -> StoreView {
    StoreView {
        id: s.id.0,
        name: s.name.clone(),
        domain: s.domain.clone(),
        status: s.status.as_str().to_owned(),
        plan: s.plan.clone(),
        onboarding: s.onboarding.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
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
        feature_toggles: s
            .feature_toggles
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_bool()?))).collect())
            .unwrap_or_default(),
        low_stock_threshold: s.low_stock_threshold,
        velocity_window_days: s.velocity_window_days,
        reorder_lead_days: s.reorder_lead_days,
        reorder_cover_days: s.reorder_cover_days,
        flag_amount_minor: s.flag_amount_minor,
        retention_days: RetentionDays {
            events: s.retention_events_days,
            audit_logs: s.retention_audit_logs_days,
            connection_events: s.retention_connection_events_days,
            drafts: s.retention_drafts_days,
        },
        secrets_rotated_at: s.secrets_rotated_at,
        admin_keys_rotated_at: s.admin_keys_rotated_at,
    }
}

/// The integer settings: audit key, least and greatest value. The order is
/// that of [`int_settings_patch`] and [`int_settings_mut`].
const INT_SETTINGS: [(&str, i64, i64); 15] = [
    ("order_ttl_seconds", 60, 2_592_000),
    ("auto_receive_seconds", 60, 31_536_000),
    ("required_helpers", 1, 100),
    ("help_task_ttl_seconds", 60, 31_536_000),
    ("payout_cooling_seconds", 0, 31_536_000),
    ("help_payout_percent", 0, 100),
    ("low_stock_threshold", 0, 1_000_000),
    ("velocity_window_days", 1, 365),
    ("reorder_lead_days", 0, 365),
    ("reorder_cover_days", 0, 365),
    ("flag_amount_minor", 0, MAX_MINOR),
    ("retention_days.events", 0, 36_500),
    ("retention_days.audit_logs", 0, 36_500),
    ("retention_days.connection_events", 0, 36_500),
    ("retention_days.drafts", 0, 36_500),
];

fn int_settings_patch(p: &SettingsPatch) -> [Option<i64>; 15] {
    let r = p.retention_days.clone().unwrap_or_default();
    [
        p.order_ttl_seconds,
        p.auto_receive_seconds,
        p.required_helpers,
        p.help_task_ttl_seconds,
        p.payout_cooling_seconds,
        p.help_payout_percent,
        p.low_stock_threshold,
        p.velocity_window_days,
        p.reorder_lead_days,
        p.reorder_cover_days,
        p.flag_amount_minor,
        r.events,
        r.audit_logs,
        r.connection_events,
        r.drafts,
    ]
}

fn int_settings_mut(s: &mut StoreSettings) -> [&mut i64; 15] {
    [
        &mut s.order_ttl_seconds,
        &mut s.auto_receive_seconds,
        &mut s.required_helpers,
        &mut s.help_task_ttl_seconds,
        &mut s.payout_cooling_seconds,
        &mut s.help_payout_percent,
        &mut s.low_stock_threshold,
        &mut s.velocity_window_days,
        &mut s.reorder_lead_days,
        &mut s.reorder_cover_days,
        &mut s.flag_amount_minor,
        &mut s.retention_events_days,
        &mut s.retention_audit_logs_days,
        &mut s.retention_connection_events_days,
        &mut s.retention_drafts_days,
    ]
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
        // At most 253 characters as sent (white space around included).
        let domain = normalize_domain(&req.domain).filter(|_| req.domain.chars().count() <= 253);
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
            onboarding: crate::model::empty_object(),
            version: 1,
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
                if s.access_token.is_some() && self.reseal_store_secret(s.id).await? {
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

    /// Re-seals one store's access token if an older key sealed it, and
    /// records `secrets_rotated_at` in its settings, in one commit.
    async fn reseal_store_secret(&self, store_id: StoreId) -> Result<bool, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let Some(store) = self.store.get_store(store_id).await? else { return Ok(false) };
            let Some(sealed) = &store.access_token else { return Ok(false) };
            let Some(resealed) = self.keyring.reseal(sealed, self.entropy.as_ref())? else { return Ok(false) };
            let settings = self.store.get_settings(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
            let now = self.now();
            let mut next = store.clone();
            next.access_token = Some(resealed);
            next.version += 1;
            next.updated_at = now;
            let mut next_settings = settings.clone();
            next_settings.secrets_rotated_at = Some(now);
            next_settings.version += 1;
            next_settings.updated_at = now;
            let mut cs = Changeset::new();
            cs.guard(guards::store_version_is(store_id, store.version))
                .guard(guards::settings_version_is(store_id, settings.version))
                .update(Record::Store(next))
                .update(Record::StoreSettings(next_settings));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(true),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
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

    /// Changes any subset of a store's settings; each changed key (each
    /// toggle, each retention period) writes one audit row (key, from, to,
    /// masked actor, ip), all in the commit of the change and its
    /// `settings.changed` event.
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
        let wanted = int_settings_patch(&patch);
        let mut v = Validator::new();
        for ((field, min, max), value) in INT_SETTINGS.iter().zip(wanted) {
            if let Some(x) = value {
                v.range(field, x, *min, *max);
            }
        }
        if let Some(toggles) = &patch.feature_toggles {
            check_flag_names(&mut v, "feature_toggles", toggles);
        }
        v.finish()?;
        for _ in 0..self.config.max_attempts {
            let current = self.store.get_settings(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
            let mut next = current.clone();
            let mut changes: Vec<(String, Option<String>, serde_json::Value)> = Vec::new();
            for (((key, _, _), field), value) in INT_SETTINGS.iter().zip(int_settings_mut(&mut next)).zip(wanted) {
                if let Some(x) = value
                    && *field != x
                {
                    changes.push(((*key).to_owned(), Some(field.to_string()), serde_json::json!(x)));
                    *field = x;
                }
            }
            if let Some(toggles) = &patch.feature_toggles {
                let (merged, changed) = merge_flags("feature_toggles", &current.feature_toggles, toggles)?;
                next.feature_toggles = merged;
                for (name, old, on) in changed {
                    changes.push((
                        format!("feature_toggles.{name}"),
                        old.map(|b| b.to_string()),
                        serde_json::json!(on),
                    ));
                }
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
                cs.insert(self.audit_row(actor, store_id, ip, key, from.clone(), Some(to.to_string())));
            }
            let changed: serde_json::Map<String, serde_json::Value> =
                changes.into_iter().map(|(k, _, to)| (k, to)).collect();
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
