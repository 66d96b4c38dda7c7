//! The OData-style `$filter` subset Acumatica's contract-based REST API documents [AC6]:
//! `eq ne gt ge lt le`, `and`, `or`, `not`, parentheses, `substringof('x', F)`,
//! `startswith(F,'x')`, `endswith(F,'x')`, linked paths (`MainContact/Email`), custom fields
//! (`cf.String(f='Document.UsrExtRef')`) and `datetimeoffset'...'` literals. Filtering on detail
//! (array) fields is rejected: Acumatica documents it as unsupported with unpredictable results.

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    DateTime(String),
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone)]
pub enum Operand {
    Path(Vec<String>),
    Custom(String, String),
    Str(String),
    Num(Decimal),
    Bool(bool),
    Null,
    DateTime(DateTime<FixedOffset>),
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, String, Operand),
    Func(String, Operand, Operand),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if ch == '\'' {
            let (lit, next) = read_quoted(&c, i)?;
            out.push(Tok::Str(lit));
            i = next;
        } else if ch.is_ascii_digit() || (ch == '-' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(c[start..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || matches!(c[i], '_' | '/' | '.')) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            if (lower == "datetimeoffset" || lower == "datetime") && c.get(i) == Some(&'\'') {
                let (lit, next) = read_quoted(&c, i)?;
                out.push(Tok::DateTime(lit));
                i = next;
            } else if lower == "guid" && c.get(i) == Some(&'\'') {
                let (lit, next) = read_quoted(&c, i)?;
                out.push(Tok::Str(lit));
                i = next;
            } else {
                out.push(Tok::Ident(word));
            }
        } else {
            return Err(format!("unexpected character '{ch}' in $filter"));
        }
    }
    Ok(out)
}

fn read_quoted(c: &[char], start: usize) -> Result<(String, usize), String> {
    let mut i = start + 1;
    let mut s = String::new();
    while i < c.len() {
        if c[i] == '\'' {
            if c.get(i + 1) == Some(&'\'') {
                s.push('\'');
                i += 2;
                continue;
            }
            return Ok((s, i + 1));
        }
        s.push(c[i]);
        i += 1;
    }
    Err("unterminated string literal in $filter".into())
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?} in $filter, found {other:?}")),
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.peek_kw("or") {
            self.pos += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        while self.peek_kw("and") {
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_kw("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        if let Some(Tok::Ident(w)) = self.peek().cloned() {
            let lw = w.to_ascii_lowercase();
            if matches!(lw.as_str(), "substringof" | "startswith" | "endswith")
                && self.toks.get(self.pos + 1) == Some(&Tok::LParen)
            {
                self.pos += 2;
                let a = self.operand()?;
                self.expect(Tok::Comma)?;
                let b = self.operand()?;
                self.expect(Tok::RParen)?;
                return Ok(Expr::Func(lw, a, b));
            }
        }
        let l = self.operand()?;
        let op = match self.next() {
            Some(Tok::Ident(o))
                if matches!(o.to_ascii_lowercase().as_str(), "eq" | "ne" | "gt" | "ge" | "lt" | "le") =>
            {
                o.to_ascii_lowercase()
            }
            other => return Err(format!("expected a comparison operator in $filter, found {other:?}")),
        };
        let r = self.operand()?;
        Ok(Expr::Cmp(l, op, r))
    }
    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Str(s)),
            Some(Tok::Num(n)) => {
                Decimal::from_str(&n).map(Operand::Num).map_err(|_| format!("bad number '{n}' in $filter"))
            }
            Some(Tok::DateTime(d)) => {
                parse_dt(&d).map(Operand::DateTime).ok_or_else(|| format!("bad datetime literal '{d}' in $filter"))
            }
            Some(Tok::Ident(w)) => {
                let lw = w.to_ascii_lowercase();
                match lw.as_str() {
                    "true" => return Ok(Operand::Bool(true)),
                    "false" => return Ok(Operand::Bool(false)),
                    "null" => return Ok(Operand::Null),
                    _ => {}
                }
                if lw.starts_with("cf.") && self.peek() == Some(&Tok::LParen) {
                    // cf.String(f='Document.UsrExtRef')
                    self.pos += 1;
                    let f = match self.next() {
                        Some(Tok::Ident(f)) if f.eq_ignore_ascii_case("f") => f,
                        other => return Err(format!("expected f= in custom field, found {other:?}")),
                    };
                    let _ = f;
                    // The tokenizer reads `f='...'` as Ident("f") then '=' is not a token;
                    // accept both `f='x'` (with '=' consumed below) and `f,'x'`.
                    let lit = match self.next() {
                        Some(Tok::Str(s)) => s,
                        other => return Err(format!("expected quoted field in custom field, found {other:?}")),
                    };
                    self.expect(Tok::RParen)?;
                    let (view, field) =
                        lit.split_once('.').ok_or_else(|| format!("custom field '{lit}' must be View.Field"))?;
                    return Ok(Operand::Custom(view.to_string(), field.to_string()));
                }
                Ok(Operand::Path(w.split('/').map(str::to_string).collect()))
            }
            other => Err(format!("unexpected token {other:?} in $filter")),
        }
    }
}

pub fn parse_dt(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc().fixed_offset());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc().fixed_offset())
}

/// Parse a `$filter` expression.
pub fn parse(filter: &str) -> Result<Expr, String> {
    // `f='x'` inside cf.*(...) — drop the '=' so the tokenizer stays simple.
    let cleaned = filter.replace("f='", "f '").replace("f ='", "f '");
    let toks = tokenize(&cleaned)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected trailing tokens in $filter at {:?}", p.peek()));
    }
    Ok(e)
}

