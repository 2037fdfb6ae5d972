//! The blob store contract (`agora_core::BlobStore`) on every backend agora
//! opens from a URL: `memory:`, `file://` and `s3://` against a real
//! S3-compatible server. The contract is plain functions over
//! `&dyn BlobStore`; each backend's test calls all of them on a fresh root
//! (a new directory, a new bucket).
//!
//! The S3 tests need the server `.ci/run` starts (moto, on
//! `AGORA_TEST_S3_ENDPOINT`, default `http://127.0.0.1:9000`) and fail
//! without it.

use std::sync::Arc;

use agora_core::{BlobStore, UploadStream};
use futures::{StreamExt, TryStreamExt};

const MIB: usize = 1024 * 1024;

fn bytes_of(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn stream_of(bytes: &[u8], chunk: usize) -> UploadStream<'static> {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        bytes.chunks(chunk.max(1)).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(chunks).boxed()
}

/// `bytes` in `chunk`-sized pieces, then an error instead of the rest.
fn failing_after(bytes: &[u8], chunk: usize) -> UploadStream<'static> {
    stream_of(bytes, chunk)
        .chain(futures::stream::once(async { Err(std::io::Error::other("the client went away")) }))
        .boxed()
}

async fn read(blobs: &dyn BlobStore, key: &str) -> Option<Vec<u8>> {
    let object = blobs.open(key).await.expect("open")?;
    let chunks: Vec<bytes::Bytes> = object.body.try_collect().await.expect("read");
    let all = chunks.concat();
    assert_eq!(all.len() as u64, object.size, "{key}: the size said is the size read");
    Some(all)
}

/// Whole objects: written, read back, replaced, deleted (twice is fine),
/// absent as `None`.
pub async fn whole_objects(blobs: &dyn BlobStore) {
    assert_eq!(blobs.get("a/missing").await.unwrap(), None);
    assert!(blobs.open("a/missing").await.unwrap().is_none());
    blobs.put("a/one.json", b"{\"n\":1}".to_vec()).await.unwrap();
    assert_eq!(blobs.get("a/one.json").await.unwrap().as_deref(), Some(&b"{\"n\":1}"[..]));
    blobs.put("a/one.json", b"{\"n\":2}".to_vec()).await.unwrap();
    assert_eq!(read(blobs, "a/one.json").await.as_deref(), Some(&b"{\"n\":2}"[..]));
    blobs.delete("a/one.json").await.unwrap();
    blobs.delete("a/one.json").await.unwrap();
    assert_eq!(blobs.get("a/one.json").await.unwrap(), None);
}

/// Streams: small ones in pieces, an empty one, and one of 12 MiB that
/// goes up in parts; each reads back byte for byte.
pub async fn streamed_objects(blobs: &dyn BlobStore) {
    let small = bytes_of(100_000, 1);
    assert_eq!(blobs.put_stream("s/small", stream_of(&small, 4096)).await.unwrap(), 100_000);
    assert_eq!(read(blobs, "s/small").await.unwrap(), small);
    assert_eq!(blobs.put_stream("s/empty", stream_of(&[], 1)).await.unwrap(), 0);
    assert_eq!(read(blobs, "s/empty").await.unwrap(), Vec::<u8>::new());
    let large = bytes_of(12 * MIB + 12_345, 7);
    assert_eq!(blobs.put_stream("s/large", stream_of(&large, 256 * 1024)).await.unwrap(), large.len() as u64);
    assert!(read(blobs, "s/large").await.unwrap() == large, "12 MiB read back as written");
    // A stream replaces what the key held.
    let replaced = bytes_of(10, 9);
    blobs.put_stream("s/small", stream_of(&replaced, 3)).await.unwrap();
    assert_eq!(read(blobs, "s/small").await.unwrap(), replaced);
}

/// A stream that fails, early (still buffered) or late (a multipart upload
/// under way), leaves nothing readable under its key.
pub async fn failed_streams_leave_nothing(blobs: &dyn BlobStore) {
    assert!(blobs.put_stream("f/early", failing_after(&bytes_of(1000, 2), 100)).await.is_err());
    assert!(blobs.open("f/early").await.unwrap().is_none());
    assert!(blobs.put_stream("f/late", failing_after(&bytes_of(11 * MIB, 3), MIB)).await.is_err());
    assert!(blobs.open("f/late").await.unwrap().is_none());
    assert_eq!(blobs.get("f/late").await.unwrap(), None);
}

async fn contract(blobs: Arc<dyn BlobStore>) {
    whole_objects(blobs.as_ref()).await;
    streamed_objects(blobs.as_ref()).await;
    failed_streams_leave_nothing(blobs.as_ref()).await;
}

#[tokio::test]
async fn memory_keeps_the_contract() {
    contract(agora_runtime::blobs::open("memory:").unwrap()).await;
}

#[tokio::test]
async fn a_local_directory_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    contract(agora_runtime::blobs::open(&format!("file://{}", root.display())).unwrap()).await;
    // No staging file of a failed upload stays behind.
    let mut left = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { left.push(p.strip_prefix(&root).unwrap().display().to_string()) }
        }
    }
    left.sort();
    assert_eq!(left, ["s/empty", "s/large", "s/small"]);
}

fn s3_endpoint() -> String {
    std::env::var("AGORA_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// A bucket of its own on the test S3 server (moto takes unsigned
/// requests to create one).
async fn fresh_bucket() -> String {
    let endpoint = s3_endpoint();
    let bucket = format!("agora-test-{}", uuid::Uuid::now_v7().simple());
    let res = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap_or_else(|e| {
        panic!("the S3 test server is not reachable at {endpoint} (AGORA_TEST_S3_ENDPOINT; .ci/run starts one): {e}")
    });
    assert!(res.status().is_success(), "creating bucket {bucket}: {}", res.status());
    bucket
}

fn s3_vars() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", s3_endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "agora-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "agora-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test]
async fn s3_keeps_the_contract() {
    let bucket = fresh_bucket().await;
    contract(agora_runtime::blobs::open_with(&format!("s3://{bucket}"), s3_vars()).unwrap()).await;
}

#[tokio::test]
async fn s3_under_a_prefix_keeps_the_contract_and_its_prefix() {
    let bucket = fresh_bucket().await;
    let blobs = agora_runtime::blobs::open_with(&format!("s3://{bucket}/tenant-a"), s3_vars()).unwrap();
    contract(blobs.clone()).await;
    blobs.put("x/y", b"under the prefix".to_vec()).await.unwrap();
    let whole = agora_runtime::blobs::open_with(&format!("s3://{bucket}"), s3_vars()).unwrap();
    assert_eq!(whole.get("tenant-a/x/y").await.unwrap().as_deref(), Some(&b"under the prefix"[..]));
    assert_eq!(whole.get("x/y").await.unwrap(), None);
}

#[test]
fn unknown_schemes_and_bucketless_urls_are_refused() {
    for url in ["ftp://x", "s3://", "file://", "blobs"] {
        assert!(agora_runtime::blobs::open_with(url, Vec::new()).is_err(), "{url}");
    }
}
