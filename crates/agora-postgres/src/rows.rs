//! Conversions between rows and core entities, both ways.
//!
//! Readers take rows selected with [`crate::schema::Table::select_list`]
//! (money already converted to bigint minor units); binders bind an entity's
//! fields in the table's column order, for the generated INSERT and UPDATE.

use agora_core::*;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Postgres, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreResult;

pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn get<'r, T>(row: &'r PgRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(|e| StoreError::Schema(format!("column {col}: {e}")))
}

fn id(row: &PgRow, col: &str) -> StoreResult<Uuid> {
    get(row, col)
}

fn text(row: &PgRow, col: &str) -> StoreResult<String> {
    get(row, col)
}

fn at(row: &PgRow, col: &str) -> StoreResult<OffsetDateTime> {
    get(row, col)
}

fn opt_at(row: &PgRow, col: &str) -> StoreResult<Option<OffsetDateTime>> {
    get(row, col)
}

fn enum_col<T>(row: &PgRow, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let s: String = get(row, col)?;
    parse(&s).ok_or_else(|| StoreError::Schema(format!("column {col}: unknown value {s:?}")))
}

fn currency(row: &PgRow, col: &str) -> StoreResult<Currency> {
    let s: String = get(row, col)?;
    Currency::parse(&s).map_err(|_| StoreError::Schema(format!("column {col}: bad currency {s:?}")))
}

pub(crate) fn shop(r: &PgRow) -> StoreResult<Shop> {
    let version: Option<i64> = get(r, "encryption_version")?;
    let ciphertext: Option<Vec<u8>> = get(r, "access_token_ciphertext")?;
    let access_token = match (version, ciphertext) {
        (Some(v), Some(ciphertext)) => Some(SealedSecret {
            key_version: u32::try_from(v).map_err(|_| StoreError::Schema(format!("encryption_version {v}")))?,
            ciphertext,
        }),
        (None, None) => None,
        _ => return Err(StoreError::Schema("store access token half present".into())),
    };
    Ok(Shop {
        id: StoreId(id(r, "id")?),
        name: text(r, "name")?,
        domain: text(r, "domain")?,
        plan: text(r, "plan")?,
        status: enum_col(r, "status", StoreStatus::parse)?,
        access_token,
        created_at: at(r, "created_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_shop<'q>(q: PgQuery<'q>, s: &Shop) -> PgQuery<'q> {
    q.bind(s.id.0)
        .bind(s.name.clone())
        .bind(s.domain.clone())
        .bind(s.plan.clone())
        .bind(s.status.as_str())
        .bind(s.access_token.as_ref().map(|t| i64::from(t.key_version)))
        .bind(s.access_token.as_ref().map(|t| t.ciphertext.clone()))
        .bind(s.created_at)
        .bind(s.updated_at)
}

pub(crate) fn settings(r: &PgRow) -> StoreResult<StoreSettings> {
    Ok(StoreSettings {
        store_id: StoreId(id(r, "store_id")?),
        order_ttl_seconds: get(r, "order_ttl_seconds")?,
        auto_receive_seconds: get(r, "auto_receive_seconds")?,
        required_helpers: get(r, "required_helpers")?,
        help_task_ttl_seconds: get(r, "help_task_ttl_seconds")?,
        payout_cooling_seconds: get(r, "payout_cooling_seconds")?,
        help_payout_percent: get(r, "help_payout_percent")?,
        version: get(r, "version")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_settings<'q>(q: PgQuery<'q>, s: &StoreSettings) -> PgQuery<'q> {
    q.bind(s.store_id.0)
        .bind(s.order_ttl_seconds)
        .bind(s.auto_receive_seconds)
        .bind(s.required_helpers)
        .bind(s.help_task_ttl_seconds)
        .bind(s.payout_cooling_seconds)
        .bind(s.help_payout_percent)
        .bind(s.version)
        .bind(s.updated_at)
}

pub(crate) fn user(r: &PgRow) -> StoreResult<AppUser> {
    Ok(AppUser {
        id: UserId(id(r, "id")?),
        name: text(r, "name")?,
        email: text(r, "email")?,
        phone: get(r, "phone")?,
        password_hash: text(r, "password_hash")?,
        created_at: at(r, "created_at")?,
    })
}

pub(crate) fn bind_user<'q>(q: PgQuery<'q>, u: &AppUser) -> PgQuery<'q> {
    q.bind(u.id.0)
        .bind(u.name.clone())
        .bind(u.email.clone())
        .bind(u.phone.clone())
        .bind(u.password_hash.clone())
        .bind(u.created_at)
}

pub(crate) fn address(r: &PgRow) -> StoreResult<UserAddress> {
    Ok(UserAddress {
        id: AddressId(id(r, "id")?),
        user_id: UserId(id(r, "user_id")?),
        line1: text(r, "line1")?,
        city: text(r, "city")?,
        postal_code: text(r, "postal_code")?,
        country: text(r, "country")?,
        address_hash: text(r, "address_hash")?,
        created_at: at(r, "created_at")?,
    })
}

pub(crate) fn bind_address<'q>(q: PgQuery<'q>, a: &UserAddress) -> PgQuery<'q> {
    q.bind(a.id.0)
        .bind(a.user_id.0)
        .bind(a.line1.clone())
        .bind(a.city.clone())
        .bind(a.postal_code.clone())
        .bind(a.country.clone())
        .bind(a.address_hash.clone())
        .bind(a.created_at)
}

