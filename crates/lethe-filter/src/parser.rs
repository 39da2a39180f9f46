//! The text form's recursive-descent parser, producing the surface filter.
//!
//! ```text
//! filter    := ε | or_expr
//! or_expr   := and_expr ("or" and_expr)*
//! and_expr  := unary ("and" unary)*
//! unary     := "not" unary | primary
//! primary   := "(" or_expr ")"
//!            | "all"
//!            | ("exists" | "none") child ["(" or_expr ")"]
//!            | "count" "(" child ["(" or_expr ")"] ")" compare_op value
//!            | "duplicate" "(" path ["," "keep" ("oldest" | "newest")] ")"
//!            | path predicate
//! child     := name ["." name]
//! path      := name ("." name)*
//! predicate := compare_op value | ["not"] "in" "[" value ("," value)* [","] "]"
//!            | ("contains" | "starts_with") value | "is" ["not"] "null"
//! value     := string | ["-"] number | date | timestamp | "true" | "false"
//!            | ("now" | "today") [("+" | "-") amount]
//! ```
//!
//! Recursion happens only through `(`, `not` and the inner filter of `exists` and `count`,
//! and each of those counts against [`crate::MAX_DEPTH`] before recursing, so no input can
//! exhaust the stack.

use crate::ast::{CompareOp, Keep, TextOp};
use crate::error::{Located, Pos, Problem, line_and_column, quote_input};
use crate::lexer::{Tok, Token, lex};
use crate::raw::{Name, RawChild, RawExpr, RawField, RawOp, RawValue, RawValueKind};
use crate::relative::{RelativeTime, TimeBase, TimeUnit};
use crate::{MAX_CONDITIONS, MAX_DEPTH, MAX_LIST_LEN};

/// Parses the text form into the surface filter.
pub(crate) fn parse_text(text: &str) -> Result<RawExpr, Located> {
    let mut parser = Parser {
        text,
        tokens: lex(text)?,
        index: 0,
        depth: 0,
        conditions: 0,
    };
    parser.filter()
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    index: usize,
    depth: usize,
    conditions: usize,
}

