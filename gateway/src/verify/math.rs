//! The maths check: a final answer is present and well-formed, and the arithmetic steps written
//! in the answer (`3 * 4 = 12`, `<<3*4=12>>`) re-check. A tokenizer and a small recursive-descent
//! evaluator: no regex, linear in the answer's length.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(f64),
    Op(char),
    Open,
    Close,
    Equals,
    /// Words, punctuation, line breaks: they end an expression.
    Other,
}

/// Whether the answer reads as a worked maths answer: a `####` final line, a written step
/// (`a op b = c`), or, for a question with a number in it, an operation (`a op b`) cut short.
pub fn is_math(question: &str, answer: &str) -> bool {
    if answer.contains("####") {
        return true;
    }
    let tokens = tokens(answer);
    steps(&tokens).next().is_some()
        || (!numbers(question).is_empty()
            && tokens
                .windows(3)
                .any(|w| matches!(w, [Token::Number(_), Token::Op(_), Token::Number(_)])))
}

/// What is wrong with a worked maths answer, or `None` when its final answer is there and
/// well-formed and every written step re-checks.
pub fn check(question: &str, answer: &str) -> Option<String> {
    let Some(value) = final_answer(answer) else {
        return Some("no final answer".into());
    };
    let tokens = tokens(answer);
    for (expression, stated) in steps(&tokens) {
        let Some(computed) = evaluate(expression) else {
            continue;
        };
        // A whole count rounded from a division (buses, boxes) is not a slip.
        let rounded =
            stated.fract() == 0.0 && (computed.floor() == stated || computed.ceil() == stated);
        if !close(computed, stated) && !rounded {
            return Some(format!(
                "a step does not re-check: {} = {} (it is {})",
                show(expression),
                trim(stated),
                trim(computed)
            ));
        }
    }
    // A question in whole numbers (people, items, dollars) rarely has a fractional answer.
    let whole = |number: &f64| number.fract().abs() < 1e-9;
    if !whole(&value) && numbers(question).iter().all(whole) && !question.contains('%') {
        return Some(format!(
            "the final answer {} is not a whole number, as every number in the question is",
            trim(value)
        ));
    }
    None
}

/// The share of the question's distinct numbers the answer never mentions: a worked answer
/// that leaves given quantities unused has often misread the question.
pub fn unused_share(question: &str, answer: &str) -> f32 {
    let mut given = numbers(question);
    given.sort_by(f64::total_cmp);
    given.dedup();
    if given.is_empty() {
        return 0.0;
    }
    let used = numbers(answer);
    let unused = given
        .iter()
        .filter(|number| !used.iter().any(|u| close(*u, **number)))
        .count();
    unused as f32 / given.len() as f32
}

/// Whether a worked answer qualifies itself: words of an answer that met a result that does
/// not add up ("however, that is not possible", "approximately 3.33 buses"). Of the published
/// cheap GSM8K answers of `dev.jsonl`, 32 of the 44 that do needed the strong model (195 of 660
/// overall). The phrases were read off those answers: a soft signal, not a check.
pub fn second_thoughts(answer: &str) -> bool {
    const PHRASES: [&str; 8] = [
        "however",
        "approximately",
        "not possible",
        "cannot",
        "can't",
        "actually",
        "mistake",
        "assum",
    ];
    let lower = answer.to_lowercase().replace('\u{2019}', "'");
    PHRASES.iter().any(|phrase| lower.contains(phrase))
}

/// The number after the last `####`, else after the last "answer is", else none.
fn final_answer(answer: &str) -> Option<f64> {
    let lower = answer.to_lowercase();
    let after = |marker: &str| {
        lower.rfind(marker).map(|at| {
            let rest = &lower[at + marker.len()..];
            leading_number(rest)
        })
    };
    match after("####") {
        Some(found) => found,
        None => after("answer is").flatten(),
    }
}

/// The number a text starts with, after spaces, colons and a currency sign.
fn leading_number(text: &str) -> Option<f64> {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == '$');
    match tokens(text).first() {
        Some(Token::Number(value)) => Some(*value),
        Some(Token::Op('-')) => match tokens(text[1..].trim_start()).first() {
            Some(Token::Number(value)) => Some(-value),
            _ => None,
        },
        _ => None,
    }
}

fn numbers(text: &str) -> Vec<f64> {
    tokens(text)
        .into_iter()
        .filter_map(|token| match token {
            Token::Number(value) => Some(value),
            _ => None,
        })
        .collect()
}

