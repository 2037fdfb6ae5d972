//! Files: attachments streamed to the blob store with their digest,
//! processors' results beside them, product images served publicly; no
//! failed upload leaves a row or an object, and a row whose object is gone
//! reads as `not_found`.

use agora_core::views::*;
use agora_core::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, TestStore};

crate::__scenario_list!($ __scenarios_files:
    attachments_round_trip_with_their_digest, failed_or_oversized_uploads_leave_nothing,
    an_attachment_whose_object_is_gone_is_not_found, ocr_results_are_stored_beside_the_file,
    product_images_show_in_views_and_are_served_while_active, a_suspended_store_writes_no_files,
);

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A PNG-ish body of `n` bytes.
fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

async fn attachment_rows(h: &Harness) -> usize {
    h.snapshot().await.rows::<Attachment>().len()
}

/// An upload comes back byte for byte with its length and SHA-256, is
/// announced in the feed, and is its store's only.
pub async fn attachments_round_trip_with_their_digest(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let bytes = body(300_000);
    let a = upload(&h, &s, "application/pdf", bytes.clone()).await;
    assert_eq!(
        (a.bytes, a.sha256.as_str(), a.content_type.as_str()),
        (300_000, sha_hex(&bytes).as_str(), "application/pdf")
    );
    assert_eq!(a.store_id, s.id.0);
    let file = h.agora.download_attachment(&s.admin, AttachmentId(a.id)).await.unwrap();
    assert_eq!(
        (file.content_type.as_str(), file.bytes, file.sha256.clone()),
        ("application/pdf", 300_000, Some(a.sha256.clone()))
    );
    assert_eq!(read_all(file).await, bytes);
    assert_eq!(event_kinds(&h, a.id).await, ["attachment.created"]);
    assert_eq!(code(h.agora.download_attachment(&other.admin, AttachmentId(a.id)).await), "not_found");
    assert_eq!(code(h.agora.download_attachment(&Actor::Anonymous, AttachmentId(a.id)).await), "unauthorized");
    assert_eq!(code(h.agora.download_attachment(&s.admin, AttachmentId(Uuid::now_v7())).await), "not_found");
    let upload_elsewhere =
        h.agora.upload_attachment(&other.admin, s.id, "image/png", Some(3), chunked(b"png".to_vec(), 1)).await;
    assert_eq!(code(upload_elsewhere), "not_found");
    // An empty file is a file.
    let empty = upload(&h, &s, "text/plain", Vec::new()).await;
    assert_eq!((empty.bytes, empty.sha256), (0, sha_hex(b"")));
    assert!(read_all(h.agora.download_attachment(&s.admin, AttachmentId(empty.id)).await.unwrap()).await.is_empty());
}

/// Over the size limit (declared or not), a bad content type, or a body
/// that breaks off: refused, with no row and no object left.
pub async fn failed_or_oversized_uploads_leave_nothing(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let max = AgoraConfig::default().max_upload_bytes;
    let before = (attachment_rows(&h).await, h.blobs.keys().len());
    let declared = h.agora.upload_attachment(&s.admin, s.id, "image/png", Some(max + 1), chunked(vec![0; 4], 1)).await;
    assert_eq!(code(declared), "payload_too_large");
    // No length given: cut off while streaming, once past the limit.
    let over = body(max as usize + 1);
    let streamed = h.agora.upload_attachment(&s.admin, s.id, "image/png", None, chunked(over, 11)).await;
    assert_eq!(code(streamed), "payload_too_large");
    // A length that lies low does not help either.
    let lying =
        h.agora.upload_attachment(&s.admin, s.id, "image/png", Some(10), chunked(body(max as usize + 1), 3)).await;
    assert_eq!(code(lying), "payload_too_large");
    for bad in ["", "png", "image/png\r\nx-evil: 1"] {
        let r = h.agora.upload_attachment(&s.admin, s.id, bad, Some(1), chunked(vec![1], 1)).await;
        assert_eq!(code(r), "validation", "{bad:?}");
    }
    // The client goes away half-way.
    let broken: ByteStream = {
        use futures::StreamExt;
        futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"first half")),
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away")),
        ])
        .boxed()
    };
    let r = h.agora.upload_attachment(&s.admin, s.id, "image/png", Some(100), broken).await;
    assert_eq!(code(r), "validation");
    assert_eq!((attachment_rows(&h).await, h.blobs.keys().len()), before, "no row and no object left");
    // Exactly at the limit is fine.
    let at = upload(&h, &s, "application/octet-stream", body(max as usize)).await;
    assert_eq!(at.bytes as u64, max);
}

