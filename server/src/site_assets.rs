//! The portal's script, WASM and stylesheet under `/pkg`, as scripts/build.sh compressed them
//! once (a file without its `.br`/`.gz`, from a site built another way, is sent as it is).
//!
//! The build names their contents: `pkg/hash.txt` holds a digest of the three, and pages link
//! them as `/pkg/<digest>/…`. Such a path never changes meaning, so browsers keep it for a year
//! without asking again; a new build's pages link a new path, so no cache can pair a page with a
//! script of another build. Without the file they are linked as `/pkg/…` and revalidated on
//! every load; an old build's path (a page open across a deploy) is a 404, not a new file.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeDir;

/// Where the build writes the digest, under the site root.
pub const DIGEST_FILE: &str = "pkg/hash.txt";

/// A year, the most RFC 9111 caches honour; `immutable` spares even a reload's revalidation.
const KEPT_FOR_GOOD: &str = "public, max-age=31536000, immutable";

/// The digest of the site's files, when the build wrote one (lowercase hex, 8 to 64 digits).
pub fn digest(site_root: &str) -> Option<String> {
    let text = std::fs::read_to_string(Path::new(site_root).join(DIGEST_FILE)).ok()?;
    let digest = text.trim().to_ascii_lowercase();
    ((8..=64).contains(&digest.len()) && digest.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then_some(digest)
}

/// The directory pages link the files in, relative to the site's root (Leptos' `site_pkg_dir`).
pub fn pkg_dir(digest: Option<&str>) -> String {
    match digest {
        Some(digest) => format!("pkg/{digest}"),
        None => "pkg".to_owned(),
    }
}

/// The service to nest at `/pkg`.
pub fn service(site_root: &str, digest: Option<String>) -> Router {
    let files = ServeDir::new(Path::new(site_root).join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(move |request, next| {
            by_digest(digest.clone(), request, next)
        }))
}

/// `/<digest>/file` is `file`, kept for good once found.
async fn by_digest(digest: Option<String>, mut request: Request, next: Next) -> Response {
    let Some(file) = digest.as_deref().and_then(|digest| {
        request
            .uri()
            .path()
            .strip_prefix('/')?
            .strip_prefix(digest)?
            .strip_prefix('/')
            .map(str::to_owned)
    }) else {
        return next.run(request).await;
    };
    match Uri::try_from(format!("/{file}")) {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    }
    let mut response = next.run(request).await;
    if response.status() == StatusCode::OK || response.status() == StatusCode::NOT_MODIFIED {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(KEPT_FOR_GOOD),
        );
    }
    response
}
