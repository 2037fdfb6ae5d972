//! [`PgLocks`]: the [`LockManager`] on PostgreSQL session-level advisory locks.
//!
//! Each lease owns one dedicated connection (taken from the pool and
//! detached, so it does not use up a pool slot) holding
//! `pg_try_advisory_lock(hashtextextended('agora.lock:' || name, 0))`.
//! The lock lives exactly as long as that session: `release` unlocks and
//! closes it; a watchdog task closes it when the lease's TTL passes without
//! an `extend`; and if the session dies (server restart, network loss,
//! `pg_terminate_backend`) PostgreSQL drops the lock on its own, which
//! `extend` detects and reports as a lost lease. Locks are scoped to the
//! database, so two deployments on different databases never collide.
//!
//! Like every lock in agora this only saves wasted work; the changeset
//! guards keep data correct.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_core::{Lease, LockManager, StoreError};
use async_trait::async_trait;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::time::Instant;

use crate::error::unavailable;

struct Held {
    name: String,
    conn: Option<PgConnection>,
    deadline: Instant,
}

type Registry = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Held>>>>>;

/// Named lease locks on advisory locks. Cheap to clone.
#[derive(Clone)]
pub struct PgLocks {
    pool: PgPool,
    held: Registry,
}

impl std::fmt::Debug for PgLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.held.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("PgLocks").field("held", &n).finish()
    }
}

impl PgLocks {
    /// Locks on the database of `pool` (e.g. `PgStore::pool().clone()`).
    pub fn new(pool: PgPool) -> Self {
        Self { pool, held: Arc::new(Mutex::new(HashMap::new())) }
    }

    fn entry(&self, lease: &Lease) -> Option<Arc<tokio::sync::Mutex<Held>>> {
        self.held.lock().ok()?.get(&lease.token).cloned()
    }

    fn forget(held: &Registry, token: &str) {
        if let Ok(mut m) = held.lock() {
            m.remove(token);
        }
    }
}

const KEY_SQL_LOCK: &str = "SELECT pg_try_advisory_lock(hashtextextended('agora.lock:' || $1, 0))";
const KEY_SQL_UNLOCK: &str = "SELECT pg_advisory_unlock(hashtextextended('agora.lock:' || $1, 0))";

/// Closes the lease's session when its deadline passes without an extension.
fn spawn_watchdog(held: Registry, token: String, entry: Arc<tokio::sync::Mutex<Held>>) {
    tokio::spawn(async move {
        loop {
            let deadline = entry.lock().await.deadline;
            tokio::time::sleep_until(deadline).await;
            let mut h = entry.lock().await;
            if h.conn.is_none() {
                return; // released
            }
            if Instant::now() >= h.deadline {
                if let Some(conn) = h.conn.take() {
                    let _ = conn.close().await;
                }
                drop(h);
                PgLocks::forget(&held, &token);
                return;
            }
        }
    });
}

#[async_trait]
impl LockManager for PgLocks {
    async fn try_acquire(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?.detach();
        let got: bool = sqlx::query_scalar(KEY_SQL_LOCK).bind(name).fetch_one(&mut conn).await.map_err(unavailable)?;
        if !got {
            let _ = conn.close().await;
            return Ok(None);
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let entry = Arc::new(tokio::sync::Mutex::new(Held {
            name: name.to_owned(),
            conn: Some(conn),
            deadline: Instant::now() + ttl,
        }));
        self.held
            .lock()
            .map_err(|_| StoreError::Unavailable("lock registry poisoned".into()))?
            .insert(token.clone(), entry.clone());
        spawn_watchdog(self.held.clone(), token.clone(), entry);
        Ok(Some(Lease { name: name.to_owned(), token }))
    }

    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let Some(entry) = self.entry(lease) else { return Ok(false) };
        let mut h = entry.lock().await;
        if h.name != lease.name || Instant::now() >= h.deadline {
            return Ok(false);
        }
        let Some(conn) = h.conn.as_mut() else { return Ok(false) };
        // A live session still holds its advisory lock; a dead one lost it.
        if sqlx::query("SELECT 1").execute(&mut *conn).await.is_err() {
            h.conn = None;
            drop(h);
            Self::forget(&self.held, &lease.token);
            return Ok(false);
        }
        h.deadline = Instant::now() + ttl;
        Ok(true)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let Some(entry) = self.entry(lease) else { return Ok(false) };
        let mut h = entry.lock().await;
        if h.name != lease.name {
            return Ok(false);
        }
        let Some(mut conn) = h.conn.take() else { return Ok(false) };
        drop(h);
        Self::forget(&self.held, &lease.token);
        let released: bool =
            sqlx::query_scalar(KEY_SQL_UNLOCK).bind(&lease.name).fetch_one(&mut conn).await.unwrap_or(false);
        let _ = conn.close().await;
        Ok(released)
    }
}
