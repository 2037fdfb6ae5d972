//! File routes: attachments (raw uploads streamed to the blob store),
//! processors' results beside them, and product images.

use agora_core::views::*;
use agora_core::{AttachmentId, FileDownload, ImageId, ProductId, StoreId};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use futures::StreamExt;
use uuid::Uuid;

use crate::AppState;
use crate::extract::{Caller, JsonBody, PathId, PathIds};
use crate::problem::{ApiError, Problem};
use crate::routes::{Created, R, created};

/// A stored file as a response: its type, length and digest as headers,
/// its bytes streamed from the blob store. Whatever it holds, a browser
/// opening it directly runs nothing from it (`sandbox` policy, `nosniff`).
pub(crate) fn file_response(file: FileDownload, cache: &'static str) -> Response {
    let body = Body::from_stream(file.body);
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    let ct = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(file.bytes));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // Stored files are served as they are: never sniffed into something
    // a browser would run.
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    if let Some(sha) = &file.sha256
        && let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\""))
    {
        h.insert(header::ETAG, v);
    }
    if let Some(name) = &file.file_name {
        let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    res
}

/// Uploads a file (store admin): the raw body, kept with its
/// `Content-Type` (required), at most `AGORA_MAX_UPLOAD_BYTES` (413 above). The bytes
/// are streamed to the object store and hashed on the way; the row is
/// written only once all of them are stored.
#[utoipa::path(post, path = "/v1/stores/{store_id}/attachments", tag = "files",
    params(("store_id" = Uuid, Path, description = "Store id")),
    request_body(content = String, content_type = "application/octet-stream",
        description = "The file's bytes, sent with its own Content-Type (image/png, application/pdf, ...; required)"),
    responses((status = 201, body = AttachmentView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn upload_attachment(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Body,
) -> R<Created<AttachmentView>> {
    let body = Arc::new(tokio::sync::Mutex::new(body.into_data_stream()));
    let result = upload(&s, &actor, StoreId(id), &headers, body.clone()).await;
    // Read what the client is still sending (within bounds) before
    // answering, so it gets the answer instead of a reset connection; a
    // client that waits for `100 Continue` is not invited to send at all.
    let waits_for_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if result.is_err() && !waits_for_continue {
        linger(&body, s.agora.max_upload_bytes()).await;
    }
    Ok(created(result?))
}

type SharedBody = Arc<tokio::sync::Mutex<axum::body::BodyDataStream>>;

async fn upload(
    s: &AppState,
    actor: &agora_core::Actor,
    store: StoreId,
    headers: &HeaderMap,
    body: SharedBody,
) -> Result<AttachmentView, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .ok_or_else(|| ApiError::validation("content_type", "the Content-Type header is required"))?
        .to_str()
        .map_err(|_| ApiError::validation("content_type", "must be a media type"))?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let stream = futures::stream::unfold(body, |body| async move {
        let next = body.lock().await.next().await;
        next.map(|chunk| (chunk.map_err(std::io::Error::other), body))
    })
    .boxed();
    Ok(s.agora.upload_attachment(actor, store, content_type, declared, stream).await?)
}

/// Discards the rest of a refused upload, up to `max` bytes and 5 s.
async fn linger(body: &SharedBody, max: u64) {
    let drain = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = body.lock().await.next().await {
            seen += chunk.len() as u64;
            if seen > max {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
}

/// An attachment's bytes (its store's admin), with its `Content-Type`,
/// length and SHA-256 as `ETag`. A row whose object has gone is 404.
#[utoipa::path(get, path = "/v1/attachments/{id}", tag = "files",
    params(("id" = Uuid, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file as uploaded", content_type = "application/octet-stream"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn download_attachment(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Response> {
    let mut file = s.agora.download_attachment(&actor, AttachmentId(id)).await?;
    // Saved, not shown: an uploaded HTML page never renders in the api's origin.
    file.file_name = Some(format!("attachment-{id}"));
    Ok(file_response(file, "private, no-store"))
}

/// Stores an outside processor's result beside an attachment (super
/// admin), replacing an earlier one of the same kind; writes the event
/// `attachment.ocr_completed`.
#[utoipa::path(post, path = "/v1/attachments/{id}/derived", tag = "files", request_body = NewDerived,
    params(("id" = Uuid, Path, description = "Attachment id")),
    responses((status = 201, body = DerivedView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn put_derived(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewDerived>,
) -> R<Created<DerivedView>> {
    Ok(created(s.agora.put_derived(&actor, AttachmentId(id), req).await?))
}

/// A processor's result for an attachment (its store's admin).
#[utoipa::path(get, path = "/v1/attachments/{id}/derived/{kind}", tag = "files",
    params(("id" = Uuid, Path, description = "Attachment id"), ("kind" = String, Path, description = "Result kind: ocr")),
    responses((status = 200, body = DerivedView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_derived(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((id, kind)): Path<(String, String)>,
) -> R<Json<DerivedView>> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("no such resource"))?;
    Ok(Json(s.agora.get_derived(&actor, AttachmentId(id), &kind).await?))
}

/// Adds one of the store's image attachments to a product (store admin).
#[utoipa::path(post, path = "/v1/products/{id}/images", tag = "files", request_body = NewProductImage,
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 201, body = ProductImageView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn add_product_image(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewProductImage>,
) -> R<Created<ProductImageView>> {
    Ok(created(s.agora.add_product_image(&actor, ProductId(id), req).await?))
}

/// Takes an image off a product (store admin); the attachment stays.
#[utoipa::path(delete, path = "/v1/products/{id}/images/{image_id}", tag = "files",
    params(("id" = Uuid, Path, description = "Product id"), ("image_id" = Uuid, Path, description = "Image id")),
    responses((status = 204, description = "Removed"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn delete_product_image(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathIds(product, image): PathIds,
) -> R<StatusCode> {
    s.agora.delete_product_image(&actor, ProductId(product), ImageId(image)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An uploaded product image (public while its product is active and its
/// store trades; the store's admins see drafts too).
#[utoipa::path(get, path = "/v1/images/{id}", tag = "files",
    params(("id" = Uuid, Path, description = "Image id")),
    responses(
        (status = 200, description = "The image", content_type = "image/*"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get_image(State(s): State<AppState>, Caller(actor): Caller, PathId(id): PathId) -> R<Response> {
    // Only what anyone may see is cacheable by shared caches: an admin's
    // view of a draft's image is not.
    let cache = if matches!(actor, agora_core::Actor::Anonymous) { "public, max-age=300" } else { "private, no-store" };
    let file = s.agora.product_image_file(&actor, ImageId(id)).await?;
    Ok(file_response(file, cache))
}
