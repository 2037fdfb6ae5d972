//! Redis going away and coming back, without touching the shared server:
//! the clients talk to it through a TCP proxy this test cuts and restores.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agora_core::views::ProductPatch;
use agora_core::*;
use agora_memory::MemoryStore;
use agora_redis::{CachedStore, RedisClient, RedisConfig, RedisIdempotencyCache};
use common::{TestRedis, World};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy to the test server that can be cut (every connection dropped,
/// new ones refused) and restored; Redis keeps its data meanwhile, which is
/// the hard case for invalidation.
struct Proxy {
    url: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

/// `host:port` of a redis URL, and the URL with another `host:port`.
fn split_url(url: &str) -> (String, String, String) {
    let scheme_end = url.find("://").expect("scheme") + 3;
    let rest = &url[scheme_end..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let hostport = if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:6379") };
    (format!("{}{}", &url[..scheme_end], userinfo), hostport, rest[end..].to_owned())
}

impl Proxy {
    async fn start() -> Self {
        let (head, upstream, tail) = split_url(&common::redis_url());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("{head}{}{tail}", listener.local_addr().expect("addr"));
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut_rx = cut2.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Self { url, up, cut }
    }

    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restart(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn redis_stops_and_comes_back() {
    let t = TestRedis::new().await;
    let proxy = Proxy::start().await;
    let via_proxy =
        RedisClient::connect(RedisConfig::new(proxy.url.clone()).with_prefix(t.prefix.clone())).await.expect("proxy");
    let inner = Arc::new(MemoryStore::new());
    let store = Arc::new(CachedStore::new(inner.clone(), via_proxy.clone(), Duration::from_secs(60)));
    let idem = Arc::new(RedisIdempotencyCache::new(via_proxy.clone()));
    let w = World::new(store.clone(), Some(idem), 10).await;
    // Another api instance whose Redis link stays up.
    let other = CachedStore::new(inner.clone(), t.another().await, Duration::from_secs(60));
    let pid = ProductId(w.product.id);
    let title = |p: Option<Product>| p.expect("product").title;

    assert_eq!(title(store.get_product(pid).await.unwrap()), "Kettle");
    assert_eq!(title(other.get_product(pid).await.unwrap()), "Kettle");
    assert_eq!(via_proxy.errors(), 0);

    // Redis goes away for this instance.
    proxy.stop();
    w.agora
        .patch_product(&w.admin, pid, ProductPatch { title: Some("during outage".into()), status: None })
        .await
        .expect("writes do not need Redis");
    assert_eq!(title(store.get_product(pid).await.unwrap()), "during outage", "this instance reads the store");
    assert_eq!(store.list_products(w.store_id, None, Page::first(5)).await.unwrap()[0].title, "during outage");
    let placed = w.agora.place_order(&w.customer, Some("outage"), w.order_request(1)).await.expect("orders work");
    let errors_during = via_proxy.errors();
    assert!(errors_during >= 1, "the outage is counted");
    // The documented bound: an instance that can still reach Redis may serve
    // the old value until the invalidation lands (or the TTL ends).
    assert_eq!(title(other.get_product(pid).await.unwrap()), "Kettle");

    // Redis comes back: the pending invalidation lands on the next read.
    proxy.restart();
    let mut recovered = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if via_proxy.ping().await.is_ok() {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the connection manager reconnects by itself");
    assert_eq!(title(store.get_product(pid).await.unwrap()), "during outage");
    assert_eq!(title(other.get_product(pid).await.unwrap()), "during outage", "every instance is fresh again");
    let errors_after = via_proxy.errors();
    for _ in 0..5 {
        store.get_product(pid).await.unwrap();
    }
    assert_eq!(via_proxy.errors(), errors_after, "no errors once Redis is back");
    let retry = w.agora.place_order(&w.customer, Some("outage"), w.order_request(1)).await.unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.order.id, placed.order.id);
    assert_eq!(w.orders_of_store().await.len(), 1);
}
