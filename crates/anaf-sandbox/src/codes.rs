//! Server-side checks of Romanian identifiers. The client crate has its own implementation on
//! purpose: the sandbox is an independent oracle, so a bug shared by both cannot hide itself.

/// True when `digits` (no `RO`) is a CIF whose control digit is right (key 753217532).
pub fn cif_is_valid(digits: &str) -> bool {
    const KEY: [u32; 9] = [7, 5, 3, 2, 1, 7, 5, 3, 2];
    if !(2..=10).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let values: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, control) = values.split_at(values.len() - 1);
    let pad = KEY.len() - body.len();
    let sum: u32 = body.iter().zip(&KEY[pad..]).map(|(d, k)| d * k).sum();
    let expected = (sum * 10 % 11) % 10;
    expected == control[0]
}

/// Alphabet of the first 14 UIT characters: digits and capitals without O, I, Z, S, G, B.
const UIT_ALPHABET: &[u8] = b"0123456789ACDEFHJKLMNPQRTUVWXY";

/// Builds a UIT from 14 body characters: the last two digits are the last two digits of the
/// sum of the body's ASCII codes.
pub fn uit_from_body(body: &[u8; 14]) -> String {
    let sum: u32 = body.iter().map(|&b| u32::from(b)).sum();
    let mut uit = String::from_utf8_lossy(body).into_owned();
    uit.push_str(&format!("{:02}", sum % 100));
    uit
}

/// Maps a sequence number to a UIT, deterministically (a run is reproducible) and injectively
/// (30^14 > 2^64, so the 14 base-30 digits hold the whole scrambled number).
pub fn uit_for_sequence(seq: u64) -> String {
    let mut body = [b'0'; 14];
    let mut n = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    let base = UIT_ALPHABET.len() as u64;
    for slot in body.iter_mut() {
        *slot = UIT_ALPHABET[(n % base) as usize];
        n /= base;
    }
    uit_from_body(&body)
}

pub fn uit_is_valid(uit: &str) -> bool {
    let bytes = uit.as_bytes();
    if bytes.len() != 16 || !bytes[..14].iter().all(|b| UIT_ALPHABET.contains(b)) {
        return false;
    }
    let body: [u8; 14] = bytes[..14].try_into().expect("length checked");
    uit_from_body(&body) == uit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cif_control_digit_vectors() {
        for ok in [
            "4221306",
            "12345674",
            "33333338",
            "19",
            "8000000000",
            "1234567897",
            "47024170",
            "29930516",
        ] {
            assert!(cif_is_valid(ok), "{ok} should be valid");
        }
        for bad in ["12345678", "18", "10", "1", "12345678901", "12a4"] {
            assert!(!cif_is_valid(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn generated_uits_satisfy_the_checksum_rule() {
        for seq in 0..2000 {
            let uit = uit_for_sequence(seq);
            assert!(uit_is_valid(&uit), "{uit}");
        }
        assert_ne!(uit_for_sequence(1), uit_for_sequence(2));
        assert!(!uit_is_valid("XAXAXAXAXAXAXAXA1"));
    }
}
