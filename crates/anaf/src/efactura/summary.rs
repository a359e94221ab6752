//! The main fields of an invoice, read from its XML: number, dates, parties, currency,
//! totals, the number of lines. What an accountant checks first in an answer ZIP, and what a
//! program indexes received invoices by. UBL 2.1 Invoice and CreditNote (CIUS-RO) and
//! UN/CEFACT Cross Industry Invoice; a summary, not a validation (ANAF's validator is
//! `EFactura::validate`).

use chrono::NaiveDate;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

use crate::error::Error;

/// One party of an invoice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PartySummary {
    /// The registration name (UBL `RegistrationName`, else `PartyName`; CII `Name`).
    pub name: Option<String>,
    /// The VAT identifier as written, e.g. `RO12345678` (UBL `PartyTaxScheme/CompanyID`,
    /// CII `SpecifiedTaxRegistration/ID`).
    pub vat_id: Option<String>,
    /// The legal registration identifier (UBL `PartyLegalEntity/CompanyID`, CII
    /// `SpecifiedLegalOrganization/ID`): for a Romanian company, its CUI or trade register
    /// number.
    pub legal_id: Option<String>,
}

/// The main fields of an invoice. Amounts are kept as written (decimal text, never rounded
/// through a float); fields the document lacks are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InvoiceSummary {
    /// `ubl_invoice`, `ubl_credit_note` or `cii_invoice`.
    pub syntax: String,
    /// The invoice number (BT-1).
    pub number: Option<String>,
    /// BT-3: 380 invoice, 381 credit note, 384 corrected, 389 self-billed, 751 accounting
    /// information.
    pub type_code: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    /// ISO 4217, e.g. `RON`.
    pub currency: Option<String>,
    pub seller: PartySummary,
    pub buyer: PartySummary,
    /// Without VAT (BT-109).
    pub net_total: Option<String>,
    /// The VAT (BT-110).
    pub vat_total: Option<String>,
    /// With VAT (BT-112).
    pub gross_total: Option<String>,
    /// Left to pay (BT-115).
    pub payable: Option<String>,
    pub lines: u32,
}

fn invalid(message: &str) -> Error {
    Error::invalid_input("document", message)
}

/// Which summary field an element (by its path of local names under the root) fills.
#[derive(Clone, Copy)]
enum Field {
    Number,
    TypeCode,
    IssueDate,
    DueDate,
    Currency,
    Name(Role),
    FallbackName(Role),
    VatId(Role),
    LegalId(Role),
    Net,
    Vat,
    Gross,
    Payable,
}

#[derive(Clone, Copy)]
enum Role {
    Seller,
    Buyer,
}

/// A syntax's map from an element's path (local names under the root) to its field.
type FieldMap = fn(&[&str]) -> Option<Field>;

fn ubl_field(path: &[&str]) -> Option<Field> {
    let role = |name: &str| match name {
        "AccountingSupplierParty" => Some(Role::Seller),
        "AccountingCustomerParty" => Some(Role::Buyer),
        _ => None,
    };
    Some(match path {
        ["ID"] => Field::Number,
        ["InvoiceTypeCode" | "CreditNoteTypeCode"] => Field::TypeCode,
        ["IssueDate"] => Field::IssueDate,
        ["DueDate"] | ["PaymentMeans", "PaymentDueDate"] => Field::DueDate,
        ["DocumentCurrencyCode"] => Field::Currency,
        [party, "Party", "PartyLegalEntity", "RegistrationName"] => Field::Name(role(party)?),
        [party, "Party", "PartyName", "Name"] => Field::FallbackName(role(party)?),
        [party, "Party", "PartyTaxScheme", "CompanyID"] => Field::VatId(role(party)?),
        [party, "Party", "PartyLegalEntity", "CompanyID"] => Field::LegalId(role(party)?),
        ["TaxTotal", "TaxAmount"] => Field::Vat,
        ["LegalMonetaryTotal", "TaxExclusiveAmount"] => Field::Net,
        ["LegalMonetaryTotal", "TaxInclusiveAmount"] => Field::Gross,
        ["LegalMonetaryTotal", "PayableAmount"] => Field::Payable,
        _ => return None,
    })
}

fn cii_field(path: &[&str]) -> Option<Field> {
    let role = |name: &str| match name {
        "SellerTradeParty" => Some(Role::Seller),
        "BuyerTradeParty" => Some(Role::Buyer),
        _ => None,
    };
    Some(match path {
        ["ExchangedDocument", "ID"] => Field::Number,
        ["ExchangedDocument", "TypeCode"] => Field::TypeCode,
        ["ExchangedDocument", "IssueDateTime", "DateTimeString"] => Field::IssueDate,
        [
            "SupplyChainTradeTransaction",
            "ApplicableHeaderTradeAgreement",
            party,
            rest @ ..,
        ] => match rest {
            ["Name"] => Field::Name(role(party)?),
            ["SpecifiedTaxRegistration", "ID"] => Field::VatId(role(party)?),
            ["SpecifiedLegalOrganization", "ID"] => Field::LegalId(role(party)?),
            _ => return None,
        },
        [
            "SupplyChainTradeTransaction",
            "ApplicableHeaderTradeSettlement",
            rest @ ..,
        ] => match rest {
            ["InvoiceCurrencyCode"] => Field::Currency,
            ["SpecifiedTradePaymentTerms", "DueDateDateTime", "DateTimeString"] => Field::DueDate,
            ["SpecifiedTradeSettlementHeaderMonetarySummation", total] => match *total {
                "TaxBasisTotalAmount" => Field::Net,
                "TaxTotalAmount" => Field::Vat,
                "GrandTotalAmount" => Field::Gross,
                "DuePayableAmount" => Field::Payable,
                _ => return None,
            },
            _ => return None,
        },
        _ => return None,
    })
}

