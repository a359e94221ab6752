//! RO e-Transport over HTTP: uploads issuing UITs, state, list, info and the removed download.

mod common;

use std::time::Duration;

use anaf_sandbox::SandboxOptions;
use anaf_sandbox::samples::{
    TransportSpec, transport_confirmation_xml, transport_deletion_xml, transport_notification_xml,
};
use common::*;
use serde_json::Value;

fn uit_checksum_ok(uit: &str) -> bool {
    let bytes = uit.as_bytes();
    let allowed = b"0123456789ACDEFHJKLMNPQRTUVWXY";
    bytes.len() == 16
        && bytes[..14].iter().all(|b| allowed.contains(b))
        && format!("{:02}", bytes[..14].iter().map(|&b| u32::from(b)).sum::<u32>() % 100) == uit[14..]
}

async fn upload(h: &Harness, token: &str, xml: String) -> Value {
    let response = h
        .post(token, &format!("/test/ETRANSPORT/ws/v1/upload/ETRANSP/{CIF}/2"), xml)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn state(h: &Harness, token: &str, index: &Value) -> Value {
    h.get_json(token, &format!("/test/ETRANSPORT/ws/v1/stareMesaj/{index}"))
        .await
}

#[tokio::test]
async fn notification_gets_a_checksummed_uit_then_ok_and_appears_in_list_and_info() {
    let h = start_with(SandboxOptions::instant().processing_delay(Duration::from_secs(5)));
    let token = h.token().await;
    let spec = TransportSpec::new(CIF, "AVIZ-1");
    let answer = upload(&h, &token, transport_notification_xml(&spec)).await;
    assert_eq!(answer["ExecutionStatus"], 0);
    assert!(answer["index_incarcare"].is_u64(), "a JSON number");
    let uit = answer["UIT"].as_str().unwrap();
    assert!(uit_checksum_ok(uit), "{uit}");
    assert_eq!(answer["ref_declarant"], "AVIZ-1");
    assert!(
        answer["atentie"]
            .as_str()
            .unwrap()
            .starts_with("Verificati starea XML-ului transmis.")
    );
    assert_eq!(answer["dateResponse"].as_str().unwrap().len(), 12);
    assert_eq!(answer["trace_id"].as_str().unwrap().len(), 36);

    assert_eq!(
        state(&h, &token, &answer["index_incarcare"]).await["stare"],
        "in prelucrare"
    );
    h.sandbox.advance_clock(Duration::from_secs(6));
    let done = state(&h, &token, &answer["index_incarcare"]).await;
    assert_eq!(done["stare"], "ok");
    assert_eq!(done["ExecutionStatus"], 0);

    let list = h
        .get_json(&token, &format!("/test/ETRANSPORT/ws/v1/lista/1/{CIF}"))
        .await;
    assert_eq!(list["ExecutionStatus"], 0);
    assert_eq!(list["titlu"], "Lista Mesaje disponibile din ultimele 1 zile");
    let record = &list["mesaje"][0];
    assert_eq!(record["uit"], uit);
    assert_eq!(record["tip_op"], "30");
    assert_eq!(record["nr_veh"], "B123ABC");
    assert_eq!(record["stare"], "OK");
    assert_eq!(record["data_creare"].as_str().unwrap().len(), 14);
    assert_eq!(record["data_transp"].as_str().unwrap().len(), 14);
    assert!(record["id_incarcare"].is_string(), "a string in the list");

    let info = h
        .get_json(&token, &format!("/test/ETRANSPORT/ws/v1/info?cui_op={CIF}"))
        .await;
    assert_eq!(info[0]["uit"], uit);
    assert_eq!(info[0]["loc_start"]["localitate"], "Bucuresti");
    assert!(info[0]["data_exp_uit"].as_str().unwrap().ends_with("T00:00:00"));
    let none = h
        .get_json(&token, &format!("/test/ETRANSPORT/ws/v1/info?cui_op={CIF}&uit=XXXX"))
        .await;
    assert_eq!(none["error"], "Nu exista informatii pentru aceasta solicitare");
}

#[tokio::test]
async fn deletion_and_confirmation_act_on_an_existing_uit_and_unknown_uits_are_nok() {
    let h = start();
    let token = h.token().await;
    let first = upload(&h, &token, transport_notification_xml(&TransportSpec::new(CIF, "A-1"))).await;
    let uit = first["UIT"].as_str().unwrap().to_owned();
    let confirmation = upload(&h, &token, transport_confirmation_xml(CIF, &uit)).await;
    assert_eq!(confirmation["UIT"], uit.as_str());
    assert_eq!(state(&h, &token, &confirmation["index_incarcare"]).await["stare"], "ok");
    let deletion = upload(&h, &token, transport_deletion_xml(CIF, &uit)).await;
    assert_eq!(state(&h, &token, &deletion["index_incarcare"]).await["stare"], "ok");
    // Deleted: further operations on it fail.
    let again = upload(&h, &token, transport_confirmation_xml(CIF, &uit)).await;
    let nok = state(&h, &token, &again["index_incarcare"]).await;
    assert_eq!(nok["stare"], "nok");
    assert_eq!(nok["ExecutionStatus"], 1);
    assert_eq!(nok["Errors"][0]["errorMessage"], "UIT-ul nu poate fi identificat.");
    let list = h
        .get_json(&token, &format!("/test/ETRANSPORT/ws/v1/lista/1/{CIF}"))
        .await;
    let errors: Vec<&Value> = list["mesaje"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["stare"] == "ERR")
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["mesaje"][0]["tip"], "ERR");
}