pub(crate) fn session(r: &PgRow) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId(id(r, "id")?),
        user_id: UserId(id(r, "user_id")?),
        token_hash: text(r, "token_hash")?,
        created_at: at(r, "created_at")?,
        expires_at: at(r, "expires_at")?,
    })
}

pub(crate) fn bind_session<'q>(q: PgQuery<'q>, s: &Session) -> PgQuery<'q> {
    q.bind(s.id.0).bind(s.user_id.0).bind(s.token_hash.clone()).bind(s.created_at).bind(s.expires_at)
}

pub(crate) fn admin_key(r: &PgRow) -> StoreResult<AdminKey> {
    Ok(AdminKey {
        id: AdminKeyId(id(r, "id")?),
        store_id: StoreId(id(r, "store_id")?),
        key_hash: text(r, "key_hash")?,
        masked: text(r, "masked")?,
        created_at: at(r, "created_at")?,
    })
}

pub(crate) fn bind_admin_key<'q>(q: PgQuery<'q>, k: &AdminKey) -> PgQuery<'q> {
    q.bind(k.id.0).bind(k.store_id.0).bind(k.key_hash.clone()).bind(k.masked.clone()).bind(k.created_at)
}

pub(crate) fn product(r: &PgRow) -> StoreResult<Product> {
    Ok(Product {
        id: ProductId(id(r, "id")?),
        store_id: StoreId(id(r, "store_id")?),
        title: text(r, "title")?,
        status: enum_col(r, "status", ProductStatus::parse)?,
        currency: currency(r, "currency")?,
        version: get(r, "version")?,
        created_at: at(r, "created_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_product<'q>(q: PgQuery<'q>, p: &Product) -> PgQuery<'q> {
    q.bind(p.id.0)
        .bind(p.store_id.0)
        .bind(p.title.clone())
        .bind(p.status.as_str())
        .bind(p.currency.as_str().to_owned())
        .bind(p.version)
        .bind(p.created_at)
        .bind(p.updated_at)
}

pub(crate) fn variant(r: &PgRow) -> StoreResult<ProductVariant> {
    Ok(ProductVariant {
        id: VariantId(id(r, "id")?),
        product_id: ProductId(id(r, "product_id")?),
        store_id: StoreId(id(r, "store_id")?),
        sku: text(r, "sku")?,
        name: text(r, "name")?,
        price_minor: get(r, "price")?,
        status: enum_col(r, "status", ProductStatus::parse)?,
        created_at: at(r, "created_at")?,
    })
}

pub(crate) fn bind_variant<'q>(q: PgQuery<'q>, v: &ProductVariant) -> PgQuery<'q> {
    q.bind(v.id.0)
        .bind(v.product_id.0)
        .bind(v.store_id.0)
        .bind(v.sku.clone())
        .bind(v.name.clone())
        .bind(v.price_minor)
        .bind(v.status.as_str())
        .bind(v.created_at)
}

pub(crate) fn image(r: &PgRow) -> StoreResult<ProductImage> {
    Ok(ProductImage {
        id: ImageId(id(r, "id")?),
        product_id: ProductId(id(r, "product_id")?),
        url: text(r, "url")?,
        position: get(r, "position")?,
        created_at: at(r, "created_at")?,
    })
}

pub(crate) fn bind_image<'q>(q: PgQuery<'q>, i: &ProductImage) -> PgQuery<'q> {
    q.bind(i.id.0).bind(i.product_id.0).bind(i.url.clone()).bind(i.position).bind(i.created_at)
}

