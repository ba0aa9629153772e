//! Request plumbing shared by every route: the JSON extractor that turns
//! rejections into the service error, the per-IP limiter, bearer
//! authentication with the per-principal limiter, and the request timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AppState;
use super::auth::{self, Principal};
use super::error::Error;

/// `axum::Json`, but rejections become `Error` (400/413/415/422 JSON bodies).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Query` with rejections as `Error`.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Path` with rejections as `Error`.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The authenticated caller, put in the request by [`authenticate`].
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(Error::Unauthorized)
    }
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Per-IP token bucket, before any database work.
pub async fn limit_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.limits.check_ip(client_ip(&req)) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Resolves `Authorization: Bearer ...` to a [`Principal`], then takes a
/// token from that principal's bucket.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = match token {
        Some(token) => auth::authenticate(&state.db, token).await,
        None => Err(Error::Unauthorized),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => {
            let mut response = e.into_response();
            if response.status() == axum::http::StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            return response;
        }
    };
    if let Err(e) = state.limits.check_principal(&principal.id) {
        return e.into_response();
    }
    let id = super::access_log::PrincipalId(principal.id.clone());
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(id);
    response
}

/// Answers 408 when a request takes longer than the configured time.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = Duration::from_secs(state.config.http.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout.into_response(),
    }
}

/// Unknown routes.
pub async fn not_found() -> Error {
    Error::NotFound("route".into())
}

/// Known routes, wrong method.
pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
