//! Splits the text form into tokens. Keywords are not distinguished here (they are words the
//! parser recognises case-insensitively where it expects them), so a field may share a name
//! with a keyword that cannot appear in its position.

use crate::error::{Located, Pos, Problem};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier or keyword: `[A-Za-z_][A-Za-z0-9_]*`.
    Word(String),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// `12`, `1234.50` (no sign: `-` is its own token).
    Number(String),
    /// A number directly followed by letters: `3y`, `18mo`, `1.5d` (checked by the parser).
    Amount {
        number: String,
        unit: String,
    },
    /// A bare date or timestamp: four digits, `-`, a digit, and then the characters a date
    /// or RFC 3339 timestamp is made of.
    DateTime(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    End,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offsets into the text.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

struct Lexer<'t> {
    text: &'t str,
    chars: Vec<(usize, char)>,
    index: usize,
}

impl Lexer<'_> {
    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.index + ahead).map(|&(_, c)| c)
    }

    fn offset(&self) -> usize {
        self.chars
            .get(self.index)
            .map_or(self.text.len(), |&(offset, _)| offset)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek_at(0).is_some_and(&keep) {
            self.index += 1;
        }
    }

    fn error(&self, offset: usize, problem: Problem) -> Located {
        Located::new(Pos::Offset(offset), problem)
    }

    fn string(&mut self, start: usize) -> Result<Tok, Located> {
        self.index += 1; // the opening quote
        let mut value = String::new();
        loop {
            let Some(c) = self.peek_at(0) else {
                return Err(self.error(start, Problem::UnterminatedString));
            };
            let here = self.offset();
            self.index += 1;
            match c {
                '"' => return Ok(Tok::Str(value)),
                '\\' => value.push(self.escape(here)?),
                other => value.push(other),
            }
        }
    }

    /// The character an escape stands for; `backslash` is the escape's offset.
    fn escape(&mut self, backslash: usize) -> Result<char, Located> {
        let invalid = |lexer: &Self| {
            let escape = &lexer.text[backslash..lexer.offset()];
            lexer.error(
                backslash,
                Problem::InvalidEscape {
                    escape: escape.to_owned(),
                },
            )
        };
        let Some(c) = self.peek_at(0) else {
            return Err(self.error(backslash, Problem::UnterminatedString));
        };
        self.index += 1;
        match c {
            '"' => Ok('"'),
            '\\' => Ok('\\'),
            'n' => Ok('\n'),
            't' => Ok('\t'),
            'u' => {
                if self.peek_at(0) != Some('{') {
                    return Err(invalid(self));
                }
                self.index += 1;
                let digits_start = self.offset();
                self.take_while(|c| c.is_ascii_hexdigit());
                let digits = &self.text[digits_start..self.offset()];
                if self.peek_at(0) != Some('}') || digits.is_empty() || digits.len() > 6 {
                    return Err(invalid(self));
                }
                self.index += 1;
                u32::from_str_radix(digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| invalid(self))
            }
            _ => Err(invalid(self)),
        }
    }

    fn number(&mut self) -> Tok {
        let start = self.offset();
        self.take_while(|c| c.is_ascii_digit());
        let digit_count = self.offset() - start;
        let looks_like_date = digit_count == 4
            && self.peek_at(0) == Some('-')
            && self.peek_at(1).is_some_and(|c| c.is_ascii_digit());
        if looks_like_date {
            self.take_while(|c| c.is_ascii_digit() || "-:.+TZtz".contains(c));
            return Tok::DateTime(self.text[start..self.offset()].to_owned());
        }
        if self.peek_at(0) == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.index += 1;
            self.take_while(|c| c.is_ascii_digit());
        }
        let number = self.text[start..self.offset()].to_owned();
        if self
            .peek_at(0)
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            let unit_start = self.offset();
            self.take_while(is_word_char);
            let unit = self.text[unit_start..self.offset()].to_owned();
            return Tok::Amount { number, unit };
        }
        Tok::Number(number)
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The tokens of `text`, ending with [`Tok::End`].
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, Located> {
    let mut lexer = Lexer {
        text,
        chars: text.char_indices().collect(),
        index: 0,
    };
    let mut tokens = Vec::new();
    while let Some(c) = lexer.peek_at(0) {
        let start = lexer.offset();
        if c.is_whitespace() {
            lexer.index += 1;
            continue;
        }
        let single = |tok: Tok, lexer: &mut Lexer<'_>| {
            lexer.index += 1;
            tok
        };
        let tok = match c {
            '"' => lexer.string(start)?,
            '0'..='9' => lexer.number(),
            c if c.is_ascii_alphabetic() || c == '_' => {
                lexer.take_while(is_word_char);
                Tok::Word(text[start..lexer.offset()].to_owned())
            }
            '(' => single(Tok::LParen, &mut lexer),
            ')' => single(Tok::RParen, &mut lexer),
            '[' => single(Tok::LBracket, &mut lexer),
            ']' => single(Tok::RBracket, &mut lexer),
            ',' => single(Tok::Comma, &mut lexer),
            '.' => single(Tok::Dot, &mut lexer),
            '+' => single(Tok::Plus, &mut lexer),
            '-' => single(Tok::Minus, &mut lexer),
            '=' => single(Tok::Eq, &mut lexer),
            '<' | '>' | '!' => {
                lexer.index += 1;
                let with_equals = lexer.peek_at(0) == Some('=');
                if with_equals {
                    lexer.index += 1;
                }
                match (c, with_equals) {
                    ('<', false) => Tok::Lt,
                    ('<', true) => Tok::Le,
                    ('>', false) => Tok::Gt,
                    ('>', true) => Tok::Ge,
                    ('!', true) => Tok::Ne,
                    _ => {
                        return Err(lexer.error(
                            start,
                            Problem::UnexpectedCharacter {
                                found: '!',
                                hint: "; use `!=` or `not`",
                            },
                        ));
                    }
                }
            }
            other => {
                let hint = match other {
                    '&' => "; use `and`",
                    '|' => "; use `or`",
                    '\'' | '\u{201c}' | '\u{201d}' => "; strings are written in double quotes",
                    _ => "",
                };
                return Err(lexer.error(start, Problem::UnexpectedCharacter { found: other, hint }));
            }
        };
        tokens.push(Token {
            tok,
            start,
            end: lexer.offset(),
        });
    }
    tokens.push(Token {
        tok: Tok::End,
        start: text.len(),
        end: text.len(),
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unwrap_used)]
    fn toks(text: &str) -> Vec<Tok> {
        lex(text)
            .unwrap()
            .into_iter()
            .map(|token| token.tok)
            .collect()
    }

    #[test]
    fn dates_amounts_and_numbers_are_told_apart() {
        assert_eq!(
            toks("now-3y 2024-05-31 12.50 2024 18mo"),
            vec![
                Tok::Word("now".into()),
                Tok::Minus,
                Tok::Amount {
                    number: "3".into(),
                    unit: "y".into()
                },
                Tok::DateTime("2024-05-31".into()),
                Tok::Number("12.50".into()),
                Tok::Number("2024".into()),
                Tok::Amount {
                    number: "18".into(),
                    unit: "mo".into()
                },
                Tok::End,
            ]
        );
        assert_eq!(
            toks("2024-05-31T14:30:00+02:00)"),
            vec![
                Tok::DateTime("2024-05-31T14:30:00+02:00".into()),
                Tok::RParen,
                Tok::End
            ]
        );
    }

    fn problem_of(text: &str) -> Option<Problem> {
        lex(text).err().map(|error| *error.problem)
    }

    #[test]
    fn strings_resolve_escapes() {
        assert_eq!(
            toks(r#""a\"b\\c\n\t\u{e9}""#),
            vec![Tok::Str("a\"b\\c\n\t\u{e9}".into()), Tok::End]
        );
        assert!(matches!(
            problem_of(r#""\q""#),
            Some(Problem::InvalidEscape { .. })
        ));
        assert!(matches!(
            problem_of(r#""\u{d800}""#),
            Some(Problem::InvalidEscape { .. })
        ));
        assert_eq!(problem_of(r#""abc"#), Some(Problem::UnterminatedString));
    }
}
