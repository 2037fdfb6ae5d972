//! Every route of the contract over a real socket, on memory, SQLite and
//! PostgreSQL: each scenario runs once per backend (see the modules at the
//! end).

mod commerce;
mod files;
mod operations;
mod store_ops;
mod webhooks;

use agora_e2e::{Backend, spawn_app};
use commerce::*;
use files::*;
use operations::*;
use store_ops::*;
use webhooks::*;

macro_rules! backend_suite {
    ($backend:expr; $($scenario:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $scenario() {
            super::$scenario(super::spawn_app($backend).await).await;
        }
    )*};
}

macro_rules! all_scenarios {
    ($backend:expr) => {
        backend_suite!($backend;
            stores_keys_settings_and_audit,
            catalog_and_stock,
            product_search_over_http,
            users_sessions_and_addresses,
            orders_lifecycle_and_idempotency,
            payments_and_webhooks,
            refunds_over_http,
            help_tasks_and_payouts,
            events_and_exports,
            callers_see_only_their_own,
            concurrent_retries_of_one_key_make_one_order,
            thirty_two_clients_race_for_fifty_units,
            protocol_errors_and_operations,
            store_lifecycle_and_admin_keys,
            order_flags_over_http,
            kpis_over_http,
            velocity_and_purchase_orders_over_http,
            suspended_store_admins_still_read_lists,
            support_tickets_drafts_and_quick_replies_over_http,
            insights_and_connection_checks_over_http,
            nul_characters_are_refused_before_any_store_call,
            account_erasure_and_security_events_over_http,
            outgoing_webhooks_over_http,
            a_slow_endpoint_holds_back_no_other,
            files_and_product_images_over_http,
        );
    };
}

mod memory {
    all_scenarios!(super::Backend::Memory);
}

mod sqlite {
    all_scenarios!(super::Backend::Sqlite);
}

mod postgres {
    all_scenarios!(super::Backend::Postgres);
}
