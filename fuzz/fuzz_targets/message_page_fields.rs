//! Structure-aware: a list page written as ANAF writes it, from fuzzed fields (text in the
//! places ANAF puts text, including numbers as text); what is read back is what was written.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Field {
    id: u64,
    upload_id: u64,
    cif: String,
    kind: String,
    created: (u8, u8, u16, u8, u8),
    details: String,
}

#[derive(Arbitrary, Debug)]
struct Page {
    messages: Vec<Field>,
    total_pages: u32,
    total: u64,
    page: u32,
}

/// A JSON string literal (serde_json is not a dependency of this crate: escape by hand).
fn quoted(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fuzz_target!(|page: Page| {
    let messages: Vec<String> = page
        .messages
        .iter()
        .map(|m| {
            let (day, month, year, hour, minute) = m.created;
            format!(
                r#"{{"data_creare":"{year:04}{month:02}{day:02}{hour:02}{minute:02}","cif":{},"id_solicitare":"{}","detalii":{},"tip":{},"id":"{}"}}"#,
                quoted(&m.cif),
                m.upload_id,
                quoted(&m.details),
                quoted(&m.kind),
                m.id
            )
        })
        .collect();
    let body = format!(
        r#"{{"mesaje":[{}],"numar_inregistrari_in_pagina":{},"numar_total_inregistrari_per_pagina":500,"numar_total_inregistrari":{},"numar_total_pagini":{},"index_pagina_curenta":{},"serial":"1","cui":"1","titlu":"Lista Mesaje"}}"#,
        messages.join(","),
        page.messages.len(),
        page.total,
        page.total_pages,
        page.page
    );
    let read = anaf::fuzzing::message_page(body.as_bytes(), page.page.max(1)).expect("ANAF's own shape is read");
    assert_eq!(read.messages.len(), page.messages.len());
    assert_eq!(
        (read.total_pages, read.total_messages, read.page),
        (page.total_pages, page.total, page.page)
    );
    for (message, written) in read.messages.iter().zip(&page.messages) {
        assert_eq!((message.id, message.upload_id), (written.id, written.upload_id));
        assert_eq!(
            (&message.cif, &message.details, &message.raw_kind),
            (&written.cif, &written.details, &written.kind)
        );
    }
});
