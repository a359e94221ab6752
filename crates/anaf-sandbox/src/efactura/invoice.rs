//! What ANAF reads from an invoice (UBL Invoice, UBL CreditNote, CII) and the business rules
//! it applies when it processes one. Rule texts follow ANAF's answers: EN 16931 rules in
//! English behind ANAF's `E: validari globale  SCHEMATRON   eroare: ` prefix, CIUS-RO rules in
//! Romanian and English, and ANAF's own CUI check.

use crate::codes::cif_is_valid;
use crate::xml::Element;

pub const NS_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
pub const NS_CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
pub const NS_CII: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100";
pub const NS_RASP: &str = "mfp:anaf:dgti:spv:reqMesaj:v1";

/// The `standard` upload parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standard {
    Ubl,
    Cn,
    Cii,
    Rasp,
}

impl Standard {
    pub fn parse(value: &str) -> Option<Standard> {
        match value {
            "UBL" => Some(Standard::Ubl),
            "CN" => Some(Standard::Cn),
            "CII" => Some(Standard::Cii),
            "RASP" => Some(Standard::Rasp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Standard::Ubl => "UBL",
            Standard::Cn => "CN",
            Standard::Cii => "CII",
            Standard::Rasp => "RASP",
        }
    }

    /// The root element (namespace, local name) the schema for this standard declares.
    pub fn root(self) -> (&'static str, &'static str) {
        match self {
            Standard::Ubl => (NS_INVOICE, "Invoice"),
            Standard::Cn => (NS_CREDIT_NOTE, "CreditNote"),
            Standard::Cii => (NS_CII, "CrossIndustryInvoice"),
            Standard::Rasp => (NS_RASP, "header"),
        }
    }
}

/// Xerces' complaint when the root element is not the one the schema declares.
pub fn root_mismatch(root: Element<'_>, expected: (&str, &str)) -> Option<String> {
    let (ns, name) = expected;
    (root.namespace() != Some(ns) || root.name() != name)
        .then(|| format!("cvc-elt.1.a: Cannot find the declaration of element '{}'.", root.name()))
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Party {
    pub name: Option<String>,
    /// `PartyTaxScheme/CompanyID` (VAT identifier, e.g. `RO12345674`).
    pub vat_id: Option<String>,
    /// `PartyLegalEntity/CompanyID`.
    pub legal_id: Option<String>,
}

/// Where a Romanian CIF was found in a party, for the wording of ANAF's CUI error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifSource {
    TaxScheme,
    LegalEntity,
}

impl Party {
    /// The party's Romanian CIF (digits, no `RO`), if it has one: a `RO`-prefixed or bare
    /// numeric VAT identifier, else a numeric legal registration identifier.
    pub fn romanian_cif(&self) -> Option<(String, CifSource)> {
        let numeric = |s: &str| {
            let s = s.trim();
            let digits = s
                .strip_prefix("RO")
                .or_else(|| s.strip_prefix("ro"))
                .unwrap_or(s)
                .trim();
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_owned())
        };
        if let Some(cif) = self.vat_id.as_deref().and_then(numeric) {
            return Some((cif, CifSource::TaxScheme));
        }
        self.legal_id
            .as_deref()
            .and_then(numeric)
            .map(|cif| (cif, CifSource::LegalEntity))
    }

