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

    /// Checks a text on one line: at least `min` characters once trimmed,
    /// at most `max` as given, no control characters. (/openapi.json states
    /// the same rule as a pattern and lengths: keep them in step.)
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        self.checked_text(field, value, min, max, char::is_control);
    }

    /// [`Validator::text`] over several lines: tab, line feed and carriage
    /// return are allowed, other control characters are not.
    pub fn multiline_text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        self.checked_text(field, value, min, max, |c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    }

    fn checked_text(&mut self, field: &str, value: &str, min: usize, max: usize, refused: impl Fn(char) -> bool) {
        let trimmed = value.trim().chars().count();
        if trimmed < min || value.chars().count() > max {
            self.error(field, format!("must be {min} to {max} characters"));
        } else if value.chars().any(refused) {
            self.error(field, "must not contain control characters");
        }
    }

    /// Checks an optional text's length (0..=`max` characters) when given.
    pub fn optional_text(&mut self, field: &str, value: Option<&String>, max: usize) {
        if let Some(t) = value {
            self.text(field, t, 0, max);
        }
    }

    /// [`Validator::optional_text`] over several lines.
    pub fn optional_multiline_text(&mut self, field: &str, value: Option<&String>, max: usize) {
        if let Some(t) = value {
            self.multiline_text(field, t, 0, max);
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
    // Lengths count the address as given (trimmed): lower-casing can
    // lengthen it ('İ' is two characters lower-cased).
    let given = email.trim();
    let local_given = given.split_once('@').map_or(given, |(l, _)| l);
    if given.chars().count() > 254 || local_given.chars().count() > 64 {
        return None;
    }
    let e = given.to_lowercase();
    if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = e.split_once('@')?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if local.is_empty() || !domain_ok {
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

/// Rewrites every number with no fractional part that an `i64` holds
/// exactly (`3.0`, `-1e3`) as that integer: JSON has numbers, not
/// integers, and JSON Schema counts `2.0` as the integer 2, which serde
/// refuses for an integer field.
pub fn integral_floats_to_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
            {
                // In range and integral, so the cast is exact.
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
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

    #[test]
    fn texts_count_the_trimmed_minimum_and_the_whole_maximum() {
        let errors = |f: &dyn Fn(&mut Validator)| {
            let mut v = Validator::new();
            f(&mut v);
            v.errors.len()
        };
        assert_eq!(errors(&|v| v.text("t", "  a  ", 1, 5)), 0);
        assert_eq!(errors(&|v| v.text("t", "  a   ", 1, 5)), 1, "six characters as sent");
        assert_eq!(errors(&|v| v.text("t", "   ", 1, 5)), 1, "blank");
        assert_eq!(errors(&|v| v.text("t", "a\nb", 1, 5)), 1, "one line only");
        assert_eq!(errors(&|v| v.multiline_text("t", "a\r\n\tb", 1, 9)), 0);
        assert_eq!(errors(&|v| v.multiline_text("t", "a\u{7}b", 1, 9)), 1, "a bell is no line break");
        assert_eq!(errors(&|v| v.multiline_text("t", "a\u{85}b", 1, 9)), 1, "nor is NEL");
    }

    #[test]
    fn integral_floats_become_integers_and_nothing_else_changes() {
        let mut v = serde_json::json!({"a": 2.0, "b": [1.5, -3e3, 1e300], "c": "2.0", "d": 7});
        integral_floats_to_integers(&mut v);
        assert_eq!(v, serde_json::json!({"a": 2, "b": [1.5, -3000, 1e300], "c": "2.0", "d": 7}));
        assert!(v["a"].is_i64() && v["b"][1].is_i64() && v["b"][2].is_f64());
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
