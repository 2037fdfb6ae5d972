//! Driving a running agora-api over HTTP with the same order mix.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::inproc::{CustomerFx, Fixture, HUGE_STOCK, VariantFx};
use crate::measure::{Outcome, Plan, Tally, run_tasks};

/// A client of one api.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client of the api at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut rq = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let resp = rq.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: body is not JSON: {text}"))
    }

    /// Waits until `GET /readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let t0 = Instant::now();
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                bail!("{} not ready after {timeout:?}", self.base);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the fixture through the api with the super admin key.
    pub async fn create_fixture(&self, admin_key: &str, skus: usize, customers: usize) -> anyhow::Result<Fixture> {
        use reqwest::Method as M;
        let tag = Uuid::new_v4().simple().to_string();
        let store = self
            .call(
                M::POST,
                "/v1/stores",
                admin_key,
                Some(json!({"name": "bench", "domain": format!("bench-{tag}.example")})),
            )
            .await?;
        let store_id = uuid_of(&store["id"])?;
        let wh = self
            .call(M::POST, &format!("/v1/stores/{store_id}/warehouses"), admin_key, Some(json!({"name": "main"})))
            .await?;
        let warehouse_id = uuid_of(&wh["id"])?;
        let mut variants = Vec::new();
        for i in 0..skus.max(1) {
            let p = self
                .call(
                    M::POST,
                    &format!("/v1/stores/{store_id}/products"),
                    admin_key,
                    Some(json!({"title": format!("Product {i}"), "currency": "EUR", "status": "active",
                        "variants": [{"sku": format!("SKU-{i:05}"), "name": "default", "price_minor": 1000 + i}]})),
                )
                .await?;
            let v = &p["variants"][0];
            let id = uuid_of(&v["id"])?;
            self.call(
                M::PUT,
                &format!("/v1/stores/{store_id}/inventory"),
                admin_key,
                Some(json!({"variant_id": id, "warehouse_id": warehouse_id, "on_hand": HUGE_STOCK})),
            )
            .await?;
            variants.push(VariantFx {
                id,
                product_id: uuid_of(&p["id"])?,
                sku: v["sku"].as_str().unwrap_or_default().to_owned(),
                price_minor: v["price_minor"].as_i64().unwrap_or_default(),
            });
        }
        let mut out = Vec::new();
        for i in 0..customers.max(1) {
            let email = format!("c{i}-{tag}@bench.example");
            let u = self
                .call(
                    M::POST,
                    "/v1/users",
                    "",
                    Some(json!({"name": format!("Customer {i}"), "email": email, "password": "bench-password"})),
                )
                .await?;
            let s = self
                .call(M::POST, "/v1/sessions", "", Some(json!({"email": email, "password": "bench-password"})))
                .await?;
            let token = s["token"].as_str().context("no token")?.to_owned();
            let a = self
                .call(
                    M::POST,
                    "/v1/users/me/addresses",
                    &token,
                    Some(json!({"line1": format!("{i} Bench Street"), "city": "Berlin", "postal_code": "10115",
                        "country": "DE"})),
                )
                .await?;
            out.push(CustomerFx {
                user_id: uuid_of(&u["id"])?,
                address_id: uuid_of(&a["id"])?,
                address_hash: String::new(),
                token: Some(token),
            });
        }
        Ok(Fixture {
            store_id,
            warehouse_id,
            currency: "EUR".into(),
            order_ttl_seconds: 1800,
            variants,
            customers: out,
        })
    }

    /// `clients` tasks posting one-line orders with a fresh `Idempotency-Key` each.
    pub async fn run_orders(&self, fx: &Fixture, clients: usize, hot: bool, plan: Plan) -> Outcome {
        run_tasks(plan, clients, |c, window| {
            let (api, fx) = (self.clone(), fx.clone());
            async move {
                let mut tally = Tally::default();
                let (cust, mut pick) = fx.client(c);
                let token = cust.token.clone().unwrap_or_default();
                let url = format!("{}/v1/orders", api.base);
                while window.running() {
                    let v = fx.variant(hot, &mut pick);
                    let body = json!({"store_id": fx.store_id, "address_id": cust.address_id,
                        "items": [{"variant_id": v.id, "qty": 1}]});
                    let t0 = Instant::now();
                    let r = api
                        .http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Idempotency-Key", Uuid::new_v4().simple().to_string())
                        .json(&body)
                        .send()
                        .await;
                    let r = match r {
                        Ok(resp) if resp.status().as_u16() == 201 => {
                            resp.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                        }
                        Ok(resp) => {
                            let st = resp.status();
                            Err(format!("{st}: {}", resp.text().await.unwrap_or_default()))
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    window.record(t0, r, &mut tally);
                }
                tally
            }
        })
        .await
    }
}

fn uuid_of(v: &Value) -> anyhow::Result<Uuid> {
    v.as_str().and_then(|s| s.parse().ok()).with_context(|| format!("expected a UUID, got {v}"))
}
