//! What connection checks can reach besides the store: Redis (a PING) and
//! the object store (a small object written, read back and deleted).

use std::sync::Arc;

use agora_core::{BlobStore, ConnectionProbe, ConnectionTarget};
use async_trait::async_trait;

/// PINGs Redis.
pub struct RedisProbe(pub agora_redis::RedisClient);

#[async_trait]
impl ConnectionProbe for RedisProbe {
    fn target(&self) -> ConnectionTarget {
        ConnectionTarget::Redis
    }

    async fn probe(&self) -> Result<String, String> {
        self.0.ping().await.map(|()| "PONG".to_owned()).map_err(|e| e.to_string())
    }
}

/// Writes, reads back and deletes a small object under `probes/`.
pub struct ObjectStoreProbe(pub Arc<dyn BlobStore>);

#[async_trait]
impl ConnectionProbe for ObjectStoreProbe {
    fn target(&self) -> ConnectionTarget {
        ConnectionTarget::ObjectStorage
    }

    async fn probe(&self) -> Result<String, String> {
        let key = format!("probes/{}", uuid::Uuid::now_v7());
        let body = b"agora connection check".to_vec();
        self.0.put(&key, body.clone()).await.map_err(|e| format!("write: {e}"))?;
        let read = self.0.get(&key).await.map_err(|e| format!("read: {e}"));
        let deleted = self.0.delete(&key).await.map_err(|e| format!("delete: {e}"));
        match (read?, deleted) {
            (Some(b), Ok(())) if b == body => Ok("wrote, read back and deleted a probe object".to_owned()),
            (Some(_), Ok(())) => Err("read back other bytes than written".to_owned()),
            (None, _) => Err("the object written was not there".to_owned()),
            (_, Err(e)) => Err(e),
        }
    }
}