/// A row whose object was deleted behind agora's back reads as
/// `not_found`, not as a failure.
pub async fn an_attachment_whose_object_is_gone_is_not_found(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let a = upload(&h, &s, "image/png", body(1000)).await;
    let (p, _) = h.product(&s, "GONE-1", 500, 1).await;
    let image = NewProductImage { attachment_id: a.id, alt: None, position: None };
    let img = h.agora.add_product_image(&s.admin, ProductId(p.id), image).await.unwrap();
    let keys = h.blobs.keys();
    assert_eq!(keys.len(), 1);
    h.blobs.delete(&keys[0]).await.unwrap();
    assert_eq!(code(h.agora.download_attachment(&s.admin, AttachmentId(a.id)).await), "not_found");
    assert_eq!(code(h.agora.product_image_file(&Actor::Anonymous, ImageId(img.id)).await), "not_found");
}

fn ocr(text: &str) -> NewDerived {
    NewDerived { kind: "ocr".into(), content: serde_json::json!({"text": text}).as_object().unwrap().clone() }
}

/// A processor's result is kept beside the file, replaced by a newer one
/// (the old object removed), announced by `attachment.ocr_completed`, and
/// read by the store's admins.
pub async fn ocr_results_are_stored_beside_the_file(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let sa = h.super_admin().await;
    let a = upload(&h, &s, "image/jpeg", body(5000)).await;
    let id = AttachmentId(a.id);
    assert_eq!(code(h.agora.get_derived(&s.admin, id, "ocr").await), "not_found", "none yet");
    let first = h.agora.put_derived(&sa, id, ocr("INVOICE 1")).await.unwrap();
    assert_eq!((first.version, first.kind.as_str()), (1, "ocr"));
    let read = h.agora.get_derived(&s.admin, id, "ocr").await.unwrap();
    assert_eq!(read.content["text"], "INVOICE 1");
    let second = h.agora.put_derived(&sa, id, ocr("INVOICE 2")).await.unwrap();
    assert_eq!((second.version, second.created_at), (2, first.created_at));
    assert_eq!(h.agora.get_derived(&s.admin, id, "ocr").await.unwrap().content["text"], "INVOICE 2");
    assert_eq!(h.blobs.keys().len(), 2, "the file and the newest result only");
    assert_eq!(
        event_kinds(&h, a.id).await,
        ["attachment.created", "attachment.ocr_completed", "attachment.ocr_completed"]
    );
    assert_eq!(
        code(h.agora.put_derived(&s.admin, id, ocr("x")).await),
        "forbidden",
        "processors act as the super admin"
    );
    assert_eq!(
        code(h.agora.put_derived(&sa, id, NewDerived { kind: "thumbnail".into(), ..ocr("x") }).await),
        "validation"
    );
    assert_eq!(code(h.agora.put_derived(&sa, AttachmentId(Uuid::now_v7()), ocr("x")).await), "not_found");
    assert_eq!(code(h.agora.get_derived(&other.admin, id, "ocr").await), "not_found");
    assert_eq!(code(h.agora.get_derived(&s.admin, id, "thumbnail").await), "not_found");
}