pub(crate) fn warehouse(r: &PgRow) -> StoreResult<Warehouse> {
    Ok(Warehouse {
        id: WarehouseId(id(r, "id")?),
        store_id: StoreId(id(r, "store_id")?),
        name: text(r, "name")?,
        created_at: at(r, "created_at")?,
    })
}

pub(crate) fn bind_warehouse<'q>(q: PgQuery<'q>, w: &Warehouse) -> PgQuery<'q> {
    q.bind(w.id.0).bind(w.store_id.0).bind(w.name.clone()).bind(w.created_at)
}

pub(crate) fn inventory(r: &PgRow) -> StoreResult<Inventory> {
    Ok(Inventory {
        variant_id: VariantId(id(r, "variant_id")?),
        warehouse_id: WarehouseId(id(r, "warehouse_id")?),
        store_id: StoreId(id(r, "store_id")?),
        on_hand: get(r, "on_hand")?,
        reserved: get(r, "reserved")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn reservation(r: &PgRow) -> StoreResult<InventoryReservation> {
    Ok(InventoryReservation {
        id: ReservationId(id(r, "id")?),
        order_id: OrderId(id(r, "order_id")?),
        store_id: StoreId(id(r, "store_id")?),
        variant_id: VariantId(id(r, "variant_id")?),
        warehouse_id: WarehouseId(id(r, "warehouse_id")?),
        qty: get(r, "qty")?,
        status: enum_col(r, "status", ReservationStatus::parse)?,
        expires_at: at(r, "expires_at")?,
        created_at: at(r, "created_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_reservation<'q>(q: PgQuery<'q>, v: &InventoryReservation) -> PgQuery<'q> {
    q.bind(v.id.0)
        .bind(v.order_id.0)
        .bind(v.store_id.0)
        .bind(v.variant_id.0)
        .bind(v.warehouse_id.0)
        .bind(v.qty)
        .bind(v.status.as_str())
        .bind(v.expires_at)
        .bind(v.created_at)
        .bind(v.updated_at)
}

pub(crate) fn order(r: &PgRow) -> StoreResult<CustomerOrder> {
    let close_reason: Option<String> = get(r, "close_reason")?;
    let close_reason = match close_reason {
        None => None,
        Some(s) => Some(
            CloseReason::parse(&s).ok_or_else(|| StoreError::Schema(format!("close_reason: unknown value {s:?}")))?,
        ),
    };
    Ok(CustomerOrder {
        id: OrderId(id(r, "id")?),
        order_number: text(r, "order_number")?,
        store_id: StoreId(id(r, "store_id")?),
        user_id: UserId(id(r, "user_id")?),
        address_id: AddressId(id(r, "address_id")?),
        address_hash: text(r, "address_hash")?,
        status: enum_col(r, "status", OrderStatus::parse)?,
        amount_minor: get(r, "amount")?,
        pay_amount_minor: get(r, "pay_amount")?,
        currency: currency(r, "currency")?,
        help_task_no: get(r, "help_task_no")?,
        created_at: at(r, "created_at")?,
        paid_at: opt_at(r, "paid_at")?,
        shipped_at: opt_at(r, "shipped_at")?,
        received_at: opt_at(r, "received_at")?,
        closed_at: opt_at(r, "closed_at")?,
        close_reason,
        reservation_expires_at: at(r, "reservation_expires_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_order<'q>(q: PgQuery<'q>, o: &CustomerOrder) -> PgQuery<'q> {
    q.bind(o.id.0)
        .bind(o.order_number.clone())
        .bind(o.store_id.0)
        .bind(o.user_id.0)
        .bind(o.address_id.0)
        .bind(o.address_hash.clone())
        .bind(o.status.as_str())
        .bind(o.amount_minor)
        .bind(o.pay_amount_minor)
        .bind(o.currency.as_str().to_owned())
        .bind(o.help_task_no.clone())
        .bind(o.created_at)
        .bind(o.paid_at)
        .bind(o.shipped_at)
        .bind(o.received_at)
        .bind(o.closed_at)
        .bind(o.close_reason.map(|c| c.as_str()))
        .bind(o.reservation_expires_at)
        .bind(o.updated_at)
}

pub(crate) fn order_item(r: &PgRow) -> StoreResult<OrderItem> {
    Ok(OrderItem {
        id: OrderItemId(id(r, "id")?),
        order_id: OrderId(id(r, "order_id")?),
        line_no: get(r, "line_no")?,
        variant_id: VariantId(id(r, "variant_id")?),
        sku: text(r, "sku")?,
        qty: get(r, "qty")?,
        unit_price_minor: get(r, "unit_price")?,
    })
}

pub(crate) fn bind_order_item<'q>(q: PgQuery<'q>, i: &OrderItem) -> PgQuery<'q> {
    q.bind(i.id.0)
        .bind(i.order_id.0)
        .bind(i.line_no)
        .bind(i.variant_id.0)
        .bind(i.sku.clone())
        .bind(i.qty)
        .bind(i.unit_price_minor)
}

pub(crate) fn payment(r: &PgRow) -> StoreResult<Payment> {
    Ok(Payment {
        id: PaymentId(id(r, "id")?),
        order_id: OrderId(id(r, "order_id")?),
        store_id: StoreId(id(r, "store_id")?),
        user_id: UserId(id(r, "user_id")?),
        amount_minor: get(r, "amount")?,
        currency: currency(r, "currency")?,
        status: enum_col(r, "status", PaymentStatus::parse)?,
        provider: text(r, "provider")?,
        created_at: at(r, "created_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_payment<'q>(q: PgQuery<'q>, p: &Payment) -> PgQuery<'q> {
    q.bind(p.id.0)
        .bind(p.order_id.0)
        .bind(p.store_id.0)
        .bind(p.user_id.0)
        .bind(p.amount_minor)
        .bind(p.currency.as_str().to_owned())
        .bind(p.status.as_str())
        .bind(p.provider.clone())
        .bind(p.created_at)
        .bind(p.updated_at)
}

pub(crate) fn payment_event(r: &PgRow) -> StoreResult<PaymentEvent> {
    let payment_id: Option<Uuid> = get(r, "payment_id")?;
    let store_id: Option<Uuid> = get(r, "store_id")?;
    Ok(PaymentEvent {
        id: PaymentEventId(id(r, "id")?),
        provider: text(r, "provider")?,
        event_id: text(r, "event_id")?,
        payment_id: payment_id.map(PaymentId),
        store_id: store_id.map(StoreId),
        kind: text(r, "kind")?,
        amount_minor: get(r, "amount")?,
        outcome: text(r, "outcome")?,
        raw: get(r, "raw")?,
        received_at: at(r, "received_at")?,
    })
}

pub(crate) fn bind_payment_event<'q>(q: PgQuery<'q>, e: &PaymentEvent) -> PgQuery<'q> {
    q.bind(e.id.0)
        .bind(e.provider.clone())
        .bind(e.event_id.clone())
        .bind(e.payment_id.map(|p| p.0))
        .bind(e.store_id.map(|s| s.0))
        .bind(e.kind.clone())
        .bind(e.amount_minor)
        .bind(e.outcome.clone())
        .bind(e.raw.clone())
        .bind(e.received_at)
}

pub(crate) fn task(r: &PgRow) -> StoreResult<HelpTask> {
    Ok(HelpTask {
        id: TaskId(id(r, "id")?),
        task_no: text(r, "task_no")?,
        store_id: StoreId(id(r, "store_id")?),
        order_id: OrderId(id(r, "order_id")?),
        user_id: UserId(id(r, "user_id")?),
        status: enum_col(r, "status", TaskStatus::parse)?,
        required_helpers: get(r, "required_helpers")?,
        helps_valid: get(r, "helps_valid")?,
        created_at: at(r, "created_at")?,
        expires_at: at(r, "expires_at")?,
        qualified_at: opt_at(r, "qualified_at")?,
        payout_at: opt_at(r, "payout_at")?,
        closed_at: opt_at(r, "closed_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_task<'q>(q: PgQuery<'q>, t: &HelpTask) -> PgQuery<'q> {
    q.bind(t.id.0)
        .bind(t.task_no.clone())
        .bind(t.store_id.0)
        .bind(t.order_id.0)
        .bind(t.user_id.0)
        .bind(t.status.as_str())
        .bind(t.required_helpers)
        .bind(t.helps_valid)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.qualified_at)
        .bind(t.payout_at)
        .bind(t.closed_at)
        .bind(t.updated_at)
}

pub(crate) fn help(r: &PgRow) -> StoreResult<Help> {
    Ok(Help {
        id: HelpId(id(r, "id")?),
        task_id: TaskId(id(r, "task_id")?),
        helper_user_id: UserId(id(r, "helper_user_id")?),
        order_id: OrderId(id(r, "order_id")?),
        status: enum_col(r, "status", HelpStatus::parse)?,
        created_at: at(r, "created_at")?,
        received_at: opt_at(r, "received_at")?,
    })
}

pub(crate) fn bind_help<'q>(q: PgQuery<'q>, h: &Help) -> PgQuery<'q> {
    q.bind(h.id.0)
        .bind(h.task_id.0)
        .bind(h.helper_user_id.0)
        .bind(h.order_id.0)
        .bind(h.status.as_str())
        .bind(h.created_at)
        .bind(h.received_at)
}

pub(crate) fn payout(r: &PgRow) -> StoreResult<PayoutLedger> {
    let helper_user_ids: Vec<Uuid> = get(r, "helper_user_ids")?;
    let helper_order_ids: Vec<Uuid> = get(r, "helper_order_ids")?;
    Ok(PayoutLedger {
        id: PayoutId(id(r, "id")?),
        task_id: TaskId(id(r, "task_id")?),
        task_no: text(r, "task_no")?,
        store_id: StoreId(id(r, "store_id")?),
        user_id: UserId(id(r, "user_id")?),
        order_id: OrderId(id(r, "order_id")?),
        helper_user_ids: helper_user_ids.into_iter().map(UserId).collect(),
        helper_order_ids: helper_order_ids.into_iter().map(OrderId).collect(),
        amount_minor: get(r, "amount")?,
        currency: currency(r, "currency")?,
        qualified_at: at(r, "qualified_at")?,
        payout_at: at(r, "payout_at")?,
        payout_status: enum_col(r, "payout_status", PayoutStatus::parse)?,
        risk_level: enum_col(r, "risk_level", RiskLevel::parse)?,
        risk_reasons: get(r, "risk_reasons")?,
        note: get(r, "note")?,
        operator: get(r, "operator")?,
        created_at: at(r, "created_at")?,
        updated_at: at(r, "updated_at")?,
    })
}

pub(crate) fn bind_payout<'q>(q: PgQuery<'q>, p: &PayoutLedger) -> PgQuery<'q> {
    q.bind(p.id.0)
        .bind(p.task_id.0)
        .bind(p.task_no.clone())
        .bind(p.store_id.0)
        .bind(p.user_id.0)
        .bind(p.order_id.0)
        .bind(p.helper_user_ids.iter().map(|u| u.0).collect::<Vec<Uuid>>())
        .bind(p.helper_order_ids.iter().map(|o| o.0).collect::<Vec<Uuid>>())
        .bind(p.amount_minor)
        .bind(p.currency.as_str().to_owned())
        .bind(p.qualified_at)
        .bind(p.payout_at)
        .bind(p.payout_status.as_str())
        .bind(p.risk_level.as_str())
        .bind(p.risk_reasons.clone())
        .bind(p.note.clone())
        .bind(p.operator.clone())
        .bind(p.created_at)
        .bind(p.updated_at)
}

pub(crate) fn audit(r: &PgRow) -> StoreResult<AuditLog> {
    Ok(AuditLog {
        id: AuditId(id(r, "id")?),
        store_id: StoreId(id(r, "store_id")?),
        at: at(r, "at")?,
        actor_masked: text(r, "actor_masked")?,
        ip: get(r, "ip")?,
        key: text(r, "key")?,
        from: get(r, "from_value")?,
        to: get(r, "to_value")?,
    })
}

pub(crate) fn bind_audit<'q>(q: PgQuery<'q>, a: &AuditLog) -> PgQuery<'q> {
    q.bind(a.id.0)
        .bind(a.store_id.0)
        .bind(a.at)
        .bind(a.actor_masked.clone())
        .bind(a.ip.clone())
        .bind(a.key.clone())
        .bind(a.from.clone())
        .bind(a.to.clone())
}

pub(crate) fn idempotency(r: &PgRow) -> StoreResult<IdempotencyRecord> {
    let status: i32 = get(r, "response_status")?;
    Ok(IdempotencyRecord {
        scope: text(r, "scope")?,
        key: text(r, "key")?,
        fingerprint: text(r, "fingerprint")?,
        response_status: u16::try_from(status)
            .map_err(|_| StoreError::Schema(format!("response_status {status} out of range")))?,
        response_body: text(r, "response_body")?,
        resource_id: get(r, "resource_id")?,
        created_at: at(r, "created_at")?,
        expires_at: at(r, "expires_at")?,
    })
}

pub(crate) fn bind_idempotency<'q>(q: PgQuery<'q>, i: &IdempotencyRecord) -> PgQuery<'q> {
    q.bind(i.scope.clone())
        .bind(i.key.clone())
        .bind(i.fingerprint.clone())
        .bind(i32::from(i.response_status))
        .bind(i.response_body.clone())
        .bind(i.resource_id)
        .bind(i.created_at)
        .bind(i.expires_at)
}

pub(crate) fn event(r: &PgRow) -> StoreResult<ActivityEvent> {
    Ok(ActivityEvent {
        id: EventId(id(r, "id")?),
        store_id: StoreId(id(r, "store_id")?),
        seq: get(r, "seq")?,
        entity_type: text(r, "entity_type")?,
        entity_id: id(r, "entity_id")?,
        kind: text(r, "kind")?,
        payload: get(r, "payload")?,
        at: at(r, "at")?,
    })
}

pub(crate) fn bind_event<'q>(q: PgQuery<'q>, e: &ActivityEvent) -> PgQuery<'q> {
    q.bind(e.id.0)
        .bind(e.store_id.0)
        .bind(e.seq)
        .bind(e.entity_type.clone())
        .bind(e.entity_id)
        .bind(e.kind.clone())
        .bind(e.payload.clone())
        .bind(e.at)
}

