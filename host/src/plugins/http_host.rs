//! The host side of `wasi:http/outgoing-handler`: every request a plugin sends goes to the
//! call's [`CallHttp`] (its manifest's destinations, the host-attached credential, the SSRF-safe
//! connector and the call's limits). A plugin without an `[http]` grant gets a handler that
//! refuses every request, with the reason.

use std::future::Future;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as WasiError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::outbound::{CallHttp, OutboundError};

/// The per-call HTTP hooks in a plugin's store.
#[derive(Default)]
pub(crate) struct HttpHooks {
    pub(crate) call: Option<CallHttp>,
}

type IoFuture = Box<dyn Future<Output = Result<(), WasiError>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), WasiError>> + Send>;

/// What the plugin receives for a failed request: the reason as text where the error code
/// carries one.
fn to_wasi(e: OutboundError) -> WasiError {
    match e {
        OutboundError::TooLarge(kb) => WasiError::HttpResponseBodySize(Some(kb.saturating_mul(1024))),
        OutboundError::Dns { host, reason } => {
            WasiError::DnsError { rcode: Some(format!("{host}: {reason}")), info_code: None }
        }
        OutboundError::Connect(_) => WasiError::ConnectionRefused,
        other => WasiError::InternalError(Some(other.to_string())),
    }
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let call = self.call.clone();
        Box::new(async move {
            let Some(call) = call else {
                return Err(WasiError::InternalError(Some(
                    "refused by Warden: this plugin's manifest declares no [http.destinations], so it may not \
                     send HTTP requests"
                        .into(),
                )));
            };
            let response = call.send(request).await.map_err(to_wasi)?;
            let response = response.map(|body| body.map_err(to_wasi).boxed_unsync());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