    /// Any identifier at all (a foreign VAT number counts).
    pub fn identifier(&self) -> Option<&str> {
        self.vat_id.as_deref().or(self.legal_id.as_deref())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    pub name: String,
    pub quantity: String,
    pub unit: String,
    pub price: String,
    pub amount: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DocumentKind {
    #[default]
    Invoice,
    CreditNote,
    CrossIndustryInvoice,
}

/// How many invoice lines a summary keeps (a document may hold hundreds of thousands; the
/// rules only count them and the PDF shows these).
pub const MAX_LINES: usize = 1000;

/// What ANAF reads from an invoice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub kind: DocumentKind,
    pub customization_id: Option<String>,
    pub number: Option<String>,
    pub issue_date: Option<String>,
    pub type_code: Option<String>,
    pub currency: Option<String>,
    pub seller: Party,
    pub buyer: Party,
    /// The first [`MAX_LINES`] lines (what the PDF shows).
    pub lines: Vec<Line>,
    /// How many lines the document has.
    pub line_count: usize,
    pub tax_amount: Option<String>,
    pub payable_amount: Option<String>,
}

fn text(el: Element<'_>, path: &[&str]) -> Option<String> {
    el.text_at(path).map(str::to_owned)
}

fn ubl_party(party: Option<Element<'_>>) -> Party {
    let Some(party) = party else { return Party::default() };
    Party {
        name: text(party, &["PartyLegalEntity", "RegistrationName"]).or_else(|| text(party, &["PartyName", "Name"])),
        vat_id: text(party, &["PartyTaxScheme", "CompanyID"]),
        legal_id: text(party, &["PartyLegalEntity", "CompanyID"]),
    }
}

fn cii_party(party: Option<Element<'_>>) -> Party {
    let Some(party) = party else { return Party::default() };
    let vat = party
        .children_named("SpecifiedTaxRegistration")
        .find_map(|r| {
            r.child("ID")
                .filter(|id| id.attr("schemeID") == Some("VA"))
                .map(|id| id.text().trim().to_owned())
        })
        .or_else(|| text(party, &["SpecifiedTaxRegistration", "ID"]));
    Party {
        name: text(party, &["Name"]),
        vat_id: vat,
        legal_id: text(party, &["SpecifiedLegalOrganization", "ID"]),
    }
}

pub fn summarize(root: Element<'_>) -> Summary {
    match root.name() {
        "CrossIndustryInvoice" => summarize_cii(root),
        name => {
            let credit = name == "CreditNote";
            let (line_tag, qty_tag, type_tag) = if credit {
                ("CreditNoteLine", "CreditedQuantity", "CreditNoteTypeCode")
            } else {
                ("InvoiceLine", "InvoicedQuantity", "InvoiceTypeCode")
            };
            let line_count = root.children_named(line_tag).count();
            let lines = root
                .children_named(line_tag)
                .take(MAX_LINES)
                .map(|line| Line {
                    name: text(line, &["Item", "Name"]).unwrap_or_default(),
                    quantity: text(line, &[qty_tag]).unwrap_or_default(),
                    unit: line
                        .child(qty_tag)
                        .and_then(|q| q.attr("unitCode"))
                        .unwrap_or_default()
                        .to_owned(),
                    price: text(line, &["Price", "PriceAmount"]).unwrap_or_default(),
                    amount: text(line, &["LineExtensionAmount"]).unwrap_or_default(),
                })
                .collect();
            Summary {
                kind: if credit {
                    DocumentKind::CreditNote
                } else {
                    DocumentKind::Invoice
                },
                customization_id: text(root, &["CustomizationID"]),
                number: text(root, &["ID"]),
                issue_date: text(root, &["IssueDate"]),
                type_code: text(root, &[type_tag]),
                currency: text(root, &["DocumentCurrencyCode"]),
                seller: ubl_party(root.at(&["AccountingSupplierParty", "Party"])),
                buyer: ubl_party(root.at(&["AccountingCustomerParty", "Party"])),
                lines,
                line_count,
                tax_amount: text(root, &["TaxTotal", "TaxAmount"]),
                payable_amount: text(root, &["LegalMonetaryTotal", "PayableAmount"]),
            }
        }
    }
}

fn summarize_cii(root: Element<'_>) -> Summary {
    let transaction = root.child("SupplyChainTradeTransaction");
    let agreement = transaction.and_then(|t| t.child("ApplicableHeaderTradeAgreement"));
    let settlement = transaction.and_then(|t| t.child("ApplicableHeaderTradeSettlement"));
    let totals = settlement.and_then(|s| s.child("SpecifiedTradeSettlementHeaderMonetarySummation"));
    let issue_date = text(root, &["ExchangedDocument", "IssueDateTime", "DateTimeString"]).map(|d| {
        // Format 102 (YYYYMMDD) shown as ISO.
        if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
            format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
        } else {
            d
        }
    });
    let line_count = transaction.map_or(0, |t| t.children_named("IncludedSupplyChainTradeLineItem").count());
    let lines = transaction
        .map(|t| {
            t.children_named("IncludedSupplyChainTradeLineItem")
                .take(MAX_LINES)
                .map(|item| Line {
                    name: text(item, &["SpecifiedTradeProduct", "Name"]).unwrap_or_default(),
                    quantity: text(item, &["SpecifiedLineTradeDelivery", "BilledQuantity"]).unwrap_or_default(),
                    unit: item
                        .at(&["SpecifiedLineTradeDelivery", "BilledQuantity"])
                        .and_then(|q| q.attr("unitCode"))
                        .unwrap_or_default()
                        .to_owned(),
                    price: text(
                        item,
                        &[
                            "SpecifiedLineTradeAgreement",
                            "NetPriceProductTradePrice",
                            "ChargeAmount",
                        ],
                    )
                    .unwrap_or_default(),
                    amount: text(
                        item,
                        &[
                            "SpecifiedLineTradeSettlement",
                            "SpecifiedTradeSettlementLineMonetarySummation",
                            "LineTotalAmount",
                        ],
                    )
                    .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Summary {
        kind: DocumentKind::CrossIndustryInvoice,
        customization_id: text(
            root,
            &[
                "ExchangedDocumentContext",
                "GuidelineSpecifiedDocumentContextParameter",
                "ID",
            ],
        ),
        number: text(root, &["ExchangedDocument", "ID"]),
        issue_date,
        type_code: text(root, &["ExchangedDocument", "TypeCode"]),
        currency: settlement.and_then(|s| text(s, &["InvoiceCurrencyCode"])),
        seller: cii_party(agreement.and_then(|a| a.child("SellerTradeParty"))),
        buyer: cii_party(agreement.and_then(|a| a.child("BuyerTradeParty"))),
        lines,
        line_count,
        tax_amount: totals.and_then(|t| text(t, &["TaxTotalAmount"])),
        payable_amount: totals.and_then(|t| text(t, &["DuePayableAmount"])),
    }
}

fn schematron(rule: &str, text: &str) -> String {
    format!("E: validari globale  SCHEMATRON   eroare: [{rule}]-{text}")
}

/// The checks ANAF makes on the invoice itself (what `validare` reports and what turns an
/// upload into `nok`).
pub fn business_errors(summary: &Summary) -> Vec<String> {
    let mut errors = Vec::new();
    let noun = if summary.kind == DocumentKind::CreditNote {
        "Credit Note"
    } else {
        "Invoice"
    };
    let mut require = |present: bool, rule: &str, text: String| {
        if !present {
            errors.push(schematron(rule, &text));
        }
    };
    require(
        summary.customization_id.is_some(),
        "BR-01",
        format!("An {noun} shall have a Specification identifier (BT-24)."),
    );
    require(
        summary.number.is_some(),
        "BR-02",
        format!("An {noun} shall have an Invoice number (BT-1)."),
    );
    require(
        summary.issue_date.is_some(),
        "BR-03",
        format!("An {noun} shall have an Invoice issue date (BT-2)."),
    );
    require(
        summary.type_code.is_some(),
        "BR-04",
        format!("An {noun} shall have an Invoice type code (BT-3)."),
    );
    require(
        summary.currency.is_some(),
        "BR-05",
        format!("An {noun} shall have an Invoice currency code (BT-5)."),
    );
    require(
        summary.seller.name.is_some(),
        "BR-06",
        format!("An {noun} shall contain the Seller name (BT-27)."),
    );
    require(
        summary.buyer.name.is_some(),
        "BR-07",
        format!("An {noun} shall contain the Buyer name (BT-44)."),
    );
    require(
        summary.line_count > 0,
        "BR-16",
        format!("An {noun} shall have at least one Invoice line (BG-25)"),
    );
    if summary.seller.identifier().is_none() {
        errors.push(schematron(
            "BR-RO-065",
            "Identificatorul de înregistrare fiscala a Vanzatorului (BT-32) trebuie sa fie înscris.\n\t\t#The Seller tax registration identifier (BT-32) shall be present.",
        ));
    } else if let Some((cif, source)) = summary.seller.romanian_cif()
        && !cif_is_valid(&cif)
    {
        let (section, rule) = match source {
            CifSource::TaxScheme => ("PartyTaxScheme", "R_BT_32_cui"),
            CifSource::LegalEntity => ("PartyLegalEntity", "R_BT_30_cui"),
        };
        errors.push(format!(
            "E: AccountingSupplierParty (1) sectiune Party (1) sectiune {section} (1) sectiune CompanyID (1)  eroare regula: {rule}: Cui vanzator incorect / validare CUI ({cif}) "
        ));
    }
    errors
}

/// ANAF's processing-time check that the seller exists in its database.
pub fn seller_unknown_error(cif: &str) -> String {
    format!("E: validari globale\n eroare regula: R6.1: CIF-ul vanzatorului nu figureaza in baza de date:{cif}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{InvoiceSpec, invoice_xml};
    use crate::xml::parse;

    #[test]
    fn a_sample_invoice_passes_every_rule() {
        let xml = invoice_xml(&InvoiceSpec::new("FCT-1", "8000000000", "12345674"));
        let doc = parse(xml.as_bytes()).unwrap();
        let summary = summarize(doc.root());
        assert_eq!(summary.number.as_deref(), Some("FCT-1"));
        assert_eq!(
            summary.seller.romanian_cif(),
            Some(("8000000000".into(), CifSource::TaxScheme))
        );
        assert_eq!(summary.buyer.romanian_cif().unwrap().0, "12345674");
        assert_eq!(summary.lines.len(), 1);
        assert_eq!(business_errors(&summary), Vec::<String>::new());
    }

    #[test]
    fn missing_number_and_bad_seller_cif_are_reported() {
        let mut spec = InvoiceSpec::new("", "12345678", "12345674");
        spec.number = String::new();
        let doc = parse(invoice_xml(&spec).as_bytes()).unwrap();
        let errors = business_errors(&summarize(doc.root()));
        assert!(errors.iter().any(|e| e.contains("[BR-02]")), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("R_BT_32_cui: Cui vanzator incorect / validare CUI (12345678)")),
            "{errors:?}"
        );
    }
}
