//! One service of Redis (locks, rate limits) in front of an in-process one
//! that answers while Redis fails.

use std::sync::Arc;

/// `primary` (Redis) first and, when it fails, `fallback` (in-process).
/// Named per service: [`crate::FallbackLocks`], [`crate::FallbackRateLimiter`].
pub struct Fallback<T: ?Sized> {
    pub(crate) primary: Arc<T>,
    pub(crate) fallback: Arc<T>,
}

impl<T: ?Sized> Fallback<T> {
    /// `primary`, falling back to `fallback`.
    pub fn new(primary: Arc<T>, fallback: Arc<T>) -> Self {
        Self { primary, fallback }
    }
}

impl<T: ?Sized> Clone for Fallback<T> {
    fn clone(&self) -> Self {
        Self { primary: Arc::clone(&self.primary), fallback: Arc::clone(&self.fallback) }
    }
}
