//! Export files in a blob store, through the `object_store` crate: a local
//! directory by default, memory for tests. One trait, chosen at run time.

use std::sync::Arc;

use agora_core::{BlobStore, StoreError};
use async_trait::async_trait;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// An [`agora_core::BlobStore`] over any `object_store` backend.
pub struct ObjectBlobs {
    inner: Arc<dyn ObjectStore>,
}

impl ObjectBlobs {
    /// Wraps an object store.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }

    /// A local directory (created if missing).
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn local(dir: &std::path::Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("blob dir {}: {e}", dir.display())))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self::new(Arc::new(fs)))
    }

    /// In memory.
    pub fn memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()))
    }
}

/// The blob store an object store URL names: `file://DIR` (created when
/// missing) or `memory:`.
///
/// # Errors
/// Another scheme, or a directory that cannot be created.
pub fn open(url: &str) -> Result<Arc<dyn BlobStore>, StoreError> {
    if url == "memory:" || url == "memory://" {
        return Ok(Arc::new(ObjectBlobs::memory()));
    }
    match url.strip_prefix("file://") {
        Some(dir) if !dir.is_empty() => Ok(Arc::new(ObjectBlobs::local(std::path::Path::new(dir))?)),
        _ => Err(StoreError::Schema(format!("object_store_url: use file://DIR or memory:, not {url:?}"))),
    }
}

fn err(e: object_store::Error) -> StoreError {
    StoreError::Unavailable(format!("blob store: {e}"))
}

#[async_trait]
impl BlobStore for ObjectBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(&ObjectPath::from(key), PutPayload::from(bytes)).await.map_err(err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.get(&ObjectPath::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(err)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_directory_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = ObjectBlobs::local(dir.path()).unwrap();
        blobs.put("exports/a/b.csv", b"id\n1\n".to_vec()).await.unwrap();
        assert_eq!(blobs.get("exports/a/b.csv").await.unwrap().as_deref(), Some(&b"id\n1\n"[..]));
        assert!(dir.path().join("exports/a/b.csv").exists());
        blobs.delete("exports/a/b.csv").await.unwrap();
        blobs.delete("exports/a/b.csv").await.unwrap();
        assert!(blobs.get("exports/a/b.csv").await.unwrap().is_none());
    }
}
