//! Files in a blob store, through the `object_store` crate: a local
//! directory by default, memory for tests and demos, S3 or any
//! S3-compatible server in production. One trait, chosen at run time from
//! the URL's scheme.

use std::sync::Arc;

use agora_core::{BlobObject, BlobStore, StoreError, UploadStream};
use async_trait::async_trait;
use object_store::buffered::BufWriter;
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
/// missing), `memory:`, or `s3://BUCKET[/PREFIX]` with the usual `AWS_*`
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// and `AWS_ENDPOINT_URL` with `AWS_ALLOW_HTTP=true` for an S3-compatible
/// server on plain HTTP).
///
/// # Errors
/// Another scheme, a directory that cannot be created, an S3 setting the
/// builder refuses.
pub fn open(url: &str) -> Result<Arc<dyn BlobStore>, StoreError> {
    open_with(url, std::env::vars())
}

/// As [`open`], with the `AWS_*` settings taken from `vars` instead of the
/// environment (tests give each store its own).
///
/// # Errors
/// As [`open`].
pub fn open_with(
    url: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Arc<dyn BlobStore>, StoreError> {
    if url == "memory:" || url == "memory://" {
        return Ok(Arc::new(ObjectBlobs::memory()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Schema("object_store_url: s3://BUCKET needs a bucket".into()));
        }
        let mut builder = object_store::aws::AmazonS3Builder::new();
        for (key, value) in vars {
            // What `AmazonS3Builder::from_env` reads: every AWS_ variable
            // that names a setting (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, ...).
            if key.starts_with("AWS_")
                && let Ok(config_key) = key.to_ascii_lowercase().parse::<object_store::aws::AmazonS3ConfigKey>()
            {
                builder = builder.with_config(config_key, value);
            }
        }
        let s3 = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| StoreError::Schema(format!("object_store_url {url}: {e}")))?;
        let inner: Arc<dyn ObjectStore> = match prefix.trim_matches('/') {
            "" => Arc::new(s3),
            p => Arc::new(object_store::prefix::PrefixStore::new(s3, p)),
        };
        return Ok(Arc::new(ObjectBlobs::new(inner)));
    }
    match url.strip_prefix("file://") {
        Some(dir) if !dir.is_empty() => Ok(Arc::new(ObjectBlobs::local(std::path::Path::new(dir))?)),
        _ => Err(StoreError::Schema(format!("object_store_url: use file://DIR, memory: or s3://BUCKET, not {url:?}"))),
    }
}

/// Part size of multipart uploads: the most an upload holds in memory per
/// part in flight (S3 takes parts of 5 MiB and more).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

fn err(e: object_store::Error) -> StoreError {
    StoreError::Unavailable(format!("blob store: {e}"))
}

#[async_trait]
impl BlobStore for ObjectBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(&ObjectPath::from(key), PutPayload::from(bytes)).await.map_err(err)?;
        self.narrow_local(key)
    }

    async fn put_stream(&self, key: &str, mut body: UploadStream<'_>) -> Result<u64, StoreError> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        // Up to one part is buffered; past it the writer turns into a
        // multipart upload with a bounded number of parts in flight.
        let mut writer = BufWriter::with_capacity(self.inner.clone(), ObjectPath::from(key), PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let step = match chunk {
                Ok(chunk) => {
                    written += chunk.len() as u64;
                    writer.put(chunk).await.map_err(err)
                }
                Err(e) => Err(StoreError::Unavailable(format!("upload: {e}"))),
            };
            if let Err(e) = step {
                // Nothing of it may stay: the multipart upload (if one was
                // started) is aborted; a buffered one was never sent.
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        if let Err(e) = writer.shutdown().await {
            // The parts may be stored but not joined: make sure no object
            // is readable under the key.
            let _ = self.inner.delete(&ObjectPath::from(key)).await;
            return Err(StoreError::Unavailable(format!("blob store: {e}")));
        }
        if let Err(e) = self.narrow_local(key) {
            // Not left readable by others, nor at all.
            let _ = self.inner.delete(&ObjectPath::from(key)).await;
            return Err(e);
        }
        Ok(written)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.get(&ObjectPath::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(err)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    async fn open(&self, key: &str) -> Result<Option<BlobObject>, StoreError> {
        use futures::StreamExt;
        match self.inner.get(&ObjectPath::from(key)).await {
            Ok(r) => {
                let size = r.meta.size;
                let body = r.into_stream().map(|chunk| chunk.map_err(std::io::Error::other)).boxed();
                Ok(Some(BlobObject { size, body }))
            }
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
