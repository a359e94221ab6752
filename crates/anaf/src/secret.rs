//! A string that must not leak: client secrets, tokens, authorization codes.

use std::fmt;

use serde::Deserialize;
use zeroize::Zeroize;

/// A secret value. `Debug` and `Display` print `<redacted>`; read it with [`Secret::expose`]
/// only where it goes on the wire or into a token store. The memory is wiped when the value
/// is dropped.
///
/// `Secret` implements `Deserialize` (reading a saved token file) but deliberately not
/// `Serialize`: writing a secret out is always an explicit call such as
/// [`crate::TokenSet::to_json`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s} {s:#?}"), "<redacted> <redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    /// Compiles only while `T` does not implement `Serialize`: with an implementation, the
    /// call below matches two impls and is ambiguous.
    fn assert_not_serialize<T: ?Sized + NotSerialize<Marker>, Marker>() {}
    trait NotSerialize<Marker> {}
    impl<T: ?Sized> NotSerialize<()> for T {}
    struct IfSerialize;
    impl<T: ?Sized + serde::Serialize> NotSerialize<IfSerialize> for T {}

    #[test]
    fn secrets_and_token_sets_cannot_be_serialised_by_accident() {
        assert_not_serialize::<Secret, _>();
        assert_not_serialize::<crate::TokenSet, _>();
    }
}
