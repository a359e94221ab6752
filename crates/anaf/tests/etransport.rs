//! e-Transport through the client against the sandbox.

mod common;

use anaf::ErrorKind;
use anaf::etransport::{InfoFilter, SchemaVersion, TransportState, Uit};
use anaf_sandbox::samples::{TransportSpec, transport_deletion_xml, transport_notification_xml};
use common::*;

#[tokio::test]
async fn declare_follow_list_and_ask_for_info() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let etransport = client.etransport();
    let receipt = etransport
        .upload(
            transport_notification_xml(&TransportSpec::new(CIF, "AVIZ-7")),
            CIF,
            SchemaVersion::V2,
        )
        .await
        .unwrap();
    let uit = receipt.uit.clone().expect("a UIT that passes the checksum");
    assert_eq!(Uit::parse(&receipt.raw_uit).unwrap(), uit);
    assert_eq!(receipt.reference, "AVIZ-7");
    assert!(receipt.warning.as_deref().unwrap().contains("UIT"));
    assert_eq!(etransport.status(receipt.upload_id).await.unwrap(), TransportState::Ok);

    let records = etransport.list(CIF, 1).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].uit.as_deref(), Some(uit.as_str()));
    assert_eq!(records[0].operation.as_deref(), Some("30"));
    assert_eq!(records[0].upload_id, receipt.upload_id);
    assert!(records[0].created_at.is_some());
    assert_eq!(records[0].raw["nr_veh"], "B123ABC");

    let info = etransport
        .info(CIF, InfoFilter::default().uit(uit.as_str()))
        .await
        .unwrap();
    assert_eq!(info[0]["uit"], uit.as_str());
    assert!(
        etransport
            .info(CIF, InfoFilter::default().reference("nope"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        etransport.list(OTHER_OWN_CIF, 60).await.unwrap().is_empty(),
        "no messages is an empty list"
    );
}

#[tokio::test]
async fn refused_declarations_are_nok_values_and_query_errors_are_errors() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let etransport = client.etransport();
    let unknown = "0000000000000072";
    let receipt = etransport
        .upload(transport_deletion_xml(CIF, unknown), CIF, SchemaVersion::V2)
        .await
        .unwrap();
    let TransportState::Nok { errors } = etransport.status(receipt.upload_id).await.unwrap() else {
        panic!()
    };
    assert_eq!(errors, vec!["UIT-ul nu poate fi identificat."]);
    let missing = etransport.status(1).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(
        missing.anaf_message(),
        Some("Nu exista declaratia de transport cu id_incarcare= 1")
    );
    let bad = etransport.upload("<a/>", CIF, SchemaVersion::V2).await.unwrap_err();
    assert_eq!((bad.kind(), bad.field()), (ErrorKind::InvalidInput, Some("xml")));
    let not_mine = etransport.list(PARTNER, 1).await.unwrap_err();
    assert_eq!(not_mine.kind(), ErrorKind::NoCifRight);
    assert_eq!(etransport.list(CIF, 61).await.unwrap_err().field(), Some("zile"));
}
