use serde_json::Value;

use super::*;

/// Every fixture: a request, a chat completion answering it, and the checks that must fail.
#[test]
fn the_checks_find_what_each_fixture_says() {
    for line in include_str!("fixtures.jsonl").lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let request =
            ChatCompletionRequest::from_json_bytes(case["request"].to_string().as_bytes()).unwrap();
        let answer = Answer::of_chat_body(case["answer"].to_string().as_bytes()).unwrap();
        let verdict = check(&request, &answer, &Check::ALL);
        let failed: Vec<&str> = verdict.failures.iter().map(|f| f.check.id()).collect();
        let expected: Vec<&str> = case["fails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(failed, expected, "{name}: {:?}", verdict.failures);
        assert_eq!(verdict.passed(), expected.is_empty(), "{name}");
        assert!(
            (0.0..=1.0).contains(&verdict.score),
            "{name}: {}",
            verdict.score
        );
    }
}

#[test]
fn only_the_enabled_checks_decide() {
    let request = ChatCompletionRequest::from_json_bytes(
        br#"{"model":"auto:verify","messages":[{"role":"user","content":"Essay"}]}"#,
    )
    .unwrap();
    let answer = Answer {
        text: "The history of".into(),
        finish_reason: Some("length".into()),
        tool_calls: Vec::new(),
    };
    assert_eq!(
        check(&request, &answer, &Check::ALL).header(),
        "escalated (cut_off)"
    );
    assert_eq!(check(&request, &answer, &[Check::Math]).header(), "passed");
}

#[test]
fn a_failed_check_scores_above_every_passing_answer() {
    let request = ChatCompletionRequest::from_json_bytes(
        br#"{"messages":[{"role":"user","content":"Tom has 3 apples and buys 4 more, then 5 more. How many?"}]}"#,
    )
    .unwrap();
    let long_passing = Answer::text(&format!(
        "{} 3 + 4 + 5 = 12\n#### 12",
        "Let me think. ".repeat(300)
    ));
    let failing = Answer::text("3 + 4 = 8\n#### 8");
    let passing = check(&request, &long_passing, &Check::ALL);
    let failed = check(&request, &failing, &Check::ALL);
    assert!(passing.passed() && !failed.passed());
    assert!(
        failed.score > passing.score,
        "{} vs {}",
        failed.score,
        passing.score
    );
}

#[test]
fn an_answer_with_second_thoughts_scores_higher_but_passes() {
    let request = ChatCompletionRequest::from_json_bytes(
        br#"{"messages":[{"role":"user","content":"20 people share 3 cars equally. How many per car?"}]}"#,
    )
    .unwrap();
    let plain = Answer::text("With 3 cars, 20 / 4 = 5 people per car.\n#### 5");
    let doubting = Answer::text(
        "With 3 cars, 20 / 4 = 5 people per car. However, that is not possible.\n#### 5",
    );
    let (plain, doubting) = (
        check(&request, &plain, &Check::ALL),
        check(&request, &doubting, &Check::ALL),
    );
    assert!(plain.passed() && doubting.passed());
    assert!(doubting.score > plain.score, "{doubting:?} vs {plain:?}");
    assert!(math::second_thoughts("Approximately 6.67, so 7 buses."));
    assert!(!math::second_thoughts("3 * 4 = 12\n#### 12"));
}

#[test]
fn hostile_answers_stay_cheap_and_never_panic() {
    let request = ChatCompletionRequest::from_json_bytes(
        br#"{"messages":[{"role":"user","content":"1 and 2"}]}"#,
    )
    .unwrap();
    for text in [
        "(".repeat(100_000) + "1 = 1\n#### 1",
        "1/0 = 5\n#### 5".into(),
        "9".repeat(400) + " * 9 = 1\n#### 1",
        "= = = - - - ####".into(),
        "é×÷".repeat(50_000),
        "1 + ".repeat(50_000) + "1 = 50001\n#### 50001",
    ] {
        let verdict = check(&request, &Answer::text(&text), &Check::ALL);
        assert!((0.0..=1.0).contains(&verdict.score));
    }
}
