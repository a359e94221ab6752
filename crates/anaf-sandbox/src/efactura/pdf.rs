//! `transformare`: a real PDF (A4, Helvetica, WinAnsi) showing an invoice's main fields.
//! Romanian letters missing from WinAnsi (ă, ș, ț) are written without their diacritics.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::invoice::{DocumentKind, Summary};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const ROWS_PER_PAGE: usize = 48;

/// Maps text to WinAnsi (cp1252) bytes: Latin-1 letters map to themselves, the Romanian
/// comma-below letters and breves lose their marks, anything else becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            'ă' => b'a',
            'Ă' => b'A',
            'ș' | 'ş' => b's',
            'Ș' | 'Ş' => b'S',
            'ț' | 'ţ' => b't',
            'Ț' | 'Ţ' => b'T',
            '€' => 0x80,
            c if (c as u32) < 0x80 || (0xA0..=0xFF).contains(&(c as u32)) => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// The rows of text the PDF shows, with a font size each.
fn rows(summary: &Summary, validated: bool) -> Vec<(f32, String)> {
    let title = match summary.kind {
        DocumentKind::CreditNote => "FACTURA DE STORNARE (Credit Note)",
        _ => "FACTURA (Invoice)",
    };
    let mut rows = vec![
        (18.0, title.to_owned()),
        (
            10.0,
            format!(
                "Numar: {}    Data emiterii: {}    Moneda: {}",
                or_dash(&summary.number),
                or_dash(&summary.issue_date),
                or_dash(&summary.currency)
            ),
        ),
        (10.0, String::new()),
        (12.0, "Furnizor".to_owned()),
        (10.0, or_dash(&summary.seller.name).to_owned()),
        (10.0, format!("CIF: {}", summary.seller.identifier().unwrap_or("-"))),
        (10.0, String::new()),
        (12.0, "Client".to_owned()),
        (10.0, or_dash(&summary.buyer.name).to_owned()),
        (10.0, format!("CIF: {}", summary.buyer.identifier().unwrap_or("-"))),
        (10.0, String::new()),
        (
            12.0,
            "Nr.  Denumire                                   Cant.   UM    Pret unitar      Valoare".to_owned(),
        ),
    ];
    for (i, line) in summary.lines.iter().enumerate() {
        let name: String = line.name.chars().take(40).collect();
        rows.push((
            10.0,
            format!(
                "{:<4} {:<42} {:>6} {:>4} {:>14} {:>12}",
                i + 1,
                name,
                line.quantity,
                line.unit,
                line.price,
                line.amount
            ),
        ));
    }
    if summary.line_count > summary.lines.len() {
        rows.push((
            10.0,
            format!("... inca {} linii", summary.line_count - summary.lines.len()),
        ));
    }
    rows.push((10.0, String::new()));
    rows.push((10.0, format!("Total TVA: {}", or_dash(&summary.tax_amount))));
    rows.push((
        12.0,
        format!(
            "Total de plata: {} {}",
            or_dash(&summary.payable_amount),
            or_dash(&summary.currency)
        ),
    ));
    rows.push((10.0, String::new()));
    rows.push((
        8.0,
        if validated {
            "Document generat de anaf-sandbox din XML-ul facturii, dupa validare.".to_owned()
        } else {
            "Document generat de anaf-sandbox fara validarea XML-ului (nu se garanteaza corectitudinea).".to_owned()
        },
    ));
    rows
}

pub fn render(summary: &Summary, validated: bool) -> Vec<u8> {
    let rows = rows(summary, validated);
    let pages: Vec<&[(f32, String)]> = rows.chunks(ROWS_PER_PAGE).collect();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let mono = Ref::new(4);
    let info = Ref::new(5);
    let mut next = 6;
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    let page_ids: Vec<(Ref, Ref)> = pages
        .iter()
        .map(|_| {
            let ids = (Ref::new(next), Ref::new(next + 1));
            next += 2;
            ids
        })
        .collect();
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(page_ids.len() as i32);
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(mono)
        .base_font(Name(b"Courier"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    let title = format!("Factura {}", or_dash(&summary.number));
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr("anaf-sandbox"));

    for (rows, (page_id, content_id)) in pages.iter().zip(&page_ids) {
        let mut page = pdf.page(*page_id);
        page.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(*content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), font);
        fonts.pair(Name(b"F2"), mono);
        fonts.finish();
        resources.finish();
        page.finish();

        let mut content = Content::new();
        let mut y = PAGE_H - 60.0;
        for (size, text) in rows.iter() {
            // Tables use the monospaced font so the columns line up.
            let face = if text.starts_with("Nr. ") || text.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                Name(b"F2")
            } else {
                Name(b"F1")
            };
            let size = if face == Name(b"F2") { 8.0 } else { *size };
            content
                .begin_text()
                .set_font(face, size)
                .next_line(50.0, y)
                .show(Str(&win_ansi(text)))
                .end_text();
            y -= size + 6.0;
        }
        pdf.stream(*content_id, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_pdf_with_the_invoice_number() {
        let summary = Summary {
            number: Some("FCT-77".into()),
            ..Summary::default()
        };
        let pdf = render(&summary, true);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(6).any(|w| w == b"FCT-77"));
        assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn win_ansi_drops_marks_it_cannot_encode() {
        assert_eq!(win_ansi("Ștefan ăâî"), b"Stefan a\xe2\xee".to_vec());
    }
}
