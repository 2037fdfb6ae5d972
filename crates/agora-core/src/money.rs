//! Money as integer minor units plus an ISO 4217 currency, with checked
//! arithmetic. No floating point anywhere.

use serde::{Deserialize, Serialize};

use crate::error::AgoraError;

/// The largest amount, in minor units, agora accepts. It is what
/// PostgreSQL's `NUMERIC(12,2)` can hold, so every adapter can store it.
pub const MAX_MINOR: i64 = 999_999_999_999;

/// An ISO 4217 currency code: three ASCII upper-case letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a three-letter upper-case code such as `EUR`.
    ///
    /// # Errors
    /// [`AgoraError::Validation`] on anything else.
    pub fn parse(code: &str) -> Result<Self, AgoraError> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(AgoraError::validation("currency", "must be a three-letter ISO 4217 code in upper case"))
        }
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(|_| serde::de::Error::custom("invalid currency code"))
    }
}

/// An amount of money: minor units (cents) of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units, `0..=MAX_MINOR`.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Builds an amount, rejecting negatives and amounts above [`MAX_MINOR`].
    ///
    /// # Errors
    /// [`AgoraError::Validation`] naming `field`.
    pub fn new(minor: i64, currency: Currency, field: &str) -> Result<Self, AgoraError> {
        if !(0..=MAX_MINOR).contains(&minor) {
            return Err(AgoraError::validation(field, &format!("must be between 0 and {MAX_MINOR} minor units")));
        }
        Ok(Self { minor, currency })
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// Adds two amounts of the same currency.
    ///
    /// # Errors
    /// [`AgoraError::Validation`] on a currency mismatch or an overflow past [`MAX_MINOR`].
    pub fn checked_add(self, other: Money) -> Result<Money, AgoraError> {
        if self.currency != other.currency {
            return Err(AgoraError::validation("currency", "currencies differ"));
        }
        self.minor
            .checked_add(other.minor)
            .filter(|m| *m <= MAX_MINOR)
            .map(|minor| Money { minor, currency: self.currency })
            .ok_or_else(overflow)
    }

    /// Multiplies by a quantity.
    ///
    /// # Errors
    /// [`AgoraError::Validation`] on overflow past [`MAX_MINOR`].
    pub fn checked_mul(self, qty: i64) -> Result<Money, AgoraError> {
        self.minor
            .checked_mul(qty)
            .filter(|m| (0..=MAX_MINOR).contains(m))
            .map(|minor| Money { minor, currency: self.currency })
            .ok_or_else(overflow)
    }

    /// `percent`% of this amount, rounded down to a whole minor unit.
    ///
    /// # Errors
    /// [`AgoraError::Validation`] on overflow.
    pub fn percent(self, percent: i64) -> Result<Money, AgoraError> {
        let scaled = i128::from(self.minor) * i128::from(percent) / 100;
        i64::try_from(scaled)
            .ok()
            .filter(|m| (0..=MAX_MINOR).contains(m))
            .map(|minor| Money { minor, currency: self.currency })
            .ok_or_else(overflow)
    }
}

fn overflow() -> AgoraError {
    AgoraError::validation("amount_minor", "amount exceeds the largest amount agora stores")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn currency_must_be_three_upper_letters() {
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(MAX_MINOR, eur(), "x").unwrap();
        assert!(a.checked_add(Money::new(1, eur(), "x").unwrap()).is_err());
        assert!(a.checked_mul(2).is_err());
        assert_eq!(Money::new(1999, eur(), "x").unwrap().checked_mul(3).unwrap().minor, 5997);
        assert_eq!(Money::new(1001, eur(), "x").unwrap().percent(50).unwrap().minor, 500);
        assert!(Money::new(-1, eur(), "x").is_err());
        let usd = Currency::parse("USD").unwrap();
        assert!(Money::zero(eur()).checked_add(Money::zero(usd)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn add_never_exceeds_max(a in 0..=MAX_MINOR, b in 0..=MAX_MINOR) {
            let x = Money::new(a, eur(), "x").unwrap();
            let y = Money::new(b, eur(), "x").unwrap();
            match x.checked_add(y) {
                Ok(sum) => proptest::prop_assert_eq!(sum.minor, a + b),
                Err(_) => proptest::prop_assert!(a + b > MAX_MINOR),
            }
        }
    }
}

crate::text_field!(Currency, |s: &str| Currency::parse(s).ok());

impl From<Currency> for crate::schema::Value<'static> {
    fn from(c: Currency) -> Self {
        crate::schema::Value::Text(std::borrow::Cow::Owned(c.as_str().to_owned()))
    }
}
