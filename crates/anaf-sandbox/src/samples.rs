//! Valid sample documents (CIUS-RO UBL invoice and credit note, CII invoice, RASP message,
//! e-Transport declarations) for tests, examples and the sandbox's own seeding. Each passes
//! the sandbox's checks unless a field is deliberately broken.

use std::fmt::Write;

use quick_xml::escape::escape;

pub const CIUS_RO: &str = "urn:cen.eu:en16931:2017#compliant#urn:efactura.mfinante.ro:CIUS-RO:1.0.1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineSpec {
    pub name: String,
    pub quantity: u32,
    /// Unit price in bani (hundredths of the currency).
    pub unit_price_cents: u64,
}

/// The facts of an invoice; [`invoice_xml`] renders them as CIUS-RO UBL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceSpec {
    pub number: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    pub seller_cif: String,
    pub seller_name: String,
    /// Buyer CIF; for a B2C invoice, a CNP or empty.
    pub buyer_cif: String,
    pub buyer_name: String,
    pub currency: String,
    pub vat_percent: u32,
    pub lines: Vec<LineSpec>,
}

impl InvoiceSpec {
    /// One line of 2 × 100.00 RON at 19 % VAT, issued today.
    pub fn new(number: &str, seller_cif: &str, buyer_cif: &str) -> InvoiceSpec {
        InvoiceSpec {
            number: number.to_owned(),
            issue_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            seller_cif: seller_cif.to_owned(),
            seller_name: format!("FURNIZOR {seller_cif} SRL"),
            buyer_cif: buyer_cif.to_owned(),
            buyer_name: format!("CLIENT {buyer_cif} SRL"),
            currency: "RON".into(),
            vat_percent: 19,
            lines: vec![LineSpec {
                name: "Servicii de programare".into(),
                quantity: 2,
                unit_price_cents: 10_000,
            }],
        }
    }

    fn totals(&self) -> (u64, u64) {
        let net: u64 = self
            .lines
            .iter()
            .map(|l| u64::from(l.quantity) * l.unit_price_cents)
            .sum();
        let vat = (net * u64::from(self.vat_percent) + 50) / 100;
        (net, vat)
    }
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn party(out: &mut String, role: &str, cif: &str, name: &str) {
    let name = escape(name);
    let cif_e = escape(cif);
    let tax_scheme = if cif.is_empty() {
        String::new()
    } else {
        format!(
            "<cac:PartyTaxScheme><cbc:CompanyID>RO{cif_e}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>"
        )
    };
    let legal_id = if cif.is_empty() {
        String::new()
    } else {
        format!("<cbc:CompanyID>{cif_e}</cbc:CompanyID>")
    };
    let _ = writeln!(
        out,
        "  <cac:{role}><cac:Party>\
<cac:PostalAddress><cbc:StreetName>Str. Exemplu nr. 1</cbc:StreetName><cbc:CityName>SECTOR1</cbc:CityName><cbc:CountrySubentity>RO-B</cbc:CountrySubentity><cac:Country><cbc:IdentificationCode>RO</cbc:IdentificationCode></cac:Country></cac:PostalAddress>\
{tax_scheme}<cac:PartyLegalEntity><cbc:RegistrationName>{name}</cbc:RegistrationName>{legal_id}</cac:PartyLegalEntity>\
</cac:Party></cac:{role}>"
    );
}

fn ubl(spec: &InvoiceSpec, credit_note: bool) -> String {
    let (root, ns, type_tag, type_code, line_tag, qty_tag) = if credit_note {
        (
            "CreditNote",
            crate::efactura::invoice::NS_CREDIT_NOTE,
            "CreditNoteTypeCode",
            "381",
            "CreditNoteLine",
            "CreditedQuantity",
        )
    } else {
        (
            "Invoice",
            crate::efactura::invoice::NS_INVOICE,
            "InvoiceTypeCode",
            "380",
            "InvoiceLine",
            "InvoicedQuantity",
        )
    };
    let cur = escape(&spec.currency);
    let (net, vat) = spec.totals();
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<{root} xmlns="{ns}" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">"#
    );
    let _ = writeln!(out, "  <cbc:CustomizationID>{CIUS_RO}</cbc:CustomizationID>");
    if !spec.number.is_empty() {
        let _ = writeln!(out, "  <cbc:ID>{}</cbc:ID>", escape(&spec.number));
    }
    let _ = writeln!(out, "  <cbc:IssueDate>{}</cbc:IssueDate>", escape(&spec.issue_date));
    let _ = writeln!(out, "  <cbc:{type_tag}>{type_code}</cbc:{type_tag}>");
    let _ = writeln!(out, "  <cbc:DocumentCurrencyCode>{cur}</cbc:DocumentCurrencyCode>");
    party(&mut out, "AccountingSupplierParty", &spec.seller_cif, &spec.seller_name);
    party(&mut out, "AccountingCustomerParty", &spec.buyer_cif, &spec.buyer_name);
    let _ = writeln!(
        out,
        "  <cac:TaxTotal><cbc:TaxAmount currencyID=\"{cur}\">{vat}</cbc:TaxAmount><cac:TaxSubtotal><cbc:TaxableAmount currencyID=\"{cur}\">{net}</cbc:TaxableAmount><cbc:TaxAmount currencyID=\"{cur}\">{vat}</cbc:TaxAmount><cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{pct}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>",
        vat = money(vat),
        net = money(net),
        pct = spec.vat_percent
    );
    let _ = writeln!(
        out,
        "  <cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID=\"{cur}\">{net}</cbc:LineExtensionAmount><cbc:TaxExclusiveAmount currencyID=\"{cur}\">{net}</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID=\"{cur}\">{gross}</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID=\"{cur}\">{gross}</cbc:PayableAmount></cac:LegalMonetaryTotal>",
        net = money(net),
        gross = money(net + vat)
    );
    for (i, line) in spec.lines.iter().enumerate() {
        let _ = writeln!(
            out,
            "  <cac:{line_tag}><cbc:ID>{id}</cbc:ID><cbc:{qty_tag} unitCode=\"H87\">{qty}</cbc:{qty_tag}><cbc:LineExtensionAmount currencyID=\"{cur}\">{amount}</cbc:LineExtensionAmount><cac:Item><cbc:Name>{name}</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{pct}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item><cac:Price><cbc:PriceAmount currencyID=\"{cur}\">{price}</cbc:PriceAmount></cac:Price></cac:{line_tag}>",
            id = i + 1,
            qty = line.quantity,
            amount = money(u64::from(line.quantity) * line.unit_price_cents),
            name = escape(&line.name),
            pct = spec.vat_percent,
            price = money(line.unit_price_cents),
        );
    }
    let _ = writeln!(out, "</{root}>");
    out
}

