//! Files: attachments in the blob store, processors' results beside them,
//! and product images made of attachments.
//!
//! The bytes go to the blob store first, streamed and hashed on the way;
//! the row that references them is written only once every byte is stored,
//! in one commit with its event. So a failed or oversized upload leaves no
//! row (and the blob store's own contract leaves no object), and a row
//! always names a whole object. A commit that fails after the upload
//! deletes the object again; a process killed between the two leaves an
//! object no row names, which nothing serves.
//!
//! A row whose object has gone (deleted by hand, a blob store switched
//! without copying) reads as `not_found`, never as a failure.

use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::catalogue::Record;
use crate::changeset::{Changeset, Guard};
use crate::error::{AgoraError, StoreError};
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::ports::ByteStream;
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::validate::Validator;
use crate::views::*;

use super::catalog::suspended_or;
use super::{Actor, Agora, failed_guard, require_admin, require_super};

/// Longest `Content-Type` accepted for an attachment.
pub const MAX_CONTENT_TYPE: usize = 255;
/// Most images one product has.
pub const MAX_PRODUCT_IMAGES: usize = 50;
/// Largest processor result, in bytes of JSON.
pub const MAX_DERIVED_BYTES: usize = 1024 * 1024;
/// Kinds of processor results.
pub const DERIVED_KINDS: &[&str] = &["ocr"];

/// A file being read back: what to send and how.
pub struct FileDownload {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its length.
    pub bytes: u64,
    /// Lower-case hex SHA-256, when known (attachments and images).
    pub sha256: Option<String>,
    /// A file name to suggest (exports).
    pub file_name: Option<String>,
    /// The bytes.
    pub body: ByteStream,
}

impl std::fmt::Debug for FileDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDownload")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

pub(crate) fn image_view(i: &ProductImage) -> ImageView {
    ImageView { id: i.id.0, url: i.url.clone(), alt: i.alt.clone(), position: i.position }
}

fn product_image_view(i: &ProductImage) -> ProductImageView {
    ProductImageView {
        id: i.id.0,
        product_id: i.product_id.0,
        attachment_id: i.attachment_id.map(|a| a.0),
        url: i.url.clone(),
        alt: i.alt.clone(),
        position: i.position,
        created_at: i.created_at,
    }
}

fn attachment_view(a: &Attachment) -> AttachmentView {
    AttachmentView {
        id: a.id.0,
        store_id: a.store_id.0,
        content_type: a.content_type.clone(),
        bytes: a.bytes,
        sha256: a.sha256.clone(),
        created_at: a.created_at,
    }
}