/// Resolve an operand against a wrapped entity. Errors on detail (array) paths.
fn resolve(entity: &Value, op: &Operand) -> Result<Option<Value>, String> {
    match op {
        Operand::Path(p) => {
            let mut cur = entity;
            for seg in p {
                let next =
                    cur.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(seg)).map(|(_, v)| v));
                match next {
                    Some(Value::Array(_)) => {
                        return Err(format!("Filtering on detail entity fields ('{}') is not supported.", p.join("/")))
                    }
                    Some(v) => cur = v,
                    None => return Ok(None),
                }
            }
            Ok(match cur {
                Value::Object(o) if o.contains_key("value") => o.get("value").cloned(),
                Value::Object(_) => None,
                v => Some(v.clone()),
            })
        }
        Operand::Custom(view, field) => Ok(entity
            .get("custom")
            .and_then(|c| c.get(view))
            .and_then(|v| v.get(field))
            .and_then(|f| f.get("value"))
            .cloned()),
        Operand::Str(s) => Ok(Some(Value::String(s.clone()))),
        Operand::Num(n) => Ok(Some(crate::core::num(*n))),
        Operand::Bool(b) => Ok(Some(Value::Bool(*b))),
        Operand::Null => Ok(Some(Value::Null)),
        Operand::DateTime(d) => Ok(Some(Value::String(d.to_rfc3339()))),
    }
}

fn compare(a: &Value, b: &Value, dt_hint: bool) -> Option<Ordering> {
    if dt_hint {
        if let (Value::String(x), Value::String(y)) = (a, b) {
            if let (Some(x), Some(y)) = (parse_dt(x), parse_dt(y)) {
                return Some(x.cmp(&y));
            }
        }
    }
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        _ => {
            let x = crate::core::parse_decimal(a)?;
            let y = crate::core::parse_decimal(b)?;
            Some(x.cmp(&y))
        }
    }
}

/// Does `entity` satisfy `e`?
pub fn eval(e: &Expr, entity: &Value) -> Result<bool, String> {
    Ok(match e {
        Expr::And(a, b) => eval(a, entity)? && eval(b, entity)?,
        Expr::Or(a, b) => eval(a, entity)? || eval(b, entity)?,
        Expr::Not(a) => !eval(a, entity)?,
        Expr::Func(f, a, b) => {
            let a = resolve(entity, a)?;
            let b = resolve(entity, b)?;
            let s = |v: Option<Value>| match v {
                Some(Value::String(s)) => Some(s.to_lowercase()),
                _ => None,
            };
            match (f.as_str(), s(a), s(b)) {
                ("substringof", Some(needle), Some(hay)) => hay.contains(&needle),
                ("startswith", Some(hay), Some(p)) => hay.starts_with(&p),
                ("endswith", Some(hay), Some(p)) => hay.ends_with(&p),
                _ => false,
            }
        }
        Expr::Cmp(l, op, r) => {
            let dt_hint = matches!(l, Operand::DateTime(_)) || matches!(r, Operand::DateTime(_));
            let lv = resolve(entity, l)?.unwrap_or(Value::Null);
            let rv = resolve(entity, r)?.unwrap_or(Value::Null);
            let ord = compare(&lv, &rv, dt_hint);
            match (op.as_str(), ord) {
                ("eq", Some(o)) => o == Ordering::Equal,
                ("ne", Some(o)) => o != Ordering::Equal,
                ("ne", None) => true,
                ("gt", Some(o)) => o == Ordering::Greater,
                ("ge", Some(o)) => o != Ordering::Less,
                ("lt", Some(o)) => o == Ordering::Less,
                ("le", Some(o)) => o != Ordering::Greater,
                _ => false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn so() -> Value {
        json!({
            "OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000120"},
            "CustomerOrder": {"value": "SC-5500001"},
            "LastModified": {"value": "2024-05-01T10:31:28.402-04:00"},
            "OrderTotal": {"value": 48.18},
            "MainContact": {"Email": {"value": "Ann@Example.com"}},
            "custom": {"Document": {"UsrExtRef": {"type": "CustomStringField", "value": "X1"}}},
            "Details": [{"InventoryID": {"value": "A"}}],
        })
    }

    fn m(f: &str) -> Result<bool, String> {
        eval(&parse(f)?, &so())
    }

    #[test]
    fn documented_operators_and_functions_evaluate() {
        assert!(m("CustomerOrder eq 'SC-5500001'").unwrap());
        assert!(m("OrderType eq 'SO' and OrderNbr gt 'SO000100'").unwrap());
        assert!(!m("OrderNbr gt 'SO000120'").unwrap());
        assert!(m("MainContact/Email eq 'ann@example.com'").unwrap());
        assert!(m("substringof('5500', CustomerOrder)").unwrap());
        assert!(m("startswith(CustomerOrder,'SC-')").unwrap());
        assert!(m("not endswith(CustomerOrder,'9')").unwrap());
        assert!(m("OrderTotal ge 48.18 and OrderTotal lt 50").unwrap());
        assert!(m("LastModified gt datetimeoffset'2024-05-01T10:31:28+00:00'").unwrap());
        assert!(!m("LastModified gt datetimeoffset'2024-05-01T15:00:00+00:00'").unwrap());
        assert!(m("cf.String(f='Document.UsrExtRef') eq 'X1'").unwrap());
        assert!(m("(CustomerOrder eq 'nope' or OrderNbr eq 'SO000120')").unwrap());
    }

    #[test]
    fn detail_field_filters_and_garbage_are_errors() {
        assert!(m("Details/InventoryID eq 'A'").is_err());
        assert!(parse("CustomerOrder eq").is_err());
        assert!(parse("CustomerOrder ~ 'x'").is_err());
        assert!(parse("CustomerOrder eq 'unterminated").is_err());
    }
}