/// `2026-11-30` (UBL) or `20261130` (CII's format 102).
fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .ok()
}

impl InvoiceSummary {
    /// Reads the main fields of a UBL Invoice or CreditNote or a CII invoice. Refused
    /// (`invalid_input`, field `document`) when the XML is malformed or another document
    /// (e.g. ANAF's error document: see `Archive::error_report`).
    pub fn parse(xml: &[u8]) -> Result<InvoiceSummary, Error> {
        let text = std::str::from_utf8(xml).map_err(|_| invalid("the invoice is not UTF-8"))?;
        let mut reader = Reader::from_str(text);
        let mut summary = InvoiceSummary::default();
        // Local names from the root down; the root picks the syntax and its field map.
        let mut path: Vec<String> = Vec::new();
        let mut fields: Option<FieldMap> = None;
        let mut filling: Option<Field> = None;
        let mut value = String::new();
        loop {
            let malformed = |e: &dyn std::fmt::Display| invalid(&format!("the invoice is not well-formed XML: {e}"));
            let (element, empty) = match reader.read_event().map_err(|e| malformed(&e))? {
                Event::Start(element) => (element, false),
                Event::Empty(element) => (element, true),
                Event::Text(t) if filling.is_some() => {
                    value.push_str(&t.xml10_content());
                    continue;
                }
                Event::CData(c) if filling.is_some() => {
                    value.push_str(&c.xml10_content());
                    continue;
                }
                Event::GeneralRef(r) if filling.is_some() => {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => value.push(ch),
                        _ => value.push_str(quick_xml::escape::resolve_predefined_entity(&r).unwrap_or_default()),
                    }
                    continue;
                }
                Event::End(_) => {
                    if let Some(field) = filling.take() {
                        summary.fill(field, value.trim());
                    }
                    path.pop();
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let local = element.local_name().as_ref().to_owned();
            let Some(field_of) = fields else {
                let (syntax, field_of): (&str, FieldMap) = match local.as_str() {
                    "Invoice" => ("ubl_invoice", ubl_field),
                    "CreditNote" => ("ubl_credit_note", ubl_field),
                    "CrossIndustryInvoice" => ("cii_invoice", cii_field),
                    other => {
                        return Err(invalid(&format!(
                            "`{other}` is not an invoice (a UBL Invoice or CreditNote, or a CII invoice)"
                        )));
                    }
                };
                summary.syntax = syntax.to_owned();
                fields = Some(field_of);
                path.push(local);
                continue;
            };
            path.push(local);
            let under_root: Vec<&str> = path.iter().skip(1).map(String::as_str).collect();
            if matches!(
                under_root.as_slice(),
                ["InvoiceLine" | "CreditNoteLine"]
                    | ["SupplyChainTradeTransaction", "IncludedSupplyChainTradeLineItem"]
            ) {
                summary.lines += 1;
            }
            filling = field_of(&under_root);
            value.clear();
            if empty {
                filling = None;
                path.pop();
            }
        }
        if fields.is_none() {
            return Err(invalid("the invoice has no root element"));
        }
        Ok(summary)
    }

    /// The first value wins (e.g. the `TaxTotal` in the document's currency comes first).
    fn fill(&mut self, field: Field, text: &str) {
        if text.is_empty() {
            return;
        }
        let set = |slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = Some(text.to_owned());
            }
        };
        match field {
            Field::Number => set(&mut self.number),
            Field::TypeCode => set(&mut self.type_code),
            Field::IssueDate => self.issue_date = self.issue_date.or_else(|| date(text)),
            Field::DueDate => self.due_date = self.due_date.or_else(|| date(text)),
            Field::Currency => set(&mut self.currency),
            Field::Name(role) => {
                // The registration name is the legal one: it replaces a trading name.
                self.party(role).name = Some(text.to_owned());
            }
            Field::FallbackName(role) => set(&mut self.party(role).name),
            Field::VatId(role) => set(&mut self.party(role).vat_id),
            Field::LegalId(role) => set(&mut self.party(role).legal_id),
            Field::Net => set(&mut self.net_total),
            Field::Vat => set(&mut self.vat_total),
            Field::Gross => set(&mut self.gross_total),
            Field::Payable => set(&mut self.payable),
        }
    }

    fn party(&mut self, role: Role) -> &mut PartySummary {
        match role {
            Role::Seller => &mut self.seller,
            Role::Buyer => &mut self.buyer,
        }
    }
}