/// The text as tokens; numbers keep thousands separators (`1,200`) and decimals; `x` and `×`
/// between numbers multiply; `$` is skipped.
fn tokens(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit()
                        || ((bytes[i] == b',' || bytes[i] == b'.')
                            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
                {
                    i += 1;
                }
                let literal: String = text[start..i].chars().filter(|c| *c != ',').collect();
                out.push(literal.parse().map_or(Token::Other, Token::Number));
                continue;
            }
            b'+' | b'-' | b'*' | b'/' => out.push(Token::Op(c as char)),
            b'x' | b'X'
                if matches!(out.last(), Some(Token::Number(_) | Token::Close))
                    && !bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) =>
            {
                out.push(Token::Op('*'))
            }
            b'(' => out.push(Token::Open),
            b')' => out.push(Token::Close),
            b'=' => out.push(Token::Equals),
            b'<' | b'>' => out.push(Token::Other),
            b' ' | b'\t' | b'$' => {}
            // Past ASCII: a whole character at a time, so `i` stays on a character boundary.
            0x80.. => {
                let character = text[i..].chars().next().unwrap_or(' ');
                match character {
                    '×' => out.push(Token::Op('*')),
                    '÷' => out.push(Token::Op('/')),
                    _ if out.last() != Some(&Token::Other) => out.push(Token::Other),
                    _ => {}
                }
                i += character.len_utf8();
                continue;
            }
            _ => {
                if out.last() != Some(&Token::Other) {
                    out.push(Token::Other);
                }
            }
        }
        i += 1;
    }
    out
}

/// Each `expression = number` written in the answer, with an operator in the expression.
fn steps(tokens: &[Token]) -> impl Iterator<Item = (&[Token], f64)> {
    tokens.iter().enumerate().filter_map(move |(at, token)| {
        if *token != Token::Equals {
            return None;
        }
        let stated = match tokens.get(at + 1..at + 3) {
            Some([Token::Op('-'), Token::Number(value)]) => -value,
            _ => match tokens.get(at + 1) {
                Some(Token::Number(value)) => *value,
                _ => return None,
            },
        };
        let start = tokens[..at]
            .iter()
            .rposition(|token| matches!(token, Token::Other | Token::Equals))
            .map_or(0, |at| at + 1);
        let mut expression = &tokens[start..at];
        // A leading operator belongs to the sentence before ("... - 3 * 4 = 12").
        while let [Token::Op(_), rest @ ..] = expression {
            expression = rest;
        }
        let has_operator = expression.iter().any(|token| matches!(token, Token::Op(_)));
        (has_operator && expression.len() <= 64).then_some((expression, stated))
    })
}

/// The value of `+ - * /` over numbers and parentheses; `None` when it is not well-formed.
fn evaluate(tokens: &[Token]) -> Option<f64> {
    let mut at = 0;
    let value = sum(tokens, &mut at, 0)?;
    (at == tokens.len() && value.is_finite()).then_some(value)
}

fn sum(tokens: &[Token], at: &mut usize, depth: usize) -> Option<f64> {
    let mut value = product(tokens, at, depth)?;
    while let Some(Token::Op(op @ ('+' | '-'))) = tokens.get(*at) {
        *at += 1;
        let rhs = product(tokens, at, depth)?;
        value = if *op == '+' { value + rhs } else { value - rhs };
    }
    Some(value)
}

fn product(tokens: &[Token], at: &mut usize, depth: usize) -> Option<f64> {
    let mut value = atom(tokens, at, depth)?;
    loop {
        match tokens.get(*at) {
            Some(Token::Op(op @ ('*' | '/'))) => {
                *at += 1;
                let rhs = atom(tokens, at, depth)?;
                value = if *op == '*' { value * rhs } else { value / rhs };
            }
            // `3(4 + 1)`
            Some(Token::Open) => value *= atom(tokens, at, depth)?,
            _ => return Some(value),
        }
    }
}

fn atom(tokens: &[Token], at: &mut usize, depth: usize) -> Option<f64> {
    // Expressions are at most 64 tokens, so this bounds the recursion as well.
    if depth > 32 {
        return None;
    }
    match tokens.get(*at)? {
        Token::Number(value) => {
            *at += 1;
            Some(*value)
        }
        Token::Op('-') => {
            *at += 1;
            atom(tokens, at, depth + 1).map(|value| -value)
        }
        Token::Open => {
            *at += 1;
            let value = sum(tokens, at, depth + 1)?;
            match tokens.get(*at) {
                Some(Token::Close) => {
                    *at += 1;
                    Some(value)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Equal up to rounding to cents, or to a millionth of the value.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.011_f64.max(1e-6 * a.abs().max(b.abs()))
}

fn trim(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{:.4}", value)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

fn show(tokens: &[Token]) -> String {
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Number(value) => out.push_str(&trim(*value)),
            Token::Op(op) => {
                out.push(' ');
                out.push(*op);
                out.push(' ');
            }
            Token::Open => out.push('('),
            Token::Close => out.push(')'),
            Token::Equals | Token::Other => {}
        }
    }
    out
}
