//! Files: attachments kept in the blob store (the database holds only
//! their reference and digest), what outside processors derive from them,
//! and settings every process of a deployment shares.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::*;
use crate::schema::Entity;

typed_id! {
    /// Identifies an [`Attachment`].
    AttachmentId,
    /// Identifies an [`AttachmentDerived`] result.
    DerivedId,
}

/// A file a store uploaded. Its bytes are in the blob store under
/// `blob_key`; the row is written only once they all are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "attachment", key(id))]
pub struct Attachment {
    /// Id (time-ordered).
    pub id: AttachmentId,
    /// The store it belongs to.
    pub store_id: StoreId,
    /// The `Content-Type` it was uploaded with.
    pub content_type: String,
    /// Its length.
    pub bytes: i64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Where its bytes are in the blob store.
    pub blob_key: String,
    /// Masked key of who uploaded it.
    pub uploaded_by: String,
    /// Uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An outside processor's result for an attachment (`ocr`), one per kind;
/// a newer result replaces the older. The JSON is in the blob store beside
/// the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(
    table = "attachment_derived",
    key(id),
    unique(name = "attachment_derived_kind_key", columns(attachment_id, kind))
)]
pub struct AttachmentDerived {
    /// Id (time-ordered).
    pub id: DerivedId,
    /// The attachment.
    pub attachment_id: AttachmentId,
    /// Its store.
    pub store_id: StoreId,
    /// What kind of result (`ocr`).
    pub kind: String,
    /// Where the result is in the blob store.
    pub blob_key: String,
    /// The result's length.
    pub bytes: i64,
    /// Bumped by every replacement.
    pub version: i64,
    /// First stored.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last replaced.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A setting every process on one database shares, whatever its own
/// configuration or working directory (the blob store's location).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "deployment_setting", key(name))]
pub struct DeploymentSetting {
    /// The setting's name (`object_store_url`).
    pub name: String,
    /// Its value.
    pub value: String,
    /// Last written.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