#[cfg(test)]
mod tests {
    use anaf_sandbox::samples::{InvoiceSpec, LineSpec, cii_invoice_xml, credit_note_xml, invoice_xml};

    use super::*;

    fn spec() -> InvoiceSpec {
        let mut spec = InvoiceSpec::new("FCT & 001", "8000000000", "12345674");
        spec.issue_date = "2026-11-30".into();
        spec.seller_name = "Vanzator <Test> SRL".into();
        spec.lines.push(LineSpec {
            name: "Servicii".into(),
            quantity: 3,
            unit_price_cents: 12_345,
        });
        spec
    }

    #[test]
    fn reads_a_ubl_invoice() {
        let summary = InvoiceSummary::parse(invoice_xml(&spec()).as_bytes()).unwrap();
        assert_eq!(summary.syntax, "ubl_invoice");
        assert_eq!(summary.number.as_deref(), Some("FCT & 001"), "entities resolved");
        assert_eq!(summary.type_code.as_deref(), Some("380"));
        assert_eq!(summary.issue_date, NaiveDate::from_ymd_opt(2026, 11, 30));
        assert_eq!(summary.currency.as_deref(), Some("RON"));
        assert_eq!(summary.seller.name.as_deref(), Some("Vanzator <Test> SRL"));
        assert_eq!(summary.seller.vat_id.as_deref(), Some("RO8000000000"));
        assert_eq!(summary.seller.legal_id.as_deref(), Some("8000000000"));
        assert_eq!(summary.buyer.vat_id.as_deref(), Some("RO12345674"));
        // 2 x 100.00 + 3 x 123.45 = 570.35 RON, 19 % VAT = 108.37.
        assert_eq!(summary.net_total.as_deref(), Some("570.35"));
        assert_eq!(summary.vat_total.as_deref(), Some("108.37"));
        assert_eq!(summary.gross_total.as_deref(), Some("678.72"));
        assert_eq!(summary.payable.as_deref(), Some("678.72"));
        assert_eq!(summary.lines, 2);
    }

    #[test]
    fn reads_a_credit_note_and_a_cii_invoice() {
        let note = InvoiceSummary::parse(credit_note_xml(&spec()).as_bytes()).unwrap();
        assert_eq!(
            (note.syntax.as_str(), note.type_code.as_deref()),
            ("ubl_credit_note", Some("381"))
        );
        assert_eq!(note.lines, 2);
        let cii = InvoiceSummary::parse(cii_invoice_xml(&spec()).as_bytes()).unwrap();
        assert_eq!(cii.syntax, "cii_invoice");
        assert_eq!(cii.number.as_deref(), Some("FCT & 001"));
        assert_eq!(cii.issue_date, NaiveDate::from_ymd_opt(2026, 11, 30));
        assert_eq!(cii.seller.vat_id.as_deref(), Some("RO8000000000"));
        assert_eq!(cii.buyer.name.as_deref(), Some(spec().buyer_name.as_str()));
        assert_eq!(
            cii.gross_total,
            InvoiceSummary::parse(invoice_xml(&spec()).as_bytes())
                .unwrap()
                .gross_total
        );
        assert_eq!(cii.lines, 2);
    }

    #[test]
    fn lines_and_nested_ids_do_not_leak_into_the_header() {
        let xml = r#"<Invoice xmlns:cbc="b" xmlns:cac="a"><cac:InvoiceLine><cbc:ID>7</cbc:ID><cac:Item><cbc:Name>X</cbc:Name></cac:Item></cac:InvoiceLine><cbc:ID>N-1</cbc:ID><cbc:Note/><cac:TaxTotal><cbc:TaxAmount>1.00</cbc:TaxAmount></cac:TaxTotal><cac:TaxTotal><cbc:TaxAmount>4.50</cbc:TaxAmount></cac:TaxTotal></Invoice>"#;
        let summary = InvoiceSummary::parse(xml.as_bytes()).unwrap();
        assert_eq!(summary.number.as_deref(), Some("N-1"));
        assert_eq!(summary.vat_total.as_deref(), Some("1.00"), "the first TaxTotal");
        assert_eq!((summary.lines, summary.seller.name.clone()), (1, None));
    }

    #[test]
    fn refuses_what_is_not_an_invoice() {
        for (xml, says) in [
            (
                &b"<header xmlns=\"mfp:anaf:dgti:efactura:mesajEroriFactuta:v1\"/>"[..],
                "not an invoice",
            ),
            (b"<Invoice><cbc:ID>1</Invoice>", "well-formed"),
            (b"", "no root"),
            (b"\xff\xfe", "UTF-8"),
        ] {
            let error = InvoiceSummary::parse(xml).unwrap_err();
            assert_eq!(
                (error.kind(), error.field()),
                (crate::ErrorKind::InvalidInput, Some("document"))
            );
            assert!(error.to_string().contains(says), "{error}");
        }
    }
}
