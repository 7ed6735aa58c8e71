//! Query strings: [`ApiQuery`] reads one into `T` and, when it does not parse, answers a 400
//! problem whose detail names the parameter and what it expected, as a sentence. serde names the
//! field only for missing and unknown ones, so for a value that does not parse the parameter is
//! found by leaving each one out in turn: the one whose absence changes the outcome is it.

use super::ApiError;
use crate::error::AppError;
use actix_web::error::QueryPayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use std::future::{Ready, ready};

/// At most this many parameters are searched for the one that failed; beyond, the detail says
/// what failed without naming it (a query string that long is no client's honest mistake).
const SEARCHED_PARAMETERS: usize = 32;
/// Names and values quoted back are cut to this many characters.
const QUOTED_CHARS: usize = 40;

/// A query string read into `T`, for API handlers (see the module's comment). Extracting it never
/// fails: the handler takes the result with [`ApiQuery::into_inner`] after checking the key, so an
/// unauthenticated request is answered 401 whatever its query string (actix resolves extractors
/// concurrently, and a ready error would otherwise win over the key's database look-up).
pub struct ApiQuery<T>(Result<T, AppError>);

impl<T> ApiQuery<T> {
    /// The parsed query, or the 400 that names the parameter.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0.map_err(ApiError)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(ApiQuery(parse::<T>(req.query_string()))))
    }
}

/// `query` read into `T`, or a 400 naming the parameter that does not parse.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let message = match attempt::<T>(query) {
        Ok(value) => return Ok(value),
        Err(message) => message,
    };
    let name = serde_field(&message).or_else(|| culprit::<T>(query, &message));
    let value = name.as_deref().and_then(|n| value_of(query, n));
    Err(AppError::BadRequest(sentence(
        name.as_deref(),
        value.as_deref(),
        &message,
    )))
}

fn attempt<T: DeserializeOwned>(query: &str) -> Result<T, String> {
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|e| match e {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        })
}

/// The name serde put in its message (`missing field `email``, `unknown field `x`, expected …`).
fn serde_field(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// The parameter whose absence lets `T` parse, or changes the error.
fn culprit<T: DeserializeOwned>(query: &str, message: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if pairs.len() > SEARCHED_PARAMETERS {
        return None;
    }
    (0..pairs.len()).find_map(|skip| {
        let rest: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                pairs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, p)| p),
            )
            .finish();
        match attempt::<T>(&rest) {
            Err(m) if m == message => None,
            _ => Some(pairs[skip].0.clone()),
        }
    })
}

fn value_of(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn cut(text: &str) -> String {
    let mut out: String = text.chars().take(QUOTED_CHARS).collect();
    if text.chars().count() > QUOTED_CHARS {
        out.push('…');
    }
    out
}

/// What the value should have been, from serde's or the parser's message.
fn expected(message: &str) -> Option<&'static str> {
    Some(match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            "a whole number"
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            "a whole number in range"
        }
        "provided string was not `true` or `false`" => "true or false",
        "input contains invalid characters"
        | "premature end of input"
        | "trailing input"
        | "input is out of range"
        | "input is not enough for unique date and time"
        | "no possible date and time matching input"
        | "bad or unsupported format string" => {
            "a time in RFC 3339 form, e.g. 2026-11-27T07:30:00Z"
        }
        _ => return None,
    })
}

/// The problem's detail, as a sentence that quotes at most [`QUOTED_CHARS`] of anything sent.
fn sentence(name: Option<&str>, value: Option<&str>, message: &str) -> String {
    let Some(name) = name.map(cut) else {
        return match expected(message) {
            Some(what) => format!("The query string does not parse: a parameter should be {what}."),
            None => "The query string does not parse.".to_owned(),
        };
    };
    if message.starts_with("missing field") {
        return format!("The query parameter `{name}` is required.");
    }
    if message.starts_with("unknown field") {
        return format!("This operation takes no query parameter `{name}`.");
    }
    if message.starts_with("duplicate field") {
        return format!("The query parameter `{name}` is given more than once.");
    }
    let sent = value
        .map(|v| format!(", not \"{}\"", cut(v)))
        .unwrap_or_default();
    match expected(message) {
        Some(what) => format!("The query parameter `{name}` should be {what}{sent}."),
        // serde's own words (e.g. the variants an enum allows) still say what was expected, but
        // may quote the value whole: only the start is kept.
        None => format!(
            "The query parameter `{name}` does not parse{sent}: {}.",
            cut(message.trim_end_matches('.'))
        ),
    }
}

/// For `web::Query` extractors left outside [`ApiQuery`]: the same sentence, naming the
/// parameter when serde did.
pub fn config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, req: &HttpRequest| {
        let message = match err {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        let name = serde_field(&message);
        let value = name
            .as_deref()
            .and_then(|n| value_of(req.query_string(), n));
        ApiError(AppError::BadRequest(sentence(
            name.as_deref(),
            value.as_deref(),
            &message,
        )))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        email: Option<String>,
        limit: Option<u32>,
        after: Option<String>,
        dry_run: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Required {
        id: u32,
    }

    fn detail<T: DeserializeOwned + std::fmt::Debug>(query: &str) -> String {
        match parse::<T>(query) {
            Err(AppError::BadRequest(d)) => d,
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn names_the_parameter_and_what_it_expected() {
        assert_eq!(
            detail::<Q>("email=a%40b.c&limit=abc&after=x"),
            "The query parameter `limit` should be a whole number, not \"abc\"."
        );
        assert_eq!(
            detail::<Q>("limit=99999999999"),
            "The query parameter `limit` should be a whole number in range, not \"99999999999\"."
        );
        assert_eq!(
            detail::<Q>("dry_run=maybe"),
            "The query parameter `dry_run` should be true or false, not \"maybe\"."
        );
        assert_eq!(
            detail::<Q>("colour=red"),
            "This operation takes no query parameter `colour`."
        );
        assert_eq!(
            detail::<Required>(""),
            "The query parameter `id` is required."
        );
        assert_eq!(
            detail::<Required>("id=x"),
            "The query parameter `id` should be a whole number, not \"x\"."
        );
        assert!(parse::<Q>("limit=5").is_ok());
    }

    #[test]
    fn never_quotes_much_of_what_was_sent() {
        let long = "9".repeat(10_000);
        let d = detail::<Q>(&format!("limit=x{long}"));
        assert!(d.len() < 200, "{d}");
        assert!(d.contains("`limit`"), "{d}");
        let name = "n".repeat(10_000);
        let d = detail::<Q>(&format!("{name}=1"));
        assert!(d.len() < 200, "{d}");
    }
}