/// A CIUS-RO UBL 2.1 Invoice (`standard=UBL`, validation standard `FACT1`).
pub fn invoice_xml(spec: &InvoiceSpec) -> String {
    ubl(spec, false)
}

/// A CIUS-RO UBL 2.1 CreditNote (`standard=CN`, validation standard `FCN`).
pub fn credit_note_xml(spec: &InvoiceSpec) -> String {
    ubl(spec, true)
}

/// A UN/CEFACT Cross Industry Invoice (`standard=CII`).
pub fn cii_invoice_xml(spec: &InvoiceSpec) -> String {
    let (net, vat) = spec.totals();
    let date = spec.issue_date.replace('-', "");
    let party = |role: &str, cif: &str, name: &str| {
        format!(
            "<ram:{role}><ram:Name>{}</ram:Name><ram:SpecifiedTaxRegistration><ram:ID schemeID=\"VA\">RO{}</ram:ID></ram:SpecifiedTaxRegistration></ram:{role}>",
            escape(name),
            escape(cif)
        )
    };
    let mut lines = String::new();
    for (i, line) in spec.lines.iter().enumerate() {
        let _ = write!(
            lines,
            "<ram:IncludedSupplyChainTradeLineItem><ram:AssociatedDocumentLineDocument><ram:LineID>{}</ram:LineID></ram:AssociatedDocumentLineDocument><ram:SpecifiedTradeProduct><ram:Name>{}</ram:Name></ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>{}</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"H87\">{}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement><ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>{}</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation></ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>",
            i + 1,
            escape(&line.name),
            money(line.unit_price_cents),
            line.quantity,
            money(u64::from(line.quantity) * line.unit_price_cents)
        );
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{CIUS_RO}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>380</ram:TypeCode><ram:IssueDateTime><udt:DateTimeString format="102">{date}</udt:DateTimeString></ram:IssueDateTime></rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction>{lines}<ram:ApplicableHeaderTradeAgreement>{seller}{buyer}</ram:ApplicableHeaderTradeAgreement><ram:ApplicableHeaderTradeDelivery/><ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>{cur}</ram:InvoiceCurrencyCode><ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:LineTotalAmount>{net}</ram:LineTotalAmount><ram:TaxBasisTotalAmount>{net}</ram:TaxBasisTotalAmount><ram:TaxTotalAmount currencyID="{cur}">{vat}</ram:TaxTotalAmount><ram:GrandTotalAmount>{gross}</ram:GrandTotalAmount><ram:DuePayableAmount>{gross}</ram:DuePayableAmount></ram:SpecifiedTradeSettlementHeaderMonetarySummation></ram:ApplicableHeaderTradeSettlement></rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
"#,
        number = escape(&spec.number),
        seller = party("SellerTradeParty", &spec.seller_cif, &spec.seller_name),
        buyer = party("BuyerTradeParty", &spec.buyer_cif, &spec.buyer_name),
        cur = escape(&spec.currency),
        net = money(net),
        vat = money(vat),
        gross = money(net + vat),
    )
}

