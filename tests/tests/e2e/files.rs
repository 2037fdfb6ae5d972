//! Files over a real socket (API.md v1.1 "Files"): raw uploads streamed to
//! the object store (a directory here) with their digest, the size limit,
//! processors' results, and product images served publicly.

use agora_e2e::{SUPER_KEY, TestApp};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

fn png(n: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..n).map(|i| (i % 253) as u8));
    b
}

pub async fn files_and_product_images_over_http(app: TestApp) {
    let shop = app.shop().await;
    let other = app.shop().await;
    let store = format!("/v1/stores/{}", shop.id);
    let upload = |token: Option<String>, ct: &'static str, body: Vec<u8>| {
        let mut b = app.request(Method::POST, &format!("{store}/attachments"), token.as_deref()).body(body);
        if !ct.is_empty() {
            b = b.header("content-type", ct);
        }
        app.send(b)
    };

    // Above the 1 MiB JSON limit: uploads have their own.
    let bytes = png(1_500_000);
    let created = upload(Some(shop.key.clone()), "image/png", bytes.clone()).await;
    let a = created.expect(201).clone();
    assert_eq!(a["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!((a["bytes"].as_i64(), a["content_type"].as_str()), (Some(bytes.len() as i64), Some("image/png")));
    let id = a["id"].as_str().unwrap().to_owned();

    let back = app.send(app.request(Method::GET, &format!("/v1/attachments/{id}"), Some(&shop.key))).await;
    assert_eq!(back.status, 200);
    assert_eq!(back.header("content-type"), Some("image/png"));
    assert_eq!(back.header("etag"), Some(format!("\"{}\"", a["sha256"].as_str().unwrap()).as_str()));
    assert_eq!(back.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(back.header("content-security-policy"), Some("sandbox; default-src 'none'"));
    assert!(back.header("content-disposition").is_some_and(|d| d.starts_with("attachment;")), "saved, not shown");
    let raw = app.request(Method::GET, &format!("/v1/attachments/{id}"), Some(&shop.key)).send().await.unwrap();
    assert_eq!(raw.bytes().await.unwrap().to_vec(), bytes, "byte for byte");
    app.get(&format!("/v1/attachments/{id}"), Some(&other.key)).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/attachments/{id}"), None).await.expect_problem(401, "unauthorized");
    upload(None, "image/png", b"x".to_vec()).await.expect_problem(401, "unauthorized");
    upload(Some(other.key.clone()), "image/png", b"x".to_vec()).await.expect_problem(404, "not_found");
    upload(Some(shop.key.clone()), "not a type", b"x".to_vec()).await.expect_problem(422, "validation");
    upload(Some(shop.key.clone()), "", b"no type given".to_vec()).await.expect_problem(422, "validation");
    let plain = upload(Some(shop.key.clone()), "text/plain; charset=utf-8", b"not an image".to_vec()).await;
    assert_eq!(plain.expect(201)["content_type"], "text/plain; charset=utf-8");

    // Over 10 MiB: refused from the length, or cut off while streaming.
    let max = 10 * 1024 * 1024;
    upload(Some(shop.key.clone()), "image/png", vec![0; max + 1]).await.expect_problem(413, "payload_too_large");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..11).map(|_| Ok(vec![1u8; 1024 * 1024])).collect();
    let streamed = app
        .request(Method::POST, &format!("{store}/attachments"), Some(&shop.key))
        .header("content-type", "application/pdf")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
    app.send(streamed).await.expect_problem(413, "payload_too_large");
    // Exactly at the limit is fine.
    upload(Some(shop.key.clone()), "application/pdf", vec![2; max]).await.expect(201);

    // A processor's result beside the file.
    let ocr = json!({"kind": "ocr", "content": {"text": "HELLO", "confidence": 0.9}});
    let derived = format!("/v1/attachments/{id}/derived");
    app.post(&derived, Some(&shop.key), ocr.clone()).await.expect_problem(403, "forbidden");
    assert_eq!(app.post(&derived, Some(SUPER_KEY), ocr.clone()).await.expect(201)["version"], 1);
    assert_eq!(app.post(&derived, Some(SUPER_KEY), ocr).await.expect(201)["version"], 2);
    let read = app.get(&format!("{derived}/ocr"), Some(&shop.key)).await;
    assert_eq!(read.expect(200)["content"]["text"], "HELLO");
    app.get(&format!("{derived}/thumbnail"), Some(&shop.key)).await.expect_problem(404, "not_found");
    app.post(&derived, Some(SUPER_KEY), json!({"kind": "x", "content": {}})).await.expect_problem(422, "validation");

    // Product images: in the views, served to anyone while active.
    let (product, _) = app.product(&shop, 1200, 3).await;
    let images = format!("/v1/products/{product}/images");
    let img = app.post(&images, Some(&shop.key), json!({"attachment_id": id, "alt": "Front"})).await;
    let img = img.expect(201).clone();
    let url = img["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/v1/images/{}", img["id"].as_str().unwrap()));
    let view = app.get(&format!("/v1/products/{product}"), None).await;
    assert_eq!(view.expect(200)["images"], json!([{"id": img["id"], "url": url, "alt": "Front", "position": 0}]));
    let listed = app.get(&format!("{store}/products"), None).await;
    assert_eq!(listed.expect(200)["items"][0]["images"][0]["url"], url.as_str());
    let public = app.request(Method::GET, &url, None).send().await.unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(public.headers()["cache-control"], "public, max-age=300");
    assert_eq!(public.bytes().await.unwrap().to_vec(), bytes);
    let pdf = plain.json["id"].as_str().unwrap();
    app.post(&images, Some(&shop.key), json!({"attachment_id": pdf})).await.expect_problem(422, "validation");
    app.post(&images, Some(&other.key), json!({"attachment_id": id})).await.expect_problem(404, "not_found");
    let draft = json!({"status": "draft"});
    app.call(Method::PATCH, &format!("/v1/products/{product}"), Some(&shop.key), Some(draft)).await.expect(200);
    app.get(&url, None).await.expect_problem(404, "not_found");
    let admin = app.send(app.request(Method::GET, &url, Some(&shop.key))).await;
    assert_eq!((admin.status, admin.header("cache-control")), (200, Some("private, no-store")));
    let image_path = format!("{images}/{}", img["id"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &image_path, Some(&shop.key), None).await.status, 204);
    app.call(Method::DELETE, &image_path, Some(&shop.key), None).await.expect_problem(404, "not_found");

    // Every change is in the feed (once sequenced, as the worker does).
    let store_id = agora_core::StoreId(shop.id.parse().unwrap());
    app.agora.sequence_events(store_id).await.unwrap();
    let events = app.get(&format!("{store}/events?limit=200"), Some(&shop.key)).await;
    let kinds: Vec<String> = events.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["attachment.created", "attachment.ocr_completed", "product.image_added", "product.image_removed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
}
