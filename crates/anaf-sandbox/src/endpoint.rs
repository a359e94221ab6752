//! Names for every ANAF endpoint the sandbox serves. Faults are targeted by these names and the
//! request log reports them.

use serde::{Deserialize, Serialize};

use crate::model::Service;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    OauthAuthorize,
    OauthToken,
    OauthRevoke,
    EfacturaUpload,
    EfacturaUploadB2c,
    EfacturaStatus,
    EfacturaList,
    EfacturaListPaged,
    EfacturaDownload,
    EfacturaValidate,
    EfacturaToPdf,
    EfacturaVerifySignature,
    EtransportUpload,
    EtransportStatus,
    EtransportList,
    EtransportInfo,
    EtransportDownload,
    Hello,
    VatRegistry,
    EfacturaRegister,
}

/// How a request to an endpoint is authorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token (the IdP itself and webservicesp.anaf.ro's public registry).
    Public,
    /// A Bearer token whose user and application both have the service.
    Bearer(Service),
    /// Any valid Bearer token (TestOauth).
    AnyBearer,
    /// Public on webservicesp.anaf.ro, Bearer-protected on api.anaf.ro. One sandbox serves
    /// both hosts on the same path, so a request with a token is checked like api.anaf.ro
    /// and one without is served like webservicesp.anaf.ro.
    OptionalBearer(Service),
}

impl Endpoint {
    pub const ALL: [Endpoint; 20] = [
        Endpoint::OauthAuthorize,
        Endpoint::OauthToken,
        Endpoint::OauthRevoke,
        Endpoint::EfacturaUpload,
        Endpoint::EfacturaUploadB2c,
        Endpoint::EfacturaStatus,
        Endpoint::EfacturaList,
        Endpoint::EfacturaListPaged,
        Endpoint::EfacturaDownload,
        Endpoint::EfacturaValidate,
        Endpoint::EfacturaToPdf,
        Endpoint::EfacturaVerifySignature,
        Endpoint::EtransportUpload,
        Endpoint::EtransportStatus,
        Endpoint::EtransportList,
        Endpoint::EtransportInfo,
        Endpoint::EtransportDownload,
        Endpoint::Hello,
        Endpoint::VatRegistry,
        Endpoint::EfacturaRegister,
    ];

    /// The name used by fault injection and the request log, e.g. `efactura.upload`.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::OauthAuthorize => "oauth.authorize",
            Endpoint::OauthToken => "oauth.token",
            Endpoint::OauthRevoke => "oauth.revoke",
            Endpoint::EfacturaUpload => "efactura.upload",
            Endpoint::EfacturaUploadB2c => "efactura.upload_b2c",
            Endpoint::EfacturaStatus => "efactura.status",
            Endpoint::EfacturaList => "efactura.list",
            Endpoint::EfacturaListPaged => "efactura.list_paged",
            Endpoint::EfacturaDownload => "efactura.download",
            Endpoint::EfacturaValidate => "efactura.validate",
            Endpoint::EfacturaToPdf => "efactura.to_pdf",
            Endpoint::EfacturaVerifySignature => "efactura.verify_signature",
            Endpoint::EtransportUpload => "etransport.upload",
            Endpoint::EtransportStatus => "etransport.status",
            Endpoint::EtransportList => "etransport.list",
            Endpoint::EtransportInfo => "etransport.info",
            Endpoint::EtransportDownload => "etransport.download",
            Endpoint::Hello => "hello",
            Endpoint::VatRegistry => "public.vat_registry",
            Endpoint::EfacturaRegister => "public.efactura_register",
        }
    }

    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    pub(crate) fn access(self) -> Access {
        use Endpoint::*;
        match self {
            // ANAF removed e-Transport downloads: the path answers 404 whoever asks.
            OauthAuthorize | OauthToken | OauthRevoke | VatRegistry | EfacturaRegister | EtransportDownload => {
                Access::Public
            }
            EfacturaUpload | EfacturaUploadB2c | EfacturaStatus | EfacturaList | EfacturaListPaged
            | EfacturaDownload => Access::Bearer(Service::EFactura),
            EfacturaValidate | EfacturaToPdf | EfacturaVerifySignature => Access::OptionalBearer(Service::EFactura),
            EtransportUpload | EtransportStatus | EtransportList | EtransportInfo => {
                Access::Bearer(Service::ETransport)
            }
            Hello => Access::AnyBearer,
        }
    }

    /// webservicesp.anaf.ro's registries take one request per second (ANAF's documented pace).
    pub(crate) fn paced_per_second(self) -> bool {
        matches!(self, Endpoint::VatRegistry | Endpoint::EfacturaRegister)
    }

    /// Maps a matched route template back to its endpoint.
    pub(crate) fn from_route(template: &str) -> Option<Endpoint> {
        use Endpoint::*;
        let endpoint = match template {
            "/anaf-oauth2/v1/authorize" => OauthAuthorize,
            "/anaf-oauth2/v1/token" => OauthToken,
            "/anaf-oauth2/v1/revoke" => OauthRevoke,
            "/{env}/FCTEL/rest/upload" => EfacturaUpload,
            "/{env}/FCTEL/rest/uploadb2c" => EfacturaUploadB2c,
            "/{env}/FCTEL/rest/stareMesaj" => EfacturaStatus,
            "/{env}/FCTEL/rest/listaMesajeFactura" => EfacturaList,
            "/{env}/FCTEL/rest/listaMesajePaginatieFactura" => EfacturaListPaged,
            "/{env}/FCTEL/rest/descarcare" => EfacturaDownload,
            "/{env}/FCTEL/rest/validare/{standard}" => EfacturaValidate,
            "/{env}/FCTEL/rest/transformare/{standard}" | "/{env}/FCTEL/rest/transformare/{standard}/{novld}" => {
                EfacturaToPdf
            }
            "/api/validate/signature" => EfacturaVerifySignature,
            "/{env}/ETRANSPORT/ws/v1/upload/{standard}/{cif}"
            | "/{env}/ETRANSPORT/ws/v1/upload/{standard}/{cif}/{version}" => EtransportUpload,
            "/{env}/ETRANSPORT/ws/v1/stareMesaj/{id}" => EtransportStatus,
            "/{env}/ETRANSPORT/ws/v1/lista/{days}/{cif}" => EtransportList,
            "/{env}/ETRANSPORT/ws/v1/info" => EtransportInfo,
            "/{env}/ETRANSPORT/ws/v1/descarcare/{id}" => EtransportDownload,
            "/TestOauth/jaxrs/hello" => Hello,
            "/api/PlatitorTvaRest/v9/tva" => VatRegistry,
            "/api/registruroefactura/v1/interogare" => EfacturaRegister,
            _ => return None,
        };
        Some(endpoint)
    }
}