/// An image attachment added to a product shows in its views (by
/// position), is served to anyone while the product is active and the
/// store trades, and to its admins only otherwise.
pub async fn product_images_show_in_views_and_are_served_while_active(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let (p, _) = h.product(&s, "IMG-1", 900, 3).await;
    let pid = ProductId(p.id);
    let front_bytes = body(2048);
    let front = upload(&h, &s, "image/png", front_bytes.clone()).await;
    let back = upload(&h, &s, "image/webp", body(10)).await;
    let add = |a: Uuid, alt: Option<&str>, position: Option<i32>| NewProductImage {
        attachment_id: a,
        alt: alt.map(str::to_owned),
        position,
    };
    let img2 = h.agora.add_product_image(&s.admin, pid, add(back.id, None, Some(5))).await.unwrap();
    let img1 = h.agora.add_product_image(&s.admin, pid, add(front.id, Some("Front"), Some(1))).await.unwrap();
    assert_eq!(img1.url, format!("/v1/images/{}", img1.id));
    let view = h.agora.get_product(&Actor::Anonymous, pid).await.unwrap();
    let shown: Vec<(Uuid, Option<&str>, i32)> =
        view.images.iter().map(|i| (i.id, i.alt.as_deref(), i.position)).collect();
    assert_eq!(shown, [(img1.id, Some("Front"), 1), (img2.id, None, 5)]);
    let listed = h.agora.list_products(s.id, &ListQuery::default()).await.unwrap();
    assert_eq!(listed.items.iter().find(|i| i.id == p.id).unwrap().images.len(), 2);
    let file = h.agora.product_image_file(&Actor::Anonymous, ImageId(img1.id)).await.unwrap();
    assert_eq!(file.content_type, "image/png");
    assert_eq!(read_all(file).await, front_bytes);
    // No position: after the last.
    let third = h.agora.add_product_image(&s.admin, pid, add(front.id, None, None)).await.unwrap();
    assert_eq!(third.position, 6);
    // Not an image, not this store's, not a known attachment, bad fields.
    let pdf = upload(&h, &s, "application/pdf", body(10)).await;
    assert_eq!(code(h.agora.add_product_image(&s.admin, pid, add(pdf.id, None, None)).await), "validation");
    // An SVG can carry script: never a public product image.
    let svg = upload(&h, &s, "image/svg+xml", b"<svg onload='alert(1)'/>".to_vec()).await;
    assert_eq!(code(h.agora.add_product_image(&s.admin, pid, add(svg.id, None, None)).await), "validation");
    let foreign = upload(&h, &other, "image/png", body(10)).await;
    assert_eq!(code(h.agora.add_product_image(&s.admin, pid, add(foreign.id, None, None)).await), "validation");
    assert_eq!(code(h.agora.add_product_image(&s.admin, pid, add(Uuid::now_v7(), None, None)).await), "validation");
    assert_eq!(code(h.agora.add_product_image(&s.admin, pid, add(front.id, None, Some(-1))).await), "validation");
    assert_eq!(code(h.agora.add_product_image(&other.admin, pid, add(foreign.id, None, None)).await), "not_found");
    // A draft's images are its admins' only.
    let draft = ProductPatch { title: None, status: Some("draft".into()) };
    h.agora.patch_product(&s.admin, pid, draft).await.unwrap();
    assert_eq!(code(h.agora.product_image_file(&Actor::Anonymous, ImageId(img1.id)).await), "not_found");
    assert_eq!(code(h.agora.product_image_file(&other.admin, ImageId(img1.id)).await), "not_found");
    assert!(h.agora.product_image_file(&s.admin, ImageId(img1.id)).await.is_ok());
    // Removing one takes it out of the views; the attachment stays.
    h.agora.delete_product_image(&s.admin, pid, ImageId(img2.id)).await.unwrap();
    assert_eq!(code(h.agora.delete_product_image(&s.admin, pid, ImageId(img2.id)).await), "not_found");
    assert_eq!(code(h.agora.delete_product_image(&other.admin, pid, ImageId(img1.id)).await), "not_found");
    let view = h.agora.get_product(&s.admin, pid).await.unwrap();
    assert_eq!(view.images.iter().map(|i| i.id).collect::<Vec<_>>(), [img1.id, third.id]);
    assert!(h.agora.download_attachment(&s.admin, AttachmentId(back.id)).await.is_ok());
    assert_eq!(event_kinds(&h, p.id).await.iter().filter(|k| k.starts_with("product.image")).count(), 4);
}

/// A suspended store takes no uploads and no image changes (409
/// `store_suspended`); its admins still read its files.
pub async fn a_suspended_store_writes_no_files(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, _) = h.product(&s, "SUSP-IMG", 500, 1).await;
    let a = upload(&h, &s, "image/png", body(100)).await;
    let add = NewProductImage { attachment_id: a.id, alt: None, position: None };
    let img = h.agora.add_product_image(&s.admin, ProductId(p.id), add.clone()).await.unwrap();
    let sa = h.super_admin().await;
    let suspend = StorePatch { status: Some("suspended".into()), ..Default::default() };
    h.agora.patch_store(&sa, s.id, suspend, None).await.unwrap();
    let before = (attachment_rows(&h).await, h.blobs.keys().len());
    let r = h.agora.upload_attachment(&s.admin, s.id, "image/png", Some(3), chunked(b"png".to_vec(), 1)).await;
    assert_eq!(code(r), "store_suspended");
    assert_eq!((attachment_rows(&h).await, h.blobs.keys().len()), before, "nothing stored");
    assert_eq!(code(h.agora.add_product_image(&s.admin, ProductId(p.id), add).await), "store_suspended");
    assert_eq!(code(h.agora.delete_product_image(&s.admin, ProductId(p.id), ImageId(img.id)).await), "store_suspended");
    assert!(h.agora.download_attachment(&s.admin, AttachmentId(a.id)).await.is_ok());
    assert_eq!(code(h.agora.product_image_file(&Actor::Anonymous, ImageId(img.id)).await), "not_found");
}
