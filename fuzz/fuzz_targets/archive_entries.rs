//! Structure-aware: a ZIP written from fuzzed entries (ANAF's two plus others, stored or
//! deflated, in any order) must open, and give back each entry byte for byte.
#![no_main]

use std::io::Write;

use anaf::efactura::Archive;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zip::write::SimpleFileOptions;

#[derive(Arbitrary, Debug)]
struct Entries {
    upload_id: u64,
    document: Vec<u8>,
    signature: Vec<u8>,
    /// Other entries; their names never end in ".xml", which would compete with ANAF's.
    others: Vec<(String, Vec<u8>)>,
    signature_first: bool,
    deflate: bool,
}

fuzz_target!(|entries: Entries| {
    let method = if entries.deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = SimpleFileOptions::default().compression_method(method);
    let document_name = format!("{}.xml", entries.upload_id);
    let signature_name = format!("semnatura_{}.xml", entries.upload_id);
    let mut named = vec![
        (document_name.clone(), &entries.document),
        (signature_name.clone(), &entries.signature),
    ];
    if entries.signature_first {
        named.reverse();
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut names = std::collections::HashSet::from([document_name.clone(), signature_name.clone()]);
    for (name, content) in &entries.others {
        let name = format!("{name}.txt");
        if names.insert(name.clone()) {
            writer.start_file(name, options).unwrap();
            writer.write_all(content).unwrap();
        }
    }
    for (name, content) in named {
        writer.start_file(name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    let zip = writer.finish().unwrap().into_inner();

    let archive = Archive::from_bytes(zip.clone()).expect("a well-formed archive opens");
    assert_eq!(archive.zip_bytes().as_ref(), &zip[..]);
    assert_eq!(archive.upload_id(), Some(entries.upload_id));
    assert_eq!(archive.document_name(), document_name);
    assert_eq!(archive.signature_name(), signature_name);
    assert_eq!(archive.document().unwrap().as_ref(), &entries.document[..]);
    assert_eq!(archive.signature().unwrap().as_ref(), &entries.signature[..]);
    let _ = archive.error_report();
    let _ = archive.invoice_summary();
});
