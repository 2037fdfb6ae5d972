//! # agora-testkit
//!
//! The behaviour every adapter must show, written once. Scenarios are plain
//! `pub async fn name(store: TestStore)` functions; [`conformance_tests!`]
//! expands to one `#[tokio::test]` per scenario for an adapter, and
//! [`model_tests!`] adds the differential property test that drives random
//! command sequences through core against the adapter and against the
//! memory model, comparing canonical snapshots after every step.
//!
//! ```ignore
//! async fn fresh() -> agora_testkit::TestStore { /* a fresh, empty store */ }
//! agora_testkit::conformance_tests!(fresh);
//! agora_testkit::model_tests!(fresh);
//! ```

pub mod harness;
pub mod model;
pub mod probe;
pub mod race;
pub mod scenarios;

pub use harness::{Harness, TestStore};
pub use race::oversell_race;

/// Expands to one `#[tokio::test]` per conformance scenario, each on a
/// fresh store from `$factory` (an `async fn() -> TestStore`).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__conformance_test!($factory;
            store_created_with_default_settings,
            store_creation_requires_super_admin,
            duplicate_domain_is_conflict,
            access_token_is_encrypted_at_rest,
            settings_patch_audits_each_changed_key,
            settings_patch_rejects_out_of_range,
            admin_key_is_scoped_to_its_store,
            admin_keys_and_sessions_stored_hashed,
            product_created_with_availability,
            duplicate_sku_is_conflict_per_store,
            product_validation_lists_every_field,
            draft_products_are_hidden_from_public,
            product_patch_changes_title_and_status,
            inventory_set_reports_reserved_and_available,
            inventory_below_reserved_is_conflict,
            inventory_of_foreign_variant_is_not_found,
            register_and_login,
            duplicate_email_is_conflict,
            registration_validation,
            wrong_credentials_are_unauthorized,
            login_is_rate_limited_per_email,
            sessions_expire,
            order_reserves_stock,
            order_replay_returns_same_body,
            order_key_reused_with_other_body,
            order_requires_idempotency_key,
            out_of_stock_reserves_nothing,
            order_splits_across_warehouses,
            order_validation,
            order_with_foreign_address_is_not_found,
            order_context_matches_single_reads,
            idempotency_keys_expire_after_24h,
            orders_are_private_to_owner_and_store,
            cancel_releases_stock,
            illegal_order_moves_are_invalid_transition,
            ship_and_receive,
            my_orders_newest_first_with_cursor,
            store_orders_filter_by_status,
            payment_success_marks_paid_and_commits_stock,
            duplicate_webhook_has_no_second_effect,
            webhook_signature_is_required,
            webhook_amount_mismatch_fails_payment,
            webhook_success_after_close_needs_refund,
            webhook_malformed_body,
            payment_requires_created_order,
            task_requires_paid_order_and_is_unique,
            help_rules,
            task_qualifies_when_helps_are_valid,
            payout_is_written_once_per_task,
            payout_risk_rules_hold_it,
            payout_approve_and_reject_are_audited,
            open_tasks_expire,
            unpaid_orders_time_out_and_release_stock,
            shipped_orders_are_auto_received,
            expired_sessions_and_keys_are_purged,
            reconciliation_records_drift_as_audit,
            event_feed_is_gapless_and_ordered,
            event_feed_misses_nothing_under_concurrency,
            export_lifecycle_csv_and_jsonl,
            export_expiry_deletes_file_and_audits,
            changeset_guard_failure_writes_nothing,
            changeset_duplicate_insert_writes_nothing,
            changeset_update_of_missing_row_fails,
            concurrent_orders_never_oversell,
            concurrent_retries_of_one_key_create_one_order,
            concurrent_settlement_pays_out_once,
            store_key_cannot_touch_another_store,
            list_limits_are_validated,
            queries_follow_the_reference_evaluation,
            scans_page_through_every_table_in_key_order,
            intent_writes_report_their_own_condition,
            idempotency_and_sequencing_writes_check_their_condition,
            unique_constraints_and_the_guards_that_cover_them,
            every_column_round_trips,
            due_checks_match_what_the_sweeps_do,
            stale_exports_are_requeued_with_an_event,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ($factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $factory().await;
                $crate::scenarios::$name(store).await;
            }
        )*
    };
}

/// Adds the differential model test: random command sequences through core
/// on `$factory`'s store and on the memory model, snapshots compared after
/// every step. `AGORA_MODEL_CASES` sets the number of sequences (default 24).
#[macro_export]
macro_rules! model_tests {
    ($factory:path) => {
        #[test]
        fn model_matches_memory_reference() {
            $crate::model::run_model_test($factory);
        }
    };
}
