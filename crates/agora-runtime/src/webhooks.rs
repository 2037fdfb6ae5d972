//! Outgoing webhooks over HTTP: the sender core's delivery use case calls
//! (reqwest, 10 s timeout, no redirects, the SSRF guard on every resolved
//! address), and the dispatcher loop that runs due deliveries beside the
//! job scheduler, so a slow receiver holds back neither other endpoints nor
//! the other jobs.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_core::outgoing::{
    DELIVERY_TIMEOUT, OutgoingWebhook, WebhookAnswer, WebhookSender, check_url_form, refused_address, url_host,
};
use agora_core::{Agora, AgoraError, WebhookEndpointId};
use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::Semaphore;

use crate::jobs::lease::Claim;

/// Resolves names with the system resolver and drops every address the
/// SSRF guard refuses, so a connection can only go to the addresses that
/// passed (a name that re-resolves to a private address at send time finds
/// nothing to connect to).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| allow_private || refused_address(a.ip()).is_none()).collect();
            if allowed.is_empty() {
                let why = found.first().and_then(|a| refused_address(a.ip())).unwrap_or("unresolvable");
                return Err(format!("{host} resolves only to refused ({why}) addresses").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP sender of outgoing webhooks.
#[derive(Clone, Debug)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpWebhookSender {
    /// A sender; `allow_private` lets targets be loopback or private
    /// (`AGORA_WEBHOOK_ALLOW_PRIVATE=on`, for tests and private networks).
    ///
    /// # Errors
    /// When the TLS backend cannot start.
    pub fn new(allow_private: bool) -> Result<Self, AgoraError> {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .connect_timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            .map_err(|e| AgoraError::Internal(format!("webhook http client: {e}")))?;
        Ok(Self { client, allow_private })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn check_target(&self, url: &str) -> Result<(), String> {
        check_url_form(url, self.allow_private)?;
        reqwest::Url::parse(url).map_err(|e| format!("is not a valid URL: {e}"))?;
        let host = url_host(url)?;
        if self.allow_private || host.parse::<IpAddr>().is_ok() {
            return Ok(());
        }
        // A name that does not resolve (yet) is accepted: every delivery
        // checks again. One that resolves only to refused addresses is not.
        if let Ok(found) = tokio::net::lookup_host((host.as_str(), 0)).await {
            let found: Vec<SocketAddr> = found.collect();
            if !found.is_empty() && found.iter().all(|a| refused_address(a.ip()).is_some()) {
                let why = refused_address(found[0].ip()).unwrap_or("refused");
                return Err(format!("{host} resolves to a {why} address"));
            }
        }
        Ok(())
    }

    async fn send(&self, request: &OutgoingWebhook) -> WebhookAnswer {
        // Address literals skip the resolver: check them here.
        if let Err(why) = check_url_form(&request.url, self.allow_private) {
            return WebhookAnswer::Error(format!("target refused: {why}"));
        }
        let mut builder = self.client.post(&request.url).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        match builder.send().await {
            Ok(response) => WebhookAnswer::Status(response.status().as_u16()),
            Err(e) if e.is_timeout() => WebhookAnswer::Error("timed out after 10 s".into()),
            Err(e) => WebhookAnswer::Error(error_chain(&e)),
        }
    }
}

/// An error with its causes, for the delivery log (`last_error`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs due deliveries: every `interval` it asks core for endpoints whose
/// oldest pending delivery is due and works each, one attempt at a time in
/// seq order, under a lease `webhook:<endpoint>` (one worker per endpoint
/// across processes), at most `max_in_flight` endpoints at once.
#[derive(Clone)]
pub struct WebhookDispatcher {
    agora: Agora,
    interval: Duration,
    lease_ttl: Duration,
    permits: Arc<Semaphore>,
    busy: Arc<Mutex<HashSet<WebhookEndpointId>>>,
    /// Set once a stop is asked for: endpoints in hand end after the
    /// attempt in flight.
    stopping: Arc<AtomicBool>,
}

/// Endpoints worked at once per process.
pub const MAX_ENDPOINTS_IN_FLIGHT: usize = 16;
/// Attempts on one endpoint before its lease is given back.
const ATTEMPTS_PER_TURN: usize = 200;

impl WebhookDispatcher {
    /// A dispatcher for `agora`'s deliveries.
    pub fn new(agora: Agora, interval: Duration, lease_ttl: Duration) -> Self {
        Self {
            agora,
            interval: interval.max(Duration::from_millis(50)),
            lease_ttl,
            permits: Arc::new(Semaphore::new(MAX_ENDPOINTS_IN_FLIGHT)),
            busy: Arc::default(),
            stopping: Arc::default(),
        }
    }

    /// One look for due endpoints; starts a task for each that is not
    /// already being worked here. Returns how many started.
    pub async fn dispatch_once(&self) -> usize {
        let due = match self.agora.due_webhook_endpoints(MAX_ENDPOINTS_IN_FLIGHT as u32 * 4).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "webhook dispatcher: looking for due deliveries failed");
                return 0;
            }
        };
        let mut started = 0;
        for id in due {
            if !self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id) {
                continue;
            }
            let me = self.clone();
            started += 1;
            tokio::spawn(async move {
                if let Ok(_permit) = me.permits.clone().acquire_owned().await {
                    me.work_endpoint(id).await;
                }
                me.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
            });
        }
        started
    }

    /// Whether any endpoint is being worked in this process.
    pub fn busy(&self) -> bool {
        !self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty()
    }

    async fn work_endpoint(&self, id: WebhookEndpointId) {
        let claim = match Claim::try_take(self.agora.locks(), &format!("webhook:{id}"), self.lease_ttl).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => return,
            // No lock manager: the delivery guards keep it right.
            Err(_) => None,
        };
        for _ in 0..ATTEMPTS_PER_TURN {
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            match self.agora.deliver_next_webhook(id).await {
                Ok(Some(d)) => {
                    metrics::counter!("agora_webhook_attempts_total", "status" => d.status.clone()).increment(1);
                    if d.status == "pending" {
                        // Retrying later; the rest waits behind it.
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(endpoint = %id, error = %e, "webhook delivery not recorded; tried again later");
                    break;
                }
            }
        }
        if let Some(c) = claim {
            c.release().await;
        }
    }

    /// Dispatches until `stop` says so, then waits for the attempts in
    /// flight (each at most the 10 s timeout).
    pub async fn run(self, stop: impl Fn() -> bool + Send) {
        tracing::info!(interval_ms = self.interval.as_millis() as u64, "webhook dispatcher started");
        while !stop() {
            self.dispatch_once().await;
            tokio::time::sleep(self.interval).await;
        }
        self.stopping.store(true, Ordering::Relaxed);
        while self.busy() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!("webhook dispatcher stopped");
    }
}
