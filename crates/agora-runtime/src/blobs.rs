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
    /// The directory of a local store: its files are made owner-only.
    local_root: Option<std::path::PathBuf>,
}

impl ObjectBlobs {
    /// Wraps an object store.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, local_root: None }
    }

    /// A local directory (created if missing).
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn local(dir: &std::path::Path) -> Result<Self, StoreError> {
        let unavailable = |e: std::io::Error| StoreError::Unavailable(format!("blob dir {}: {e}", dir.display()));
        // Exports hold customers' orders and addresses: owner-only, as the
        // database is (directories 0700 here, each file 0600 once written).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(unavailable)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self { inner: Arc::new(fs), local_root: Some(dir.to_path_buf()) })
    }

    /// Takes group and other bits off a local file just written and the
    /// directories under the root that lead to it.
    fn narrow_local(&self, key: &str) -> Result<(), StoreError> {
        #[cfg(unix)]
        if let Some(root) = &self.local_root {
            use std::os::unix::fs::PermissionsExt;
            let mut path = root.clone();
            let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
            for (i, part) in parts.iter().enumerate() {
                path.push(part);
                let mode = if i + 1 == parts.len() { 0o600 } else { 0o700 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| StoreError::Unavailable(format!("blob {}: {e}", path.display())))?;
            }
        }
        #[cfg(not(unix))]
        let _ = key;
        Ok(())
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
        self.narrow_local(key)
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

    /// Export files hold orders and addresses: owner-only whatever the umask.
    #[cfg(unix)]
    #[tokio::test]
    async fn local_files_and_their_directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let blobs = ObjectBlobs::local(&root).unwrap();
        blobs.put("exports/s1/e.csv", b"id\n".to_vec()).await.unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("exports")), 0o700);
        assert_eq!(mode(&root.join("exports/s1")), 0o700);
        assert_eq!(mode(&root.join("exports/s1/e.csv")), 0o600);
    }
}
