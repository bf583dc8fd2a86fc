//! `page` (1-based) and `per_page` (default 25, max 100), as API.md's lists take
//! them, and the list answer `{"items", "total", "page", "per_page"}`.

use serde::Serialize;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
}

impl Paging {
    /// Reads the two query parameters; anything but a whole number in range is
    /// a 400 naming the parameter.
    pub fn from_query(page: Option<&str>, per_page: Option<&str>) -> Result<Paging, ApiError> {
        let parse = |v: Option<&str>, field: &str, default: i64, max: i64| match v {
            None | Some("") => Ok(default),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    field,
                    "invalid_paging",
                    format!("Use a whole number from 1 to {max}."),
                )),
            },
        };
        Ok(Paging {
            page: parse(page, "page", 1, 1_000_000)?,
            per_page: parse(per_page, "per_page", 25, 100)?,
        })
    }

    /// The page's `LIMIT` and `OFFSET` as numbers.
    pub fn limit_offset(&self) -> (i64, i64) {
        (self.per_page, (self.page - 1) * self.per_page)
    }

    /// `LIMIT n OFFSET m`, written into the statement's text. Never bind
    /// them: SQLite (3.50 here) plans with a bound LIMIT's value, and so
    /// marks the statement to be compiled again whenever that parameter is
    /// bound, which is every run of a cached statement (a tenth of the host's
    /// CPU on the requests list; docs/PERFORMANCE.md). Both are integers
    /// checked by `from_query`, so nothing can be injected.
    pub fn sql_limit(&self) -> String {
        let (limit, offset) = self.limit_offset();
        format!("LIMIT {limit} OFFSET {offset}")
    }

    /// The list answer.
    pub fn list<T: Serialize>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            total,
            page: self.page,
            per_page: self.per_page,
        }
    }

    /// The list answer, for items that are JSON texts already.
    pub fn json_list(&self, items: Vec<String>, total: i64) -> JsonPage {
        JsonPage {
            items,
            total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A page whose items are JSON texts already: list rows SQLite wrote with
/// `json_object`, which only ever writes valid JSON. An item may also be
/// several rows already joined with `,` (a list's whole page, as SQLite's
/// `group_concat` hands it over). Its body is written
/// around them as [`Page`] would serialize it, without parsing them again
/// (checking a 13 KB page of rows was 4% of the host's CPU per "my
/// requests" answer; docs/PERFORMANCE.md).
#[derive(Debug)]
pub struct JsonPage {
    pub items: Vec<String>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl JsonPage {
    /// The answer's body: the bytes `Page` serializes to.
    pub fn to_json(&self) -> Vec<u8> {
        let rows: usize = self.items.iter().map(|i| i.len() + 1).sum();
        let mut out = Vec::with_capacity(rows + 64);
        out.extend_from_slice(b"{\"items\":[");
        for (n, item) in self.items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item.as_bytes());
        }
        let tail = format!(
            "],\"total\":{},\"page\":{},\"per_page\":{}}}",
            self.total, self.page, self.per_page
        );
        out.extend_from_slice(tail.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let p = Paging::from_query(None, None).unwrap_or(Paging {
            page: 0,
            per_page: 0,
        });
        assert_eq!((p.page, p.per_page), (1, 25));
        let p = Paging::from_query(Some("3"), Some("10")).unwrap_or(p);
        assert_eq!(p.sql_limit(), "LIMIT 10 OFFSET 20");
        for (page, per) in [("0", "10"), ("1", "101"), ("x", "1"), ("1", "-1")] {
            assert!(
                Paging::from_query(Some(page), Some(per)).is_err(),
                "{page} {per}"
            );
        }
    }

    #[test]
    fn a_json_page_is_the_page_serialized() {
        let rows = [
            r#"{"a":"x \"quoted\" <b>","n":null,"o":{"k":[1,2]}}"#,
            r#"{"a":"été 😀\n","n":3}"#,
        ];
        let paging = Paging {
            page: 2,
            per_page: 10,
        };
        for items in [&rows[..0], &rows[..1], &rows[..]] {
            let texts: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
            let values: Vec<serde_json::Value> = items
                .iter()
                .map(|s| serde_json::from_str(s).unwrap_or_default())
                .collect();
            let expected = serde_json::to_vec(&paging.list(values, 47)).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&paging.json_list(texts, 47).to_json()),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