/// A buyer's answer to a received invoice (`standard=RASP`).
pub fn rasp_xml(upload_index: u64, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<header xmlns=\"mfp:anaf:dgti:spv:reqMesaj:v1\" index_incarcare=\"{upload_index}\" message=\"{}\"/>\n",
        escape(message)
    )
}

/// A road-transport notification (operation 30, domestic transport) in e-Transport schema v2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportSpec {
    pub declarant_cif: String,
    pub reference: String,
    /// `codTipOperatiune`: 10, 12, 14, 20, 22, 24, 30, 40, 50, 60 or 70.
    pub operation: u32,
    pub vehicle: String,
    /// `YYYY-MM-DD`.
    pub transport_date: String,
    pub partner_cif: String,
    pub partner_name: String,
    pub goods: String,
    pub gross_weight: String,
}

impl TransportSpec {
    pub fn new(declarant_cif: &str, reference: &str) -> TransportSpec {
        TransportSpec {
            declarant_cif: declarant_cif.to_owned(),
            reference: reference.to_owned(),
            operation: 30,
            vehicle: "B123ABC".into(),
            transport_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            partner_cif: "12345674".into(),
            partner_name: "CLIENT TRANSPORT SRL".into(),
            goods: "Laptopuri".into(),
            gross_weight: "120.50".into(),
        }
    }
}

pub fn transport_notification_xml(spec: &TransportSpec) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<eTransport xmlns="mfp:anaf:dgti:eTransport:declaratie:v2" codDeclarant="{decl}" refDeclarant="{reference}">
  <notificare codTipOperatiune="{op}">
    <bunuriTransportate codScopOperatiune="101" codTarifar="84713000" denumireMarfa="{goods}" cantitate="10" codUnitateMasura="H87" greutateNeta="100" greutateBruta="{gross}" valoareLeiFaraTva="25000"/>
    <partenerComercial codTara="RO" cod="{partner}" denumire="{partner_name}"/>
    <dateTransport nrVehicul="{vehicle}" codTaraOrgTransport="RO" codOrgTransport="{decl}" denumireOrgTransport="TRANSPORTATOR SRL" dataTransport="{date}"/>
    <locStartTraseuRutier><locatie codJudet="40" denumireLocalitate="Bucuresti" denumireStrada="Str. Depozitului"/></locStartTraseuRutier>
    <locFinalTraseuRutier><locatie codJudet="12" denumireLocalitate="Cluj-Napoca" denumireStrada="Str. Clientului"/></locFinalTraseuRutier>
    <documenteTransport tipDocument="30" numarDocument="{reference}" dataDocument="{date}"/>
  </notificare>
</eTransport>
"#,
        decl = escape(&spec.declarant_cif),
        reference = escape(&spec.reference),
        op = spec.operation,
        goods = escape(&spec.goods),
        gross = escape(&spec.gross_weight),
        partner = escape(&spec.partner_cif),
        partner_name = escape(&spec.partner_name),
        vehicle = escape(&spec.vehicle),
        date = escape(&spec.transport_date),
    )
}

/// Deletes (`stergere`) an earlier notification.
pub fn transport_deletion_xml(declarant_cif: &str, uit: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<eTransport xmlns=\"mfp:anaf:dgti:eTransport:declaratie:v2\" codDeclarant=\"{}\"><stergere uit=\"{}\"/></eTransport>\n",
        escape(declarant_cif),
        escape(uit)
    )
}

/// Confirms (`confirmare`, type 10) the arrival of a transport.
pub fn transport_confirmation_xml(declarant_cif: &str, uit: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<eTransport xmlns=\"mfp:anaf:dgti:eTransport:declaratie:v2\" codDeclarant=\"{}\"><confirmare uit=\"{}\" tipConfirmare=\"10\"/></eTransport>\n",
        escape(declarant_cif),
        escape(uit)
    )
}
