use super::*;

#[test]
fn auth_errors_are_401_in_openai_shape() {
    for err in [
        AuthError::Missing,
        AuthError::Malformed,
        AuthError::Unknown,
        AuthError::Revoked,
    ] {
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::UNAUTHORIZED);
        assert_eq!(api.body.error.kind, "invalid_request_error");
        assert!(api.body.error.code.is_some());
    }
    assert_eq!(
        ApiError::from(AuthError::Lookup("db down".into())).status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[test]
fn upstream_rate_limit_keeps_status_and_retry_after() {
    let api = ApiError::from(UpstreamError::Status {
        provider: "openai",
        status: StatusCode::TOO_MANY_REQUESTS,
        message: "slow down".into(),
        kind: None,
        code: Some("rate_limit_exceeded".into()),
        retry_after: Some(HeaderValue::from_static("7")),
    });
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(api.body.error.kind, "rate_limit_error");
    assert_eq!(api.retry_after.unwrap(), "7");
    let json = serde_json::to_value(&api.body).unwrap();
    assert_eq!(json["error"]["message"], "openai: slow down");
    assert!(json["error"].as_object().unwrap().contains_key("param"));
}

#[test]
fn upstream_server_errors_become_bad_gateway() {
    let api = ApiError::from(UpstreamError::Status {
        provider: "openai",
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "overloaded".into(),
        kind: Some("server_error".into()),
        code: None,
        retry_after: None,
    });
    assert_eq!(api.status, StatusCode::BAD_GATEWAY);
    assert!(
        api.body.error.message.contains("503"),
        "{}",
        api.body.error.message
    );
}

#[tokio::test]
async fn errors_take_the_shape_of_their_route_where_they_are_made() {
    let error = || {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            "Slow down.".to_owned(),
        )
    };
    let body = |response: Response| async move {
        assert!(response.extensions().get::<ShapedError>().is_some());
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let anthropic = ErrorShape::Anthropic
        .scope(async { error().into_response() })
        .await;
    assert_eq!(
        body(anthropic).await,
        serde_json::json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down."}})
    );
    let openai = body(error().into_response()).await;
    assert_eq!(openai["error"]["code"], "rate_limit_exceeded");
}
