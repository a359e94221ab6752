//! CIF / CUI: a Romanian company's tax identification number (Cod de Identificare Fiscala /
//! Cod Unic de Inregistrare). Written with or without an `RO` prefix (the prefix marks VAT
//! registration); ANAF's APIs want the digits only.

use std::fmt;

use crate::error::Error;

/// A CIF whose control digit checks out (key 753217532), without the `RO` prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cif(String);

impl Cif {
    /// Accepts `RO12345674`, `ro 12345674`, `12345674`; refuses anything whose control digit
    /// is wrong, with an [`crate::ErrorKind::InvalidInput`] error naming the field `cif`.
    pub fn parse(text: &str) -> Result<Cif, Error> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let digits = compact
            .strip_prefix("RO")
            .or_else(|| compact.strip_prefix("ro"))
            .or_else(|| compact.strip_prefix("Ro"))
            .unwrap_or(&compact);
        if !(2..=10).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid_input(
                "cif",
                format!("{text:?} is not a CIF: expected 2 to 10 digits, optionally after RO"),
            ));
        }
        if !control_digit_ok(digits) {
            return Err(Error::invalid_input(
                "cif",
                format!("{text:?} is not a valid CIF: its control digit is wrong"),
            ));
        }
        Ok(Cif(digits.to_owned()))
    }

    /// The digits, as ANAF's `cif` parameters want them.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Cif {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cif, Error> {
        Cif::parse(s)
    }
}

fn control_digit_ok(digits: &str) -> bool {
    const KEY: [u32; 9] = [7, 5, 3, 2, 1, 7, 5, 3, 2];
    let values: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, control) = values.split_at(values.len() - 1);
    // The body is right-aligned against the key.
    let weighted: u32 = body.iter().rev().zip(KEY.iter().rev()).map(|(d, k)| d * k).sum();
    (weighted * 10 % 11) % 10 == control[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        for ok in [
            "4221306",
            "RO4221306",
            "12345674",
            "33333338",
            "19",
            "8000000000",
            "1234567897",
            "47024170",
            "29930516",
            " ro 12345674 ",
        ] {
            assert!(Cif::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "12345678",
            "18",
            "10",
            "1",
            "",
            "RO",
            "12345678901",
            "12a45674",
            "DE123456789",
        ] {
            let error = Cif::parse(bad).unwrap_err();
            assert_eq!(error.field(), Some("cif"), "{bad}");
        }
        assert_eq!(Cif::parse("RO12345674").unwrap().as_str(), "12345674");
    }
}