pub(crate) fn export(r: &PgRow) -> StoreResult<ExportJob> {
    Ok(ExportJob {
        id: ExportId(id(r, "id")?),
        store_id: StoreId(id(r, "store_id")?),
        kind: enum_col(r, "kind", ExportKind::parse)?,
        format: enum_col(r, "format", ExportFormat::parse)?,
        status: enum_col(r, "status", ExportStatus::parse)?,
        rows: get(r, "rows")?,
        bytes: get(r, "bytes")?,
        blob_key: get(r, "blob_key")?,
        error: get(r, "error")?,
        requested_by: text(r, "requested_by")?,
        created_at: at(r, "created_at")?,
        started_at: opt_at(r, "started_at")?,
        finished_at: opt_at(r, "finished_at")?,
        expires_at: opt_at(r, "expires_at")?,
    })
}

pub(crate) fn bind_export<'q>(q: PgQuery<'q>, e: &ExportJob) -> PgQuery<'q> {
    q.bind(e.id.0)
        .bind(e.store_id.0)
        .bind(e.kind.as_str())
        .bind(e.format.as_str())
        .bind(e.status.as_str())
        .bind(e.rows)
        .bind(e.bytes)
        .bind(e.blob_key.clone())
        .bind(e.error.clone())
        .bind(e.requested_by.clone())
        .bind(e.created_at)
        .bind(e.started_at)
        .bind(e.finished_at)
        .bind(e.expires_at)
}

pub(crate) fn export_audit(r: &PgRow) -> StoreResult<ExportAuditRecord> {
    Ok(ExportAuditRecord {
        id: ExportAuditId(id(r, "id")?),
        export_id: ExportId(id(r, "export_id")?),
        store_id: StoreId(id(r, "store_id")?),
        action: enum_col(r, "action", ExportAction::parse)?,
        actor_masked: text(r, "actor_masked")?,
        at: at(r, "at")?,
    })
}

pub(crate) fn bind_export_audit<'q>(q: PgQuery<'q>, a: &ExportAuditRecord) -> PgQuery<'q> {
    q.bind(a.id.0)
        .bind(a.export_id.0)
        .bind(a.store_id.0)
        .bind(a.action.as_str())
        .bind(a.actor_masked.clone())
        .bind(a.at)
}
