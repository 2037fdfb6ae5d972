//! Claims: a lease from the deployment's [`LockManager`] (advisory locks on
//! PostgreSQL, `SET NX PX` on Redis, in-process otherwise) held while a
//! batch runs and extended in the background, so a slow batch keeps it.
//!
//! A claim only saves duplicated work between workers; the changeset guards
//! keep the data right even when a claim is lost or two workers race.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agora_core::{Lease, LockManager, StoreError};

/// A held lease with its heartbeat. Release it with [`Claim::release`]; a
/// claim dropped without release is released in the background.
pub struct Claim {
    locks: Arc<dyn LockManager>,
    lease: Option<Lease>,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Claim {
    /// Takes the lease `name` for `ttl` unless another holder has it
    /// (`Ok(None)`), and extends it every `ttl / 3` until released.
    ///
    /// # Errors
    /// The lock manager's error (its backend is unreachable).
    pub async fn try_take(
        locks: &Arc<dyn LockManager>,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        let Some(lease) = locks.try_acquire(name, ttl).await? else { return Ok(None) };
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(heartbeat(locks.clone(), lease.clone(), ttl, lost.clone()));
        Ok(Some(Claim { locks: locks.clone(), lease: Some(lease), lost, heartbeat }))
    }

    /// True once an extension failed: another worker may hold it now.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Stops the heartbeat and releases the lease.
    pub async fn release(mut self) {
        self.heartbeat.abort();
        if let Some(lease) = self.lease.take()
            && let Err(e) = self.locks.release(&lease).await
        {
            tracing::warn!(lock = %lease.name, error = %e, "could not release a job lease; it will expire");
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if let Some(lease) = self.lease.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let locks = self.locks.clone();
            handle.spawn(async move {
                let _ = locks.release(&lease).await;
            });
        }
    }
}

async fn heartbeat(locks: Arc<dyn LockManager>, lease: Lease, ttl: Duration, lost: Arc<AtomicBool>) {
    let every = (ttl / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        match locks.extend(&lease, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::Relaxed);
                metrics::counter!("agora_job_lease_lost_total").increment(1);
                tracing::warn!(lock = %lease.name, "job lease lost while working; guards keep the data right");
                return;
            }
            Err(e) => tracing::warn!(lock = %lease.name, error = %e, "could not extend a job lease; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::local::LocalLocks;
    use agora_core::{Entropy, OsEntropy};

    fn locks() -> Arc<dyn LockManager> {
        let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::default());
        Arc::new(LocalLocks::new(entropy))
    }

    #[tokio::test]
    async fn a_claim_excludes_others_until_released() {
        let locks = locks();
        let a = Claim::try_take(&locks, "job:x", Duration::from_secs(30)).await.unwrap().unwrap();
        assert!(Claim::try_take(&locks, "job:x", Duration::from_secs(30)).await.unwrap().is_none());
        assert!(Claim::try_take(&locks, "job:y", Duration::from_secs(30)).await.unwrap().is_some());
        a.release().await;
        assert!(Claim::try_take(&locks, "job:x", Duration::from_secs(30)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_heartbeat_keeps_a_short_lease_alive() {
        let locks = locks();
        let a = Claim::try_take(&locks, "job:x", Duration::from_millis(90)).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!a.lost());
        assert!(Claim::try_take(&locks, "job:x", Duration::from_millis(90)).await.unwrap().is_none());
        drop(a);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(Claim::try_take(&locks, "job:x", Duration::from_millis(90)).await.unwrap().is_some());
    }
}
