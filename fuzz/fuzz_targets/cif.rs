//! A CIF (the Romanian tax number) from any text: what parses, parses again from its own form.
#![no_main]

use anaf::Cif;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(cif) = Cif::parse(text) else { return };
    assert_eq!(Cif::parse(cif.as_str()).unwrap(), cif);
    assert_eq!(cif.to_string().parse::<Cif>().unwrap(), cif);
    assert!(cif.as_str().bytes().all(|b| b.is_ascii_digit()), "{cif}");
});
