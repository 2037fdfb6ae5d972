//! What the server enforces, stated in /openapi.json: lengths, patterns,
//! ranges and enums of every request field and parameter, and OpenAPI
//! links from the operations that create things to those that use their
//! ids. A client generated from the document validates as the server does,
//! and a schema-driven fuzzer (Schemathesis in `.ci/run`) can chain calls.
//!
//! utoipa takes validation attributes only as literals on the types, and
//! the request types live in `agora-core`, which knows nothing of HTTP: the
//! rules are one table here instead, applied to the generated document. A
//! rule naming a schema or property the document does not have is a bug
//! caught by the tests (`every_rule_lands`), so a rename cannot silently drop
//! a constraint.

use serde_json::{Map, Value, json};

/// Text on one line: no control characters at all.
const LINE: &str = r"[^\x00-\x1f\x7f-\x9f]";
/// Text over lines: tab, line feed and carriage return allowed.
const LINES: &str = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]";
/// Any text without the NUL character.
const NO_NUL: &str = r"^[^\x00]*$";
/// Unicode white space as Rust's `trim` sees it, spelled out (Schemathesis
/// compiles patterns with ASCII-only `\s`, ECMAScript's `\s` adds U+FEFF:
/// neither is Rust's). Macros, so `concat!` can build patterns from them.
macro_rules! space {
    () => {
        r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
/// A character that is neither a control character nor white space.
macro_rules! solid {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
/// A character that counts towards the trimmed length.
const SOLID: &str = solid!();

/// The largest amount in minor units (`agora_core::money::MAX_MINOR`).
const MAX_MINOR: i64 = agora_core::MAX_MINOR;

/// [`Rule::Status`] of a domain status enum: its `ALL` texts, so a new
/// status is documented the moment it exists.
macro_rules! status {
    ($name:ident) => {
        Rule::Status(|| agora_core::$name::ALL.iter().map(|s| s.as_str()).collect())
    };
}

/// [`Rule::Filter`] of a domain status enum.
macro_rules! filter {
    ($name:ident) => {
        Rule::Filter(|| agora_core::$name::ALL.iter().map(|s| s.as_str()).chain([""]).collect())
    };
}

/// One constraint of one field.
#[derive(Clone, Copy)]
pub(crate) enum Rule {
    /// Text of `min` (0 or 1, after trimming) to `max` characters on one line.
    Line(u32, u32),
    /// Text of `min` (0 or 1, after trimming) to `max` characters, newlines allowed.
    Lines(u32, u32),
    /// Any text without the NUL character, `min..=max` characters.
    Opaque(u32, u32),
    /// A regular expression and the longest length.
    Pattern(&'static str, u32),
    /// One of these values.
    OneOf(&'static [&'static str]),
    /// One of the texts of a status enum of the domain.
    Status(fn() -> Vec<&'static str>),
    /// A list filter: one of the texts of a status enum, or empty for all.
    Filter(fn() -> Vec<&'static str>),
    /// An integer range.
    Int(i64, i64),
    /// A number range.
    Number(f64, f64),
    /// An array of `min..=max` items.
    Items(u32, u32),
    /// A map of at most `max` names matching `[a-z0-9_]{1,64}`.
    FlagNames(u32),
}

/// Body schemas: (component, property, rule).
const BODY_RULES: &[(&str, &str, Rule)] = &[
    ("NewStore", "name", Rule::Line(1, 200)),
    ("NewStore", "domain", Rule::Pattern(DOMAIN, 253)),
    ("NewStore", "access_token", Rule::Line(1, 4096)),
    ("StorePatch", "name", Rule::Line(1, 200)),
    ("StorePatch", "plan", Rule::OneOf(&["basic", "pro", "enterprise"])),
    ("StorePatch", "status", status!(StoreStatus)),
    ("StorePatch", "onboarding", Rule::FlagNames(64)),
    ("NewAdminKey", "expires_in_seconds", Rule::Int(60, 315_360_000)),
    ("SettingsPatch", "order_ttl_seconds", Rule::Int(60, 2_592_000)),
    ("SettingsPatch", "auto_receive_seconds", Rule::Int(60, 31_536_000)),
    ("SettingsPatch", "required_helpers", Rule::Int(1, 100)),
    ("SettingsPatch", "help_task_ttl_seconds", Rule::Int(60, 31_536_000)),
    ("SettingsPatch", "payout_cooling_seconds", Rule::Int(0, 31_536_000)),
    ("SettingsPatch", "help_payout_percent", Rule::Int(0, 100)),
    ("SettingsPatch", "low_stock_threshold", Rule::Int(0, 1_000_000)),
    ("SettingsPatch", "velocity_window_days", Rule::Int(1, 365)),
    ("SettingsPatch", "reorder_lead_days", Rule::Int(0, 365)),
    ("SettingsPatch", "reorder_cover_days", Rule::Int(0, 365)),
    ("SettingsPatch", "flag_amount_minor", Rule::Int(0, MAX_MINOR)),
    ("SettingsPatch", "feature_toggles", Rule::FlagNames(64)),
    ("RetentionPatch", "events", Rule::Int(0, 36_500)),
    ("RetentionPatch", "audit_logs", Rule::Int(0, 36_500)),
    ("RetentionPatch", "connection_events", Rule::Int(0, 36_500)),
    ("RetentionPatch", "drafts", Rule::Int(0, 36_500)),
    ("NewProduct", "title", Rule::Line(1, 300)),
    ("NewProduct", "currency", Rule::Pattern("^[A-Z]{3}$", 3)),
    ("NewProduct", "status", status!(ProductStatus)),
    ("NewProduct", "variants", Rule::Items(1, 100)),
    ("NewVariant", "sku", Rule::Pattern(SKU, 64)),
    ("NewVariant", "name", Rule::Line(1, 200)),
    ("NewVariant", "price_minor", Rule::Int(0, MAX_MINOR)),
    ("ProductPatch", "title", Rule::Line(1, 300)),
    ("ProductPatch", "status", status!(ProductStatus)),
    ("NewWarehouse", "name", Rule::Line(1, 200)),
    ("SetInventory", "on_hand", Rule::Int(0, 1_000_000_000)),
    ("NewUser", "name", Rule::Line(1, 200)),
    ("NewUser", "email", Rule::Pattern(EMAIL, 254)),
    ("NewUser", "password", Rule::Opaque(8, 1024)),
    ("NewUser", "phone", Rule::Pattern(r"^\+?[0-9]{6,15}$", 16)),
    ("Login", "email", Rule::Opaque(0, 1024)),
    ("Login", "password", Rule::Opaque(0, 1024)),
    ("EraseAccount", "password", Rule::Opaque(0, 1024)),
    ("NewAddress", "line1", Rule::Line(1, 200)),
    ("NewAddress", "city", Rule::Line(1, 100)),
    ("NewAddress", "postal_code", Rule::Line(1, 20)),
    ("NewAddress", "country", Rule::Pattern("^[A-Z]{2}$", 2)),
    ("PlaceOrder", "items", Rule::Items(1, 50)),
    ("PlaceOrder", "help_task_no", Rule::Line(1, 64)),
    ("OrderLine", "qty", Rule::Int(1, 1000)),
    ("PaymentWebhook", "event_id", Rule::Line(1, 255)),
    ("PaymentWebhook", "amount_minor", Rule::Int(0, MAX_MINOR)),
    (
        "PaymentWebhook",
        "type",
        Rule::OneOf(&["payment.succeeded", "payment.failed", "refund.succeeded", "refund.failed"]),
    ),
    ("NewRefund", "amount_minor", Rule::Int(1, MAX_MINOR)),
    ("NewRefund", "reason", Rule::Lines(1, 500)),
    ("NewRefund", "restock", Rule::Items(0, 50)),
    ("RestockLine", "qty", Rule::Int(1, 1000)),
    ("NewWebhookEndpoint", "url", Rule::Pattern(ENDPOINT_URL, 2048)),
    ("NewWebhookEndpoint", "events", Rule::Items(1, 50)),
    ("NewWebhookEndpoint", "description", Rule::Line(0, 500)),
    ("WebhookEndpointPatch", "url", Rule::Pattern(ENDPOINT_URL, 2048)),
    ("WebhookEndpointPatch", "events", Rule::Items(1, 50)),
    ("WebhookEndpointPatch", "status", status!(WebhookEndpointStatus)),
    ("WebhookEndpointPatch", "description", Rule::Line(0, 500)),
    ("PayoutDecision", "note", Rule::Lines(0, 1000)),
    ("NewFlag", "reason", status!(FlagReason)),
    ("NewFlag", "note", Rule::Lines(0, 2000)),
    ("FlagPatch", "status", status!(FlagStatus)),
    ("FlagPatch", "note", Rule::Lines(0, 2000)),
    ("FlagPatch", "resolution", Rule::Lines(0, 2000)),
    ("NewPurchaseOrder", "vendor", Rule::Line(1, 200)),
    ("NewPurchaseOrder", "currency", Rule::Pattern("^[A-Z]{3}$", 3)),
    ("NewPurchaseOrder", "lines", Rule::Items(1, 200)),
    ("NewPurchaseOrder", "note", Rule::Lines(0, 2000)),
    ("NewPurchaseOrderLine", "qty", Rule::Int(1, 1_000_000)),
    ("NewPurchaseOrderLine", "unit_cost_minor", Rule::Int(0, MAX_MINOR)),
    ("PurchaseOrderFromVelocity", "vendor", Rule::Line(1, 200)),
    ("PurchaseOrderFromVelocity", "currency", Rule::Pattern("^[A-Z]{3}$", 3)),
    ("ReceivePurchaseOrder", "lines", Rule::Items(1, 200)),
    ("ReceivedLine", "qty", Rule::Int(1, 1_000_000)),
    ("NewTicket", "subject", Rule::Line(1, 200)),
    ("NewTicket", "body", Rule::Lines(1, 10_000)),
    ("NewTicketMessage", "body", Rule::Lines(1, 10_000)),
    ("TicketPatch", "status", status!(TicketStatus)),
    ("TicketPatch", "priority", status!(TicketPriority)),
    ("NewDraft", "body", Rule::Lines(1, 10_000)),
    ("NewDraft", "source", status!(DraftSource)),
    ("NewDraft", "model", Rule::Line(0, 100)),
    ("NewDraft", "version", Rule::Line(0, 100)),
    ("SendDraft", "edited_body", Rule::Lines(1, 10_000)),
    ("DiscardDraft", "feedback", Rule::Lines(0, 2000)),
    ("DraftReview", "reward_score", Rule::Number(-1.0, 1.0)),
    ("DraftReview", "feedback", Rule::Lines(0, 2000)),
    ("NewQuickReply", "content", Rule::Lines(1, 5000)),
    ("NewQuickReply", "role", status!(QuickReplyRole)),
    ("QuickReplyPatch", "content", Rule::Lines(1, 5000)),
    ("InsightPatch", "status", Rule::OneOf(&["acknowledged", "dismissed"])),
    ("NewConnectionCheck", "target", status!(ConnectionTarget)),
    ("NewExport", "kind", status!(ExportKind)),
    ("NewExport", "format", status!(ExportFormat)),
    ("NewProductImage", "alt", Rule::Line(0, 500)),
    ("NewProductImage", "position", Rule::Int(0, 1000)),
    ("NewDerived", "kind", Rule::OneOf(agora_core::usecases::DERIVED_KINDS)),
];

/// A host name with at least one dot (trimmed and lower-cased by the server).
const DOMAIN: &str = concat!(
    "^",
    space!(),
    r"*([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    space!(),
    "*$"
);
/// `local@domain.tld` (trimmed and lower-cased by the server).
const EMAIL: &str = concat!(
    "^",
    space!(),
    r"*[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@([A-Za-z0-9-]+\.)+[A-Za-z0-9-]+",
    space!(),
    "*$"
);
/// An endpoint URL: `http(s)://`, a host name whose last label starts with
/// a letter or an IPv4 address, an optional port, then anything without
/// white space or control characters (the server also checks the target:
/// private addresses are refused unless allowed).
const ENDPOINT_URL: &str = concat!(
    "^",
    // White space that is not a control character: the server refuses
    // control characters anywhere in a URL, trimmed or not.
    r"[ \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"*https?://(([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"([/?#][^\s\x00-\x1f\x7f-\x9f]*)?",
    r"[ \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
);
/// A SKU: 1 to 64 characters, none a control character or white space.
const SKU: &str = concat!("^", solid!(), "+$");
/// A page cursor: the URL-safe base64 of a 16-byte id, or empty for the first page.
const CURSOR: &str = "^([A-Za-z0-9_-]{21}[AQgw])?$";
/// A product list or search cursor: a page cursor, or a search's (the
/// tier's digit, 0 to 2, before it), or empty for the first page. Either
/// form is taken by both: a search cursor continues a list after its id, a
/// page cursor continues a search in the first tier.
const PRODUCT_CURSOR: &str = "^([0-2]?[A-Za-z0-9_-]{21}[AQgw])?$";
/// An `Idempotency-Key`: visible ASCII, inner spaces allowed.
const IDEMPOTENCY_KEY: &str = "^[!-~]([ -~]{0,253}[!-~])?$";

/// Query and header parameters: (operation id or `*`, parameter, rule).
const PARAM_RULES: &[(&str, &str, Rule)] = &[
    ("*", "limit", Rule::Int(1, 200)),
    ("*", "cursor", Rule::Pattern(CURSOR, 22)),
    ("*", "Idempotency-Key", Rule::Pattern(IDEMPOTENCY_KEY, 255)),
    ("list_products", "cursor", Rule::Pattern(PRODUCT_CURSOR, 23)),
    ("list_products", "q", Rule::Opaque(1, 200)),
    ("search_products", "cursor", Rule::Pattern(PRODUCT_CURSOR, 23)),
    ("search_products", "q", Rule::Opaque(1, 200)),
    ("search_products", "status", filter!(ProductStatus)),
    ("get_kpis", "from", Rule::Pattern(DAY, 10)),
    ("get_kpis", "to", Rule::Pattern(DAY, 10)),
    ("get_kpis", "currency", Rule::Pattern("^[A-Z]{3}$", 3)),
    ("list_events", "after", Rule::Int(0, i64::MAX)),
    ("list_flags", "status", filter!(FlagStatus)),
    ("list_insights", "status", filter!(InsightStatus)),
    ("list_payouts", "status", filter!(PayoutStatus)),
    ("list_purchase_orders", "status", filter!(PurchaseOrderStatus)),
    ("list_store_tickets", "status", filter!(TicketStatus)),
    ("list_store_orders", "status", filter!(OrderStatus)),
    ("list_webhook_deliveries", "status", filter!(WebhookDeliveryStatus)),
];

/// A UTC day `YYYY-MM-DD` of years 1000..=9999.
const DAY: &str = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// Links from a creating operation's answer: (operation id, status, link
/// name, target operation id, [(target parameter, runtime expression)]).
type LinkRule = (&'static str, &'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

const BODY_ID: &str = "$response.body#/id";
const STORE_IN_PATH: &str = "$request.path.store_id";

// Only operations whose other inputs need nothing else of the new thing: a
// purchase order also needs a warehouse and variants of the store, which a
// link from the store cannot give, so its 404 would read as "just created
// and not found".
const LINKS: &[LinkRule] = &[
    ("create_store", "201", "GetStore", "get_store", &[("store_id", BODY_ID)]),
    ("create_store", "201", "PatchStore", "patch_store", &[("store_id", BODY_ID)]),
    ("create_store", "201", "GetSettings", "get_settings", &[("store_id", BODY_ID)]),
    ("create_store", "201", "PatchSettings", "patch_settings", &[("store_id", BODY_ID)]),
    ("create_store", "201", "CreateProduct", "create_product", &[("store_id", BODY_ID)]),
    ("create_store", "201", "CreateWarehouse", "create_warehouse", &[("store_id", BODY_ID)]),
    ("create_store", "201", "CreateAdminKey", "create_admin_key", &[("store_id", BODY_ID)]),
    ("create_store", "201", "ListAdminKeys", "list_admin_keys", &[("store_id", BODY_ID)]),
    ("create_store", "201", "ListAuditLogs", "list_audit_logs", &[("store_id", BODY_ID)]),
    ("create_store", "201", "ListProducts", "list_products", &[("store_id", BODY_ID)]),
    ("create_store", "201", "SearchProducts", "search_products", &[("store_id", BODY_ID)]),
    ("create_store", "201", "ListOrders", "list_store_orders", &[("store_id", BODY_ID)]),
    ("create_store", "201", "ListEvents", "list_events", &[("store_id", BODY_ID)]),
    ("create_store", "201", "CreateQuickReply", "create_quick_reply", &[("store_id", BODY_ID)]),
    ("create_store", "201", "RequestExport", "request_export", &[("store_id", BODY_ID)]),
    ("create_store", "201", "GetKpis", "get_kpis", &[("store_id", BODY_ID)]),
    (
        "create_admin_key",
        "201",
        "RevokeAdminKey",
        "revoke_admin_key",
        &[("store_id", STORE_IN_PATH), ("key_id", BODY_ID)],
    ),
    ("create_product", "201", "GetProduct", "get_product", &[("id", BODY_ID)]),
    ("create_product", "201", "PatchProduct", "patch_product", &[("id", BODY_ID)]),
    ("request_export", "202", "GetExport", "get_export", &[("id", BODY_ID)]),
    ("request_export", "202", "DownloadExport", "download_export", &[("id", BODY_ID)]),
    ("place_order", "201", "GetOrder", "get_order", &[("id", BODY_ID)]),
    ("place_order", "201", "CancelOrder", "cancel_order", &[("id", BODY_ID)]),
    ("place_order", "201", "PayOrder", "create_payment", &[("id", BODY_ID)]),
    ("place_order", "201", "ShipOrder", "ship_order", &[("id", BODY_ID)]),
    ("place_order", "201", "FlagOrder", "create_flag", &[("id", BODY_ID)]),
    ("create_payment", "201", "GetPayment", "get_payment", &[("id", BODY_ID)]),
    ("create_flag", "201", "PatchFlag", "patch_flag", &[("id", BODY_ID)]),
    ("create_task", "201", "GetTask", "get_task", &[("task_no", "$response.body#/task_no")]),
    ("create_purchase_order", "201", "GetPurchaseOrder", "get_purchase_order", &[("id", BODY_ID)]),
    ("create_purchase_order", "201", "SubmitPurchaseOrder", "submit_purchase_order", &[("id", BODY_ID)]),
    ("create_purchase_order", "201", "CancelPurchaseOrder", "cancel_purchase_order", &[("id", BODY_ID)]),
    ("create_purchase_order", "201", "ReceivePurchaseOrder", "receive_purchase_order", &[("id", BODY_ID)]),
    ("create_ticket", "201", "GetTicket", "get_ticket", &[("id", BODY_ID)]),
    ("create_ticket", "201", "PatchTicket", "patch_ticket", &[("id", BODY_ID)]),
    ("create_ticket", "201", "PostMessage", "post_ticket_message", &[("id", BODY_ID)]),
    ("create_ticket", "201", "ListMessages", "list_ticket_messages", &[("id", BODY_ID)]),
    ("create_ticket", "201", "MarkRead", "mark_ticket_read", &[("id", BODY_ID)]),
    ("create_ticket", "201", "CreateDraft", "create_draft", &[("id", BODY_ID)]),
    ("create_draft", "201", "SendDraft", "send_draft", &[("id", BODY_ID)]),
    ("create_draft", "201", "DiscardDraft", "discard_draft", &[("id", BODY_ID)]),
    ("create_draft", "201", "ReviewDraft", "review_draft", &[("id", BODY_ID)]),
    ("create_quick_reply", "201", "PatchQuickReply", "patch_quick_reply", &[("id", BODY_ID)]),
    ("create_quick_reply", "201", "DeleteQuickReply", "delete_quick_reply", &[("id", BODY_ID)]),
    ("upload_attachment", "201", "DownloadAttachment", "download_attachment", &[("id", BODY_ID)]),
    ("upload_attachment", "201", "PutDerived", "put_derived", &[("id", BODY_ID)]),
    ("upload_attachment", "201", "GetDerived", "get_derived", &[("id", BODY_ID)]),
    ("create_product", "201", "AddImage", "add_product_image", &[("id", BODY_ID)]),
    ("add_product_image", "201", "GetImage", "get_image", &[("id", BODY_ID)]),
    (
        "add_product_image",
        "201",
        "DeleteImage",
        "delete_product_image",
        &[("id", "$response.body#/product_id"), ("image_id", BODY_ID)],
    ),
];

/// The JSON Schema keywords of one rule, for a property whose schema is `at`.
fn apply(rule: Rule, at: &mut Map<String, Value>) {
    let nullable = matches!(at.get("type"), Some(Value::Array(types)) if types.iter().any(|t| t == "null"));
    match rule {
        Rule::Line(min, max) | Rule::Lines(min, max) => {
            let any = if matches!(rule, Rule::Line(..)) { LINE } else { LINES };
            let pattern = if min == 0 { format!("^{any}*$") } else { format!("^{any}*{SOLID}{any}*$") };
            at.insert("pattern".into(), json!(pattern));
            at.insert("minLength".into(), json!(min));
            at.insert("maxLength".into(), json!(max));
        }
        Rule::Opaque(min, max) => {
            at.insert("pattern".into(), json!(NO_NUL));
            at.insert("minLength".into(), json!(min));
            at.insert("maxLength".into(), json!(max));
        }
        Rule::Pattern(pattern, max) => {
            at.insert("pattern".into(), json!(pattern));
            at.insert("maxLength".into(), json!(max));
        }
        Rule::OneOf(_) | Rule::Status(_) | Rule::Filter(_) => {
            let values = match rule {
                Rule::OneOf(values) => values.to_vec(),
                Rule::Status(all) | Rule::Filter(all) => all(),
                _ => Vec::new(),
            };
            let mut all: Vec<Value> = values.iter().map(|v| json!(v)).collect();
            if nullable {
                all.push(Value::Null);
            }
            at.insert("enum".into(), Value::Array(all));
        }
        Rule::Int(min, max) => {
            at.insert("minimum".into(), json!(min));
            at.insert("maximum".into(), json!(max));
        }
        Rule::Number(min, max) => {
            at.insert("minimum".into(), json!(min));
            at.insert("maximum".into(), json!(max));
        }
        Rule::Items(min, max) => {
            at.insert("minItems".into(), json!(min));
            at.insert("maxItems".into(), json!(max));
        }
        Rule::FlagNames(max) => {
            at.insert("propertyNames".into(), json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$"}));
            at.insert("maxProperties".into(), json!(max));
        }
    }
}

/// Applies every rule and link to the document; the names of rules that
/// found nothing to apply to (none, unless the document and the table drifted).
pub(crate) fn constrain(doc: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    for (schema, property, rule) in BODY_RULES {
        match doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{property}"))
            .and_then(Value::as_object_mut)
        {
            Some(at) => apply(*rule, at),
            None => missing.push(format!("{schema}.{property}")),
        }
    }
    // An endpoint's event kinds: `*` or `word.word...` of lower-case letters
    // and underscores.
    for schema in ["NewWebhookEndpoint", "WebhookEndpointPatch"] {
        match doc.pointer_mut(&format!("/components/schemas/{schema}/properties/events")).and_then(Value::as_object_mut)
        {
            Some(events) => {
                events.insert(
                    "items".into(),
                    json!({"type": "string", "maxLength": 100, "pattern": r"^(\*|[a-z_]+(\.[a-z_]+)+)$"}),
                );
            }
            None => missing.push(format!("{schema}.events")),
        }
    }
    // A provider's event may carry fields agora does not read; they are
    // kept with the event, so they too must be free of NUL, at any depth.
    match doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        Some(schemas) => {
            let no_nul = json!({"pattern": NO_NUL});
            schemas.insert(
                "JsonWithoutNul".into(),
                json!({
                    "description": "Any JSON value whose keys and strings hold no NUL character.",
                    "anyOf": [
                        {"type": ["null", "boolean", "number"]},
                        {"type": "string", "pattern": NO_NUL},
                        {"type": "array", "items": {"$ref": "#/components/schemas/JsonWithoutNul"}},
                        {"type": "object", "propertyNames": no_nul,
                            "additionalProperties": {"$ref": "#/components/schemas/JsonWithoutNul"}}
                    ]
                }),
            );
            match schemas.get_mut("PaymentWebhook").and_then(Value::as_object_mut) {
                Some(webhook) => {
                    // A payment event names its payment, a refund event its refund.
                    webhook.insert(
                        "oneOf".into(),
                        json!([
                            {"properties": {"type": {"enum": ["payment.succeeded", "payment.failed"]},
                                "payment_id": {"type": "string", "format": "uuid"}},
                                "required": ["payment_id"]},
                            {"properties": {"type": {"enum": ["refund.succeeded", "refund.failed"]},
                                "refund_id": {"type": "string", "format": "uuid"}},
                                "required": ["refund_id"]}
                        ]),
                    );
                    webhook.insert("propertyNames".into(), json!({"pattern": NO_NUL}));
                    webhook
                        .insert("additionalProperties".into(), json!({"$ref": "#/components/schemas/JsonWithoutNul"}));
                }
                None => missing.push("PaymentWebhook".into()),
            }
        }
        None => missing.push("components".into()),
    }
    let mut ids: std::collections::HashMap<String, (String, String)> = std::collections::HashMap::new();
    let mut seen_params: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, ops) in paths.iter_mut() {
            let Some(ops) = ops.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_owned();
                ids.insert(id.clone(), (path.clone(), method.clone()));
                let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
                for param in params {
                    let name = param.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                    for (rule_op, rule_param, rule) in PARAM_RULES {
                        if (*rule_op == "*" || *rule_op == id)
                            && *rule_param == name
                            && let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut)
                        {
                            schema.remove("minimum");
                            apply(*rule, schema);
                            seen_params.insert((rule_op, rule_param));
                        }
                    }
                }
            }
        }
    }
    for (op, param, _) in PARAM_RULES {
        if !seen_params.contains(&(*op, *param)) {
            missing.push(format!("{op} ? {param}"));
        }
    }
    for (from, status, name, to, parameters) in LINKS {
        let (Some((from_path, from_method)), true) = (ids.get(*from).cloned(), ids.contains_key(*to)) else {
            missing.push(format!("link {from} -> {to}"));
            continue;
        };
        let pointer =
            format!("/paths/{}/{from_method}/responses/{status}", from_path.replace('~', "~0").replace('/', "~1"));
        let Some(response) = doc.pointer_mut(&pointer).and_then(Value::as_object_mut) else {
            missing.push(format!("link {from} {status}"));
            continue;
        };
        let params: Map<String, Value> = parameters.iter().map(|(p, e)| ((*p).to_owned(), json!(e))).collect();
        let links = response.entry("links").or_insert_with(|| json!({}));
        if let Some(links) = links.as_object_mut() {
            links.insert((*name).to_owned(), json!({"operationId": to, "parameters": params}));
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_lands() {
        let mut doc = serde_json::to_value(crate::openapi_unconstrained()).expect("document");
        let missing = constrain(&mut doc);
        assert!(missing.is_empty(), "rules that match nothing in the document: {missing:?}");
    }

    #[test]
    fn every_request_string_is_constrained() {
        // A new request field must state what the server accepts.
        let doc: Value = serde_json::from_str(crate::openapi_document()).expect("document");
        let schemas = doc.pointer("/components/schemas").and_then(Value::as_object).expect("schemas");
        let requests: std::collections::BTreeSet<&str> = BODY_RULES.iter().map(|(s, _, _)| *s).collect();
        let mut loose = Vec::new();
        for name in requests {
            let props = schemas[name].get("properties").and_then(Value::as_object).expect("properties");
            for (prop, schema) in props {
                let is_string = match schema.get("type") {
                    Some(Value::String(t)) => t == "string",
                    Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                    _ => false,
                };
                let free =
                    schema.get("format").is_none() && schema.get("pattern").is_none() && schema.get("enum").is_none();
                if is_string && free {
                    loose.push(format!("{name}.{prop}"));
                }
            }
        }
        assert!(loose.is_empty(), "request strings without a pattern, enum or format: {loose:?}");
    }

    #[test]
    fn product_cursors_take_what_the_server_hands_out() {
        let pattern = regex::Regex::new(PRODUCT_CURSOR).expect("pattern");
        let id = uuid::Uuid::now_v7();
        for tier in agora_core::MatchTier::ALL {
            let hit = agora_core::SearchHit { tier, product_id: agora_core::ProductId(id) };
            assert!(pattern.is_match(&hit.cursor()), "{}", hit.cursor());
        }
        assert!(pattern.is_match(&agora_core::encode_cursor(id)));
        assert!(pattern.is_match(""));
        assert!(!pattern.is_match(&format!("3{}", agora_core::encode_cursor(id))));
        let doc: Value = serde_json::from_str(crate::openapi_document()).expect("document");
        let params = doc
            .pointer("/paths/~1v1~1stores~1{store_id}~1products~1search/get/parameters")
            .and_then(Value::as_array)
            .expect("search parameters");
        let q = params.iter().find(|p| p["name"] == "q").expect("q");
        assert_eq!((&q["required"], &q["schema"]["maxLength"]), (&json!(true), &json!(200)));
        let cursor = params.iter().find(|p| p["name"] == "cursor").expect("cursor");
        assert_eq!(cursor["schema"]["pattern"], PRODUCT_CURSOR);
    }

    #[test]
    fn text_patterns_say_what_the_validator_does() {
        let line = regex::Regex::new(&format!("^{LINE}*{SOLID}{LINE}*$")).expect("pattern");
        assert!(line.is_match("a"));
        assert!(line.is_match("  a b "));
        assert!(!line.is_match("   "));
        assert!(!line.is_match("a\nb"));
        assert!(!line.is_match("a\u{0}"));
        let lines = regex::Regex::new(&format!("^{LINES}*{SOLID}{LINES}*$")).expect("pattern");
        assert!(lines.is_match("a\nb\r\n\tc"));
        assert!(!lines.is_match("a\u{7}"));
    }
}
