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
/// fresh store from `$factory` (an `async fn() -> TestStore`). Each
/// scenario module lists its own scenarios (`__scenarios_<module>!`), so
/// adding a scenario touches only its module.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__scenarios_files!($factory);
        $crate::__scenarios_insights!($factory);
        $crate::__scenarios_jobs!($factory);
        $crate::__scenarios_kpis!($factory);
        $crate::__scenarios_operations!($factory);
        $crate::__scenarios_orders!($factory);
        $crate::__scenarios_payments!($factory);
        $crate::__scenarios_purchasing!($factory);
        $crate::__scenarios_races!($factory);
        $crate::__scenarios_refunds!($factory);
        $crate::__scenarios_retention!($factory);
        $crate::__scenarios_search!($factory);
        $crate::__scenarios_storage!($factory);
        $crate::__scenarios_stores!($factory);
        $crate::__scenarios_support!($factory);
        $crate::__scenarios_webhooks!($factory);
    };
}

/// Defines `__scenarios_<module>!($factory)`, the macro that
/// [`conformance_tests!`] calls for one scenario module: one line per
/// module instead of a hand-written `macro_rules!` each. The first token is
/// a literal `$`, passed in because a macro cannot write `$factory` for the
/// macro it defines.
#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_list {
    ($d:tt $name:ident: $($scenario:ident),* $(,)?) => {
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $name {
            ($d factory:path) => {
                $crate::__conformance_test!($d factory; $($scenario),*);
            };
        }
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

/// Everything an adapter must pass, on fresh stores from `$factory`: the
/// conformance suite ([`conformance_tests!`]), the differential model test
/// ([`model_tests!`]), and 32 clients racing for 50 units, which must sell
/// exactly 50.
#[macro_export]
macro_rules! adapter_tests {
    ($factory:path) => {
        $crate::conformance_tests!($factory);
        $crate::model_tests!($factory);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn thirty_two_clients_never_oversell_fifty_units() {
            let (placed, left) = $crate::oversell_race($factory().await, 32, 50).await;
            assert_eq!((placed, left), (50, 0));
        }
    };
}
