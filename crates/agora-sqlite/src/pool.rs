//! A small pool of read connections used on tokio's blocking threads.
//!
//! A semaphore with one permit per connection is acquired (asynchronously)
//! before a blocking task is spawned, so a blocking thread never waits for
//! a connection.

use std::sync::Arc;

use agora_core::StoreError;
use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::config::{SqliteConfig, open_read_connection};

#[derive(Clone)]
pub(crate) struct ReadPool {
    shared: Arc<Shared>,
}

struct Shared {
    conns: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(crate) fn open(cfg: &SqliteConfig) -> Result<Self, StoreError> {
        let n = cfg.read_connections.max(1);
        let conns = (0..n).map(|_| open_read_connection(cfg)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { shared: Arc::new(Shared { conns: Mutex::new(conns), permits: Arc::new(Semaphore::new(n)) }) })
    }

    /// Closes every idle connection (all of them once no read is running).
    pub(crate) fn close(&self) {
        self.shared.permits.close();
        drop(std::mem::take(&mut *self.shared.conns.lock()));
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.shared.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("sqlite read pool closed".into()))?;
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let conn = shared.conns.lock().pop().ok_or_else(|| StoreError::Unavailable("read pool empty".into()))?;
            // Return the connection even if `f` panics.
            let guard = ConnGuard { shared: &shared, conn: Some(conn) };
            let out = f(guard.conn.as_ref().expect("connection present"));
            drop(guard);
            drop(permit);
            out
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite read task failed: {e}")))?
    }
}

struct ConnGuard<'a> {
    shared: &'a Shared,
    conn: Option<Connection>,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            // A panic mid-read may leave a transaction open; close it.
            if !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK");
            }
            self.shared.conns.lock().push(c);
        }
    }
}
