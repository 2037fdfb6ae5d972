//! Input validation: small checks that collect every broken rule, so a
//! client gets all its field errors at once.

use crate::error::{AgoraError, FieldError};

/// Collects field errors; [`Validator::finish`] turns them into one error.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// A validator with no errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error for `field`.
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
    }

    /// Records an error unless `ok`.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.error(field, message);
        }
    }

    /// Checks a trimmed text length in characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.trim().chars().count();
        if n < min || n > max {
            self.error(field, format!("must be {min} to {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.error(field, "must not contain control characters");
        }
    }

    /// Checks an optional text's length (0..=`max` characters) when given.
    pub fn optional_text(&mut self, field: &str, value: Option<&String>, max: usize) {
        if let Some(t) = value {
            self.text(field, t, 0, max);
        }
    }

    /// Checks an integer range.
    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.error(field, format!("must be between {min} and {max}"));
        }
    }

    /// Ok when nothing was recorded.
    ///
    /// # Errors
    /// [`AgoraError::Validation`] with every recorded field error.
    pub fn finish(self) -> Result<(), AgoraError> {
        if self.errors.is_empty() { Ok(()) } else { Err(AgoraError::Validation(self.errors)) }
    }
}

/// A name of a feature toggle or onboarding step: `[a-z0-9_]{1,64}`.
pub fn valid_flag_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Lower-cases and trims an email; `None` unless it looks like `local@domain.tld`.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = e.split_once('@')?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return None;
    }
    Some(e)
}

/// Lower-cases a shop domain; `None` unless it is a valid host name.
pub fn normalize_domain(domain: &str) -> Option<String> {
    let d = domain.trim().to_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    (d.len() <= 253 && d.contains('.') && labels_ok).then_some(d)
}

/// Whether a phone number is `+` and 6 to 15 digits, or just 6 to 15 digits.
pub fn valid_phone(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    (6..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" Ann@Example.COM ").as_deref(), Some("ann@example.com"));
        for bad in ["", "ann", "ann@", "@x.io", "ann@example", "a b@x.io", "ann@x..io", "a@b@c.io"] {
            assert!(normalize_email(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn domains_and_phones() {
        assert_eq!(normalize_domain("Shop.Example.com").as_deref(), Some("shop.example.com"));
        assert!(normalize_domain("no_underscore.com").is_none());
        assert!(normalize_domain("localhost").is_none());
        assert!(valid_phone("+4915112345678"));
        assert!(!valid_phone("12-34"));
    }

    proptest::proptest! {
        #[test]
        fn normalized_emails_are_stable(local in "[a-z0-9]{1,20}", host in "[a-z]{1,10}", tld in "[a-z]{2,5}") {
            let e = format!("{local}@{host}.{tld}");
            let n = normalize_email(&e).unwrap();
            proptest::prop_assert_eq!(normalize_email(&n), Some(n.clone()));
        }
    }
}