fn is_keyword(tok: &Tok, keyword: &str) -> bool {
    matches!(tok, Tok::Word(word) if word.eq_ignore_ascii_case(keyword))
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, and `bump` never moves past it.
        &self.tokens[self.index.min(self.tokens.len() - 1)]
    }

    fn peek_second(&self) -> &Tok {
        &self.tokens[(self.index + 1).min(self.tokens.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::End {
            self.index += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        is_keyword(&self.peek().tok, keyword)
    }

    fn pos(&self) -> Pos {
        Pos::Offset(self.peek().start)
    }

    /// How the current token is shown in a message.
    fn found(&self) -> String {
        let token = self.peek();
        match token.tok {
            Tok::End => "end of input".to_owned(),
            _ => quote_input(&self.text[token.start..token.end]),
        }
    }

    /// `` after `=` `` for the token just consumed, or nothing at the start.
    fn after(&self) -> String {
        match self.index.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(previous) => format!(
                " after {}",
                quote_input(&self.text[previous.start..previous.end])
            ),
            None => String::new(),
        }
    }

    fn unexpected(&self, expected: String) -> Located {
        Located::new(
            self.pos(),
            Problem::Unexpected {
                expected,
                found: self.found(),
            },
        )
    }

    fn enter(&mut self, pos: Pos) -> Result<(), Located> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Located::new(pos, Problem::TooDeep { max: MAX_DEPTH }));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn condition(&mut self, pos: Pos) -> Result<(), Located> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(Located::new(
                pos,
                Problem::TooManyConditions {
                    max: MAX_CONDITIONS,
                },
            ));
        }
        Ok(())
    }

    fn filter(&mut self) -> Result<RawExpr, Located> {
        if self.peek().tok == Tok::End {
            return Ok(RawExpr::All);
        }
        let expr = self.or_expr()?;
        match self.peek().tok {
            Tok::End => Ok(expr),
            Tok::RParen => Err(Located::new(
                self.pos(),
                Problem::Unexpected {
                    expected: format!("`and`, `or` or the end of the filter{}", self.after()),
                    found: "`)` without a matching `(`".to_owned(),
                },
            )),
            _ => Err(self.unexpected(format!(
                "`and`, `or` or the end of the filter{}",
                self.after()
            ))),
        }
    }

    fn or_expr(&mut self) -> Result<RawExpr, Located> {
        let mut items = vec![self.and_expr()?];
        while self.at_keyword("or") {
            self.bump();
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            RawExpr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<RawExpr, Located> {
        let mut items = vec![self.unary()?];
        while self.at_keyword("and") {
            self.bump();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            RawExpr::And(items)
        })
    }

    fn unary(&mut self) -> Result<RawExpr, Located> {
        if self.at_keyword("not") {
            let pos = self.pos();
            self.bump();
            self.enter(pos)?;
            let inner = self.unary()?;
            self.leave();
            return Ok(RawExpr::Not(Box::new(inner)));
        }
        self.primary()
    }

    /// `(` or_expr `)`, where `(` has just been consumed at `open`.
    fn group_rest(&mut self, open: usize, closes: &str) -> Result<RawExpr, Located> {
        self.enter(Pos::Offset(open))?;
        let expr = self.or_expr()?;
        self.leave();
        if self.peek().tok != Tok::RParen {
            let (line, column) = line_and_column(self.text, open);
            return Err(self.unexpected(format!(
                "`and`, `or` or `)` to close {closes} at {line}:{column}"
            )));
        }
        self.bump();
        Ok(expr)
    }

    fn primary(&mut self) -> Result<RawExpr, Located> {
        let token = self.peek().clone();
        let Tok::Word(word) = &token.tok else {
            if token.tok == Tok::LParen {
                self.bump();
                return self.group_rest(token.start, "the `(`");
            }
            return Err(self.unexpected(format!("a condition{}", self.after())));
        };
        let keyword = word.to_ascii_lowercase();
        let next = self.peek_second().clone();
        match keyword.as_str() {
            "all"
                if matches!(next, Tok::End | Tok::RParen)
                    || is_keyword(&next, "and")
                    || is_keyword(&next, "or") =>
            {
                self.bump();
                self.condition(Pos::Offset(token.start))?;
                Ok(RawExpr::All)
            }
            "exists" | "none" => {
                self.bump();
                self.condition(Pos::Offset(token.start))?;
                let child = self.child(&keyword)?;
                let filter = self.inner_filter(&child)?;
                Ok(RawExpr::Exists {
                    child,
                    filter,
                    negated: keyword == "none",
                })
            }
            "count" if next == Tok::LParen => self.count(token.start),
            "duplicate" if next == Tok::LParen => self.duplicate(token.start),
            "and" | "or" | "in" | "is" => {
                Err(self.unexpected(format!("a condition{}", self.after())))
            }
            _ => {
                let field = self.path()?;
                self.predicate(field, token.start)
            }
        }
    }

    fn name(&mut self, what: &str) -> Result<Name, Located> {
        let token = self.peek().clone();
        match token.tok {
            Tok::Word(text) => {
                self.bump();
                Ok(Name {
                    text,
                    pos: Pos::Offset(token.start),
                })
            }
            _ => Err(self.unexpected(format!("{what}{}", self.after()))),
        }
    }

    fn path(&mut self) -> Result<RawField, Located> {
        let mut segments = vec![self.name("a field name")?];
        while self.peek().tok == Tok::Dot {
            self.bump();
            segments.push(self.name("a field name")?);
        }
        Ok(RawField { segments })
    }

    fn child(&mut self, keyword: &str) -> Result<RawChild, Located> {
        let entity = self.name(&format!(
            "the name of a child entity (e.g. `{keyword} activity`)"
        ))?;
        let column = if self.peek().tok == Tok::Dot {
            self.bump();
            Some(self.name("the child's column that refers to the parent")?)
        } else {
            None
        };
        Ok(RawChild { entity, column })
    }

    /// The optional `(filter)` after a child.
    fn inner_filter(&mut self, child: &RawChild) -> Result<Option<Box<RawExpr>>, Located> {
        let open = self.peek().start;
        if self.peek().tok != Tok::LParen {
            return Ok(None);
        }
        self.bump();
        let closes = format!("the filter on {}", child.entity.text);
        Ok(Some(Box::new(self.group_rest(open, &closes)?)))
    }

    fn count(&mut self, start: usize) -> Result<RawExpr, Located> {
        self.bump(); // count
        self.condition(Pos::Offset(start))?;
        let open = self.bump().start; // (
        let child = self.child("count(")?;
        let filter = self.inner_filter(&child)?;
        if self.peek().tok != Tok::RParen {
            let (line, column) = line_and_column(self.text, open);
            return Err(self.unexpected(format!(
                "`(` with a filter or `)` to close the `count(` at {line}:{column}"
            )));
        }
        self.bump();
        let Some(op) = self.compare_op() else {
            return Err(self.unexpected(format!(
                "a comparison (=, !=, <, <=, >, >=){}",
                self.after()
            )));
        };
        let value = self.value()?;
        Ok(RawExpr::Count {
            child,
            filter,
            op,
            value,
        })
    }

    fn duplicate(&mut self, start: usize) -> Result<RawExpr, Located> {
        self.bump(); // duplicate
        self.condition(Pos::Offset(start))?;
        self.bump(); // (
        let field = self.path()?;
        let mut keep = None;
        if self.peek().tok == Tok::Comma {
            self.bump();
            if !self.at_keyword("keep") {
                return Err(self.unexpected(format!("`keep`{}", self.after())));
            }
            self.bump();
            keep = Some(if self.at_keyword("oldest") {
                Keep::Oldest
            } else if self.at_keyword("newest") {
                Keep::Newest
            } else {
                return Err(self.unexpected(format!("`oldest` or `newest`{}", self.after())));
            });
            self.bump();
        }
        if self.peek().tok != Tok::RParen {
            let expected = if keep.is_some() {
                "`)`"
            } else {
                "`, keep oldest`, `, keep newest` or `)`"
            };
            return Err(self.unexpected(format!("{expected}{}", self.after())));
        }
        self.bump();
        Ok(RawExpr::Duplicate { field, keep })
    }

    fn compare_op(&mut self) -> Option<CompareOp> {
        let op = match self.peek().tok {
            Tok::Eq => CompareOp::Eq,
            Tok::Ne => CompareOp::Ne,
            Tok::Lt => CompareOp::Lt,
            Tok::Le => CompareOp::Le,
            Tok::Gt => CompareOp::Gt,
            Tok::Ge => CompareOp::Ge,
            _ => return None,
        };
        self.bump();
        Some(op)
    }

    fn predicate(&mut self, field: RawField, start: usize) -> Result<RawExpr, Located> {
        self.condition(Pos::Offset(start))?;
        let op_pos = self.pos();
        let (op, value) = if let Some(op) = self.compare_op() {
            (RawOp::Compare(op), Some(self.value()?))
        } else if self.at_keyword("in") {
            self.bump();
            (RawOp::In, Some(self.list()?))
        } else if self.at_keyword("not") {
            self.bump();
            if !self.at_keyword("in") {
                return Err(self.unexpected(format!("`in`{}", self.after())));
            }
            self.bump();
            (RawOp::NotIn, Some(self.list()?))
        } else if self.at_keyword("contains") {
            self.bump();
            (RawOp::Text(TextOp::Contains), Some(self.value()?))
        } else if self.at_keyword("starts_with") {
            self.bump();
            (RawOp::Text(TextOp::StartsWith), Some(self.value()?))
        } else if self.at_keyword("is") {
            self.bump();
            let negated = self.at_keyword("not");
            if negated {
                self.bump();
            }
            if !self.at_keyword("null") {
                return Err(self.unexpected(format!("`null`{}", self.after())));
            }
            self.bump();
            (
                if negated {
                    RawOp::IsNotNull
                } else {
                    RawOp::IsNull
                },
                None,
            )
        } else {
            return Err(self.unexpected(format!(
                "an operator after {} (=, !=, <, <=, >, >=, in, not in, contains, starts_with, is null or is not null)",
                quote_input(&field.path())
            )));
        };
        Ok(RawExpr::Predicate {
            field,
            op,
            op_pos,
            value,
        })
    }

    fn list(&mut self) -> Result<RawValue, Located> {
        let open = self.pos();
        if self.peek().tok != Tok::LBracket {
            return Err(self.unexpected(format!("a list such as [\"a\", \"b\"]{}", self.after())));
        }
        self.bump();
        if self.peek().tok == Tok::RBracket {
            return Err(Located::new(open, Problem::EmptyList));
        }
        let mut values = Vec::new();
        loop {
            if values.len() == MAX_LIST_LEN {
                return Err(Located::new(
                    self.pos(),
                    Problem::ListTooLong { max: MAX_LIST_LEN },
                ));
            }
            values.push(self.value()?);
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                    if self.peek().tok == Tok::RBracket {
                        self.bump();
                        break;
                    }
                }
                Tok::RBracket => {
                    self.bump();
                    break;
                }
                _ => return Err(self.unexpected(format!("`,` or `]`{}", self.after()))),
            }
        }
        Ok(RawValue {
            kind: RawValueKind::List(values),
            pos: open,
        })
    }

    fn value(&mut self) -> Result<RawValue, Located> {
        let token = self.peek().clone();
        let pos = Pos::Offset(token.start);
        let kind = match &token.tok {
            Tok::Str(text) => RawValueKind::String(text.clone()),
            Tok::Number(number) => RawValueKind::Number(number.clone()),
            Tok::DateTime(text) => RawValueKind::DateTime(text.clone()),
            Tok::Minus => {
                self.bump();
                let Tok::Number(number) = &self.peek().tok else {
                    return Err(self.unexpected(format!("a number{}", self.after())));
                };
                RawValueKind::Number(format!("-{number}"))
            }
            Tok::Word(word) => match word.to_ascii_lowercase().as_str() {
                "true" => RawValueKind::Boolean(true),
                "false" => RawValueKind::Boolean(false),
                "null" => return Err(Located::new(pos, Problem::NullLiteral)),
                "now" | "today" => {
                    return Ok(RawValue {
                        kind: RawValueKind::Relative(self.relative()?),
                        pos,
                    });
                }
                _ => {
                    return Err(Located::new(pos, Problem::BareWord { word: word.clone() }));
                }
            },
            Tok::Eq if self.index > 0 && self.tokens[self.index - 1].tok == Tok::Eq => {
                return Err(self.unexpected(
                    "a value after `=` (equality is written with a single `=`)".to_owned(),
                ));
            }
            Tok::Amount { .. } => {
                return Err(self.unexpected(format!(
                    "a value{} (a time amount goes after now or today: now - 3y)",
                    self.after()
                )));
            }
            _ => return Err(self.unexpected(format!("a value{}", self.after()))),
        };
        self.bump();
        Ok(RawValue { kind, pos })
    }

    /// `now` or `today`, optionally `+`/`-` an amount.
    fn relative(&mut self) -> Result<RelativeTime, Located> {
        let base = if self.at_keyword("today") {
            TimeBase::Today
        } else {
            TimeBase::Now
        };
        self.bump();
        let negative = match self.peek().tok {
            Tok::Plus => false,
            Tok::Minus => true,
            _ => {
                return Ok(RelativeTime {
                    base,
                    amount: 0,
                    unit: TimeUnit::Days,
                });
            }
        };
        self.bump();
        let token = self.peek().clone();
        let Tok::Amount { number, unit } = &token.tok else {
            return Err(self.unexpected(format!(
                "a time amount such as 3y, 18mo, 2w, 90d, 12h or 30min{}",
                self.after()
            )));
        };
        let pos = Pos::Offset(token.start);
        let amount = signed_amount(number, negative)
            .ok_or_else(|| self.unexpected("a whole number of time units, e.g. now - 3y".into()))?
            .map_err(|problem| Located::new(pos.clone(), problem))?;
        let unit = TimeUnit::from_suffix(unit)
            .ok_or_else(|| Located::new(pos, Problem::UnknownUnit { unit: unit.clone() }))?;
        self.bump();
        Ok(RelativeTime { base, amount, unit })
    }
}

/// The signed amount of a relative time: `None` when `number` is not a whole number,
/// an error when it does not fit.
pub(crate) fn signed_amount(number: &str, negative: bool) -> Option<Result<i64, Problem>> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let out_of_range = || Problem::OutOfRange {
        found: quote_input(number),
        limit: "a relative time's amount must fit in 64 bits",
    };
    let magnitude: i128 = match number.parse::<u64>() {
        Ok(magnitude) => i128::from(magnitude),
        Err(_) => return Some(Err(out_of_range())),
    };
    let signed = if negative { -magnitude } else { magnitude };
    Some(i64::try_from(signed).map_err(|_| out_of_range()))
}