/// Whether `ct` looks like a media type (`type/subtype`, optional
/// parameters), so it can be sent back as a header unchanged.
fn is_media_type(ct: &str) -> bool {
    let essence = ct.split(';').next().unwrap_or("").trim();
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    let mut parts = essence.splitn(2, '/');
    let ok = matches!((parts.next(), parts.next()), (Some(t), Some(s)) if token(t) && token(s));
    ok && ct.len() <= MAX_CONTENT_TYPE && ct.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Image types served publicly as product images: raster formats a
/// browser cannot run script from (an SVG could).
const RASTER_IMAGES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"];

fn is_raster_image(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    RASTER_IMAGES.contains(&essence.as_str())
}

/// What the hashing wrapper saw of an upload.
#[derive(Default)]
struct UploadTally {
    hasher: Sha256,
    bytes: u64,
    too_large: bool,
    source_failed: Option<String>,
}

/// Wraps an upload so it is hashed and counted on its way to the blob
/// store, and cut off with an error as soon as it passes `max` bytes.
fn tallied(body: ByteStream, max: u64, tally: Arc<Mutex<UploadTally>>) -> ByteStream {
    Box::pin(body.map(move |chunk| {
        let mut t = tally.lock();
        match chunk {
            Ok(chunk) => {
                t.bytes += chunk.len() as u64;
                if t.bytes > max {
                    t.too_large = true;
                    return Err(std::io::Error::other("the upload is over the size limit"));
                }
                t.hasher.update(&chunk);
                Ok(chunk)
            }
            Err(e) => {
                t.source_failed = Some(e.to_string());
                Err(e)
            }
        }
    }))
}

impl Agora {
    /// Stores a file for a store (store admin): streamed to the blob store
    /// and hashed on the way, then its row and an `attachment.created`
    /// event in one commit. `declared_len` (the request's
    /// `Content-Length`) lets an oversized upload be refused before any
    /// byte is read.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `store_suspended`; `validation` (a
    /// content type that is not a media type, an upload that ended early);
    /// `payload_too_large`
    /// above [`crate::AgoraConfig::max_upload_bytes`]; `unavailable` when
    /// the blob store failed. None of them leaves a row or an object.
    pub async fn upload_attachment(
        &self,
        actor: &Actor,
        store_id: StoreId,
        content_type: &str,
        declared_len: Option<u64>,
        body: ByteStream,
    ) -> Result<AttachmentView, AgoraError> {
        require_admin(actor, store_id)?;
        let content_type = content_type.trim();
        if !is_media_type(content_type) {
            return Err(AgoraError::validation("content_type", "must be a media type like image/png"));
        }
        let max = self.config.max_upload_bytes;
        if declared_len.is_some_and(|n| n > max) {
            return Err(AgoraError::PayloadTooLarge);
        }
        // A suspended store takes no writes (its admins still read).
        self.trading_store(store_id).await?;
        let id = AttachmentId(self.new_uuid());
        let key = format!("attachments/{store_id}/{id}");
        let tally = Arc::new(Mutex::new(UploadTally::default()));
        let written = self.blobs.put_stream(&key, tallied(body, max, tally.clone())).await;
        let (bytes, sha256) = {
            let mut t = tally.lock();
            if t.too_large {
                return Err(AgoraError::PayloadTooLarge);
            }
            if let Some(why) = t.source_failed.take() {
                return Err(AgoraError::validation("body", &format!("the upload ended early: {why}")));
            }
            written?;
            (t.bytes, hex::encode(std::mem::take(&mut t.hasher).finalize()))
        };
        let attachment = Attachment {
            id,
            store_id,
            content_type: content_type.to_owned(),
            bytes: i64::try_from(bytes).map_err(|_| AgoraError::PayloadTooLarge)?,
            sha256,
            blob_key: key.clone(),
            uploaded_by: actor.masked(),
            created_at: self.now(),
        };
        let payload = serde_json::json!({
            "content_type": attachment.content_type, "bytes": attachment.bytes, "sha256": attachment.sha256,
        });
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(store_id));
        cs.insert(Record::Attachment(attachment.clone()));
        cs.insert(self.event(store_id, "attachment", id.0, "attachment.created", payload));
        if let Err(e) = self.apply_changeset(cs).await {
            // The row is not there, so neither should its bytes be; if this
            // delete fails too, the object is one no row names, never served.
            let _ = self.blobs.delete(&key).await;
            return Err(suspended_or(e));
        }
        Ok(attachment_view(&attachment))
    }

    async fn admin_attachment(&self, actor: &Actor, id: AttachmentId) -> Result<Attachment, AgoraError> {
        self.admin_row::<Attachment, _>(actor, id, "attachment", |a| a.store_id).await
    }

    /// An attachment's bytes (its store's admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found` (also when its object is gone);
    /// `unavailable`.
    pub async fn download_attachment(&self, actor: &Actor, id: AttachmentId) -> Result<FileDownload, AgoraError> {
        let a = self.admin_attachment(actor, id).await?;
        self.open_attachment(&a).await
    }

    async fn open_attachment(&self, a: &Attachment) -> Result<FileDownload, AgoraError> {
        let object = self.blobs.open(&a.blob_key).await?.ok_or(AgoraError::NotFound("attachment"))?;
        Ok(FileDownload {
            content_type: a.content_type.clone(),
            bytes: object.size,
            sha256: Some(a.sha256.clone()),
            file_name: None,
            body: object.body,
        })
    }

    /// Stores an outside processor's result beside an attachment (super
    /// admin: processors act for the market), replacing an earlier result
    /// of the same kind, with an `attachment.<kind>_completed` event.
    ///
    /// # Errors
    /// `unauthorized`; `forbidden`; `not_found`; `validation`;
    /// `unavailable`.
    pub async fn put_derived(
        &self,
        actor: &Actor,
        id: AttachmentId,
        req: NewDerived,
    ) -> Result<DerivedView, AgoraError> {
        require_super(actor)?;
        let mut v = Validator::new();
        v.check(DERIVED_KINDS.contains(&req.kind.as_str()), "kind", "must be ocr");
        let content = serde_json::to_vec(&req.content).map_err(|e| AgoraError::Internal(e.to_string()))?;
        v.check(content.len() <= MAX_DERIVED_BYTES, "content", "must be at most 1 MiB of JSON");
        v.finish()?;
        let a = self.store.get::<Attachment, _>(id).await?.ok_or(AgoraError::NotFound("attachment"))?;
        for _ in 0..self.config.max_attempts {
            let existing = self
                .store
                .fetch_all::<AttachmentDerived>(
                    Query::of::<AttachmentDerived>().eq("attachment_id", id).eq("kind", req.kind.as_str()).limit(1),
                )
                .await?
                .pop();
            let now = self.now();
            let version = existing.as_ref().map_or(1, |d| d.version + 1);
            // A fresh key per attempt (two racing writers compute the same
            // version): the object a reader may be reading is never
            // overwritten, and the loser deletes only its own. Not under the
            // attachment's key: on a local directory that key is a file,
            // which cannot also be a directory.
            let key = format!("derived/{}/{}/{}-{}-{}.json", a.store_id, id, req.kind, version, self.new_uuid());
            self.blobs.put(&key, content.clone()).await?;
            let row = AttachmentDerived {
                id: existing.as_ref().map_or_else(|| DerivedId(self.new_uuid()), |d| d.id),
                attachment_id: id,
                store_id: a.store_id,
                kind: req.kind.clone(),
                blob_key: key.clone(),
                bytes: content.len() as i64,
                version,
                created_at: existing.as_ref().map_or(now, |d| d.created_at),
                updated_at: now,
            };
            let kind = format!("attachment.{}_completed", req.kind);
            let payload =
                serde_json::json!({"attachment_id": id, "kind": req.kind, "version": version, "bytes": row.bytes});
            let mut cs = Changeset::new();
            match &existing {
                Some(old) => {
                    cs.guard(Guard::row_is::<AttachmentDerived>(old.id, &[("version", Value::Int(old.version))]));
                    cs.update(Record::AttachmentDerived(row.clone()));
                }
                None => {
                    cs.insert(Record::AttachmentDerived(row.clone()));
                }
            }
            cs.insert(self.event(a.store_id, "attachment", id.0, &kind, payload));
            match self.apply_changeset(cs).await {
                Ok(()) => {
                    // Committed: a failed cleanup leaves an object no row
                    // names (never served), not a failed request.
                    if let Some(old) = existing {
                        let _ = self.blobs.delete(&old.blob_key).await;
                    }
                    return Ok(DerivedView {
                        attachment_id: id.0,
                        kind: row.kind,
                        content: req.content,
                        version,
                        created_at: row.created_at,
                        updated_at: row.updated_at,
                    });
                }
                Err(e) => {
                    let _ = self.blobs.delete(&key).await;
                    if failed_guard(&e).is_some() || matches!(e, StoreError::Duplicate(_)) {
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
        Err(super::too_contended())
    }

    /// A processor's result (the attachment's store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found` (also when none of that kind is stored,
    /// or its object is gone).
    pub async fn get_derived(&self, actor: &Actor, id: AttachmentId, kind: &str) -> Result<DerivedView, AgoraError> {
        let a = self.admin_attachment(actor, id).await?;
        let d = self
            .store
            .fetch_all::<AttachmentDerived>(
                Query::of::<AttachmentDerived>().eq("attachment_id", a.id).eq("kind", kind).limit(1),
            )
            .await?
            .pop()
            .ok_or(AgoraError::NotFound("result"))?;
        let bytes = self.blobs.get(&d.blob_key).await?.ok_or(AgoraError::NotFound("result"))?;
        let content = serde_json::from_slice(&bytes)
            .map_err(|e| AgoraError::Internal(format!("stored result of {}: {e}", a.id)))?;
        Ok(DerivedView {
            attachment_id: a.id.0,
            kind: d.kind,
            content,
            version: d.version,
            created_at: d.created_at,
            updated_at: d.updated_at,
        })
    }

    /// Adds one of the store's image attachments to a product (store
    /// admin), with a `product.image_added` event; it shows in the
    /// product's views and is served at its `url`.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `store_suspended`; `validation` (not a
    /// raster image of this store, bad alt or position, too many images).
    pub async fn add_product_image(
        &self,
        actor: &Actor,
        product_id: ProductId,
        req: NewProductImage,
    ) -> Result<ProductImageView, AgoraError> {
        let product = self.admin_row::<Product, _>(actor, product_id, "product", |p| p.store_id).await?;
        let mut v = Validator::new();
        if let Some(alt) = &req.alt {
            v.text("alt", alt, 0, 500);
        }
        if let Some(p) = req.position {
            v.check((0..=1000).contains(&p), "position", "must be 0..=1000");
        }
        v.finish()?;
        let attachment = self
            .store
            .get::<Attachment, _>(AttachmentId(req.attachment_id))
            .await?
            .filter(|a| a.store_id == product.store_id)
            .ok_or_else(|| AgoraError::validation("attachment_id", "no attachment of this store has this id"))?;
        if !is_raster_image(&attachment.content_type) {
            return Err(AgoraError::validation(
                "attachment_id",
                "the attachment is not a PNG, JPEG, GIF, WebP or AVIF image",
            ));
        }
        let existing = self.store.list_images(product_id).await?;
        if existing.len() >= MAX_PRODUCT_IMAGES {
            return Err(AgoraError::validation("attachment_id", "a product has at most 50 images"));
        }
        let position =
            req.position.unwrap_or_else(|| existing.iter().map(|i| i.position + 1).max().unwrap_or(0).min(1000));
        let id = ImageId(self.new_uuid());
        let image = ProductImage {
            id,
            product_id,
            url: format!("/v1/images/{id}"),
            position,
            created_at: self.now(),
            attachment_id: Some(attachment.id),
            alt: req.alt.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()),
        };
        let payload = serde_json::json!({"image_id": id, "attachment_id": attachment.id, "position": position});
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(product.store_id));
        cs.insert(Record::Image(image.clone()));
        cs.insert(self.event(product.store_id, "product", product_id.0, "product.image_added", payload));
        self.apply_changeset(cs).await.map_err(suspended_or)?;
        Ok(product_image_view(&image))
    }

    /// Takes an image off a product (store admin), with a
    /// `product.image_removed` event. The attachment stays.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `store_suspended`.
    pub async fn delete_product_image(
        &self,
        actor: &Actor,
        product_id: ProductId,
        image_id: ImageId,
    ) -> Result<(), AgoraError> {
        let product = self.admin_row::<Product, _>(actor, product_id, "product", |p| p.store_id).await?;
        let image = self
            .store
            .get::<ProductImage, _>(image_id)
            .await?
            .filter(|i| i.product_id == product_id)
            .ok_or(AgoraError::NotFound("image"))?;
        let payload = serde_json::json!({"image_id": image.id, "attachment_id": image.attachment_id});
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(product.store_id));
        cs.delete::<ProductImage>(image.id);
        cs.insert(self.event(product.store_id, "product", product_id.0, "product.image_removed", payload));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(()),
            // Removed by a concurrent request: the outcome asked for.
            Err(StoreError::Missing(_)) => Err(AgoraError::NotFound("image")),
            Err(e) => Err(suspended_or(e)),
        }
    }

    /// An uploaded product image's bytes: public while the product is
    /// active and its store trades; the store's admins see drafts too.
    ///
    /// # Errors
    /// `not_found` (unknown, not public, not an upload, or its object is
    /// gone); `unavailable`.
    pub async fn product_image_file(&self, actor: &Actor, image_id: ImageId) -> Result<FileDownload, AgoraError> {
        let image = self.store.get::<ProductImage, _>(image_id).await?.ok_or(AgoraError::NotFound("image"))?;
        let product = self.store.get_product(image.product_id).await?.ok_or(AgoraError::NotFound("image"))?;
        if !actor.administers(product.store_id)
            && (product.status != ProductStatus::Active || !self.publicly_visible(product.store_id).await?)
        {
            return Err(AgoraError::NotFound("image"));
        }
        let attachment_id = image.attachment_id.ok_or(AgoraError::NotFound("image"))?;
        let a = self.store.get::<Attachment, _>(attachment_id).await?.ok_or(AgoraError::NotFound("image"))?;
        self.open_attachment(&a).await
    }
}

#[cfg(test)]
mod tests {
    use super::is_media_type;

    #[test]
    fn media_types() {
        for ok in ["image/png", "application/pdf", "text/plain; charset=utf-8", "application/vnd.ms-excel"] {
            assert!(is_media_type(ok), "{ok}");
        }
        for bad in ["", "png", "image/", "/png", "image png", "image/png\r\nx: y", "ïmage/png"] {
            assert!(!is_media_type(bad), "{bad:?}");
        }
    }
}
