//! `GET /v1/openapi.json`: the OpenAPI 3.1 document, generated with `utoipa` from the path
//! attributes on the handlers. Every path in [`crate::route_paths`] must be in it (test).

use crate::persist::{CallList, CallSummary, ErrorBody};
use crate::registry::CallRecord;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

/// The document's definition (paths and schemas).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tympan server",
        description = "Live answering-machine detection over media websockets. Control routes \
                       need `Authorization: Bearer <token>`."
    ),
    paths(
        crate::healthz,
        crate::metrics::metrics,
        openapi_json,
        crate::transport::vonage::media_ws,
        crate::transport::twilio::media_ws,
        crate::transport::vonage::answer,
        crate::persist::events_ws,
        crate::persist::list_calls,
        crate::persist::get_call,
        crate::flows::register_flow,
        crate::flows::current_flow,
    ),
    components(schemas(CallRecord, CallList, CallSummary, ErrorBody, crate::flows::FlowInfo)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The document as JSON text (built once).
pub fn spec_json() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "open",
    responses((status = 200, description = "This OpenAPI document")))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        spec_json(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_route_is_documented() {
        let spec: serde_json::Value = serde_json::from_str(spec_json()).unwrap();
        let paths = spec["paths"].as_object().expect("paths in the spec");
        let routes = crate::route_paths();
        assert!(routes.len() >= 9, "{routes:?}");
        for r in &routes {
            assert!(
                paths.contains_key(*r),
                "route {r} is not in /v1/openapi.json"
            );
        }
        // And nothing documented that is not served.
        for p in paths.keys() {
            assert!(
                routes.contains(&p.as_str()),
                "{p} documented but not routed"
            );
        }
        assert!(spec["paths"]["/v1/vonage/answer"]["post"].is_object());
        assert!(spec["paths"]["/v1/vonage/answer"]["get"].is_object());
        assert!(spec["components"]["schemas"]["CallRecord"].is_object());
        assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    }
}