#[tokio::test]
async fn schematron_rules_make_a_notification_nok() {
    let h = start();
    let token = h.token().await;
    let mut spec = TransportSpec::new(CIF, "B-1");
    spec.vehicle = "b 12 x".into();
    spec.gross_weight = "0".into();
    let answer = upload(&h, &token, transport_notification_xml(&spec)).await;
    let nok = state(&h, &token, &answer["index_incarcare"]).await;
    let messages: Vec<&str> = nok["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["errorMessage"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.starts_with("[BR-031]-")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("[BR-029]-")), "{messages:?}");
}

#[tokio::test]
async fn upload_errors_use_anafs_texts() {
    let h = start();
    let token = h.token().await;
    let xml = transport_notification_xml(&TransportSpec::new(CIF, "C-1"));
    let post = |path: String, body: String| {
        let h = &h;
        let token = token.clone();
        async move { h.post(&token, &path, body).await.json::<Value>().await.unwrap() }
    };
    let cases = [
        (
            format!("/test/ETRANSPORT/ws/v1/upload/ETRANSPORT/{CIF}/2"),
            xml.clone(),
            "Valoarea acceptata pentru parametrul standard este ETRANSP",
        ),
        (
            "/test/ETRANSPORT/ws/v1/upload/ETRANSP/123a/2".to_owned(),
            xml.clone(),
            "CIF introdus= 123a nu este un numar",
        ),
        (
            "/test/ETRANSPORT/ws/v1/upload/ETRANSP/21/2".to_owned(),
            xml.clone(),
            "Nu aveti drept in SPV pentru CIF=21",
        ),
        (
            format!("/test/ETRANSPORT/ws/v1/upload/ETRANSP/{CIF}/2"),
            " ".repeat(5 * 1024 * 1024 + 1),
            "Marime fisier transmis mai mare de 5 MB",
        ),
    ];
    for (path, body, expected) in cases {
        let answer = post(path.clone(), body).await;
        assert_eq!(answer["ExecutionStatus"], 1, "{path}");
        assert_eq!(answer["Errors"][0]["errorMessage"], expected, "{path}");
    }
    let wrong_root = post(format!("/test/ETRANSPORT/ws/v1/upload/ETRANSP/{CIF}/2"), "<a/>".into()).await;
    assert_eq!(
        wrong_root["Errors"][0]["errorMessage"],
        "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: 1; columnNumber: 1; cvc-elt.1.a: Cannot find the declaration of element 'a'."
    );
    let v1_namespace_on_v2 = post(format!("/test/ETRANSPORT/ws/v1/upload/ETRANSP/{CIF}/1"), xml.clone()).await;
    assert_eq!(v1_namespace_on_v2["ExecutionStatus"], 1);
    let missing_attr = xml.replace(&format!("codDeclarant=\"{CIF}\""), "");
    let answer = post(format!("/test/ETRANSPORT/ws/v1/upload/ETRANSP/{CIF}/2"), missing_attr).await;
    assert!(
        answer["Errors"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Attribute 'codDeclarant' must appear on element 'eTransport'")
    );
    let no_path = h.post(&token, "/test/ETRANSPORT/ws/v1/upload/", xml).await;
    assert_eq!(no_path.status(), 404);
    assert_eq!(
        no_path.json::<Value>().await.unwrap()["path"],
        "/test/ETRANSPORT/ws/v1/upload/"
    );
}

#[tokio::test]
async fn state_list_and_info_query_errors() {
    let h = start_with(SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        etransport_status: 1,
        etransport_list: 1,
        ..Default::default()
    }));
    let token = h.token().await;
    let error = |v: &Value| v["Errors"][0]["errorMessage"].as_str().unwrap().to_owned();
    assert_eq!(
        error(&h.get_json(&token, "/test/ETRANSPORT/ws/v1/stareMesaj/a").await),
        "Id_incarcare introdus= a nu este un numar intreg"
    );
    assert_eq!(
        error(&h.get_json(&token, "/test/ETRANSPORT/ws/v1/stareMesaj/1").await),
        "Nu exista declaratia de transport cu id_incarcare= 1"
    );
    let answer = upload(&h, &token, transport_notification_xml(&TransportSpec::new(CIF, "D-1"))).await;
    state(&h, &token, &answer["index_incarcare"]).await;
    assert_eq!(
        error(&state(&h, &token, &answer["index_incarcare"]).await),
        "S-au facut deja 1 de verificari, pentru id-incarcare solicitat, in cursul zilei"
    );

    assert_eq!(
        error(
            &h.get_json(&token, &format!("/test/ETRANSPORT/ws/v1/lista/60a/{CIF}"))
                .await
        ),
        "Numarul de zile introdus= 60a nu este un numar intreg"
    );
    assert_eq!(
        error(
            &h.get_json(&token, &format!("/test/ETRANSPORT/ws/v1/lista/61/{CIF}"))
                .await
        ),
        "Numarul de zile trebuie sa fie intre 1 si 60"
    );
    assert_eq!(
        error(&h.get_json(&token, "/test/ETRANSPORT/ws/v1/lista/1/123a").await),
        "CIF introdus= 123a nu este un numar"
    );
    assert_eq!(
        error(
            &h.get_json(&token, &format!("/test/ETRANSPORT/ws/v1/lista/60/{OTHER_OWN_CIF}"))
                .await
        ),
        "Nu exista mesaje in ultimele 60 zile"
    );
    assert_eq!(
        error(
            &h.get_json(&token, &format!("/test/ETRANSPORT/ws/v1/lista/60/{CIF}"))
                .await
        ),
        "S-au facut deja 1 interogari de lista mesaje de catre utilizator in cursul zilei"
    );

    let missing = h.get(&token, "/test/ETRANSPORT/ws/v1/info").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Parametrul cui_op este obligatoriu"
    );
    assert_eq!(
        h.get_json(&token, "/test/ETRANSPORT/ws/v1/info?cui_op=abc").await["error"],
        "cui_op introdus= abc nu este un numar"
    );
    assert_eq!(
        h.get_json(&token, &format!("/test/ETRANSPORT/ws/v1/info?cui_op={PARTNER}"))
            .await["error"],
        format!("Nu aveti drept in SPV pentru CIF={PARTNER}")
    );
}

#[tokio::test]
async fn the_download_service_was_removed() {
    let h = start();
    let token = h.token().await;
    let response = h.get(&token, "/test/ETRANSPORT/ws/v1/descarcare/1").await;
    assert_eq!(response.status(), 404);
}
